// npm's install step for the native addon. Plain JavaScript (runs on any Node). Builds against
// the headers shipped with the pinned Node package, so node-gyp never downloads headers and the
// build does not depend on the machine's npm configuration.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const base = join('node_modules', 'node', 'node_modules');
const platformDir = existsSync(base) ? readdirSync(base).find((n) => n === `node-${process.platform}-${process.arch}`) : undefined;
const args = ['rebuild'];
if (platformDir && existsSync(join(base, platformDir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${join(process.cwd(), base, platformDir)}`);
const result = spawnSync('node-gyp', args, { stdio: 'inherit' });
if (result.error) {
  // npm puts its own node-gyp on PATH for install scripts; run by hand, there may be none.
  console.error(`lifeboat: cannot run node-gyp (${result.error.message}); build the addon with "npm rebuild"`);
}
process.exit(result.status ?? 1);
