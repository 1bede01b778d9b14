// Scale of the file walk (issue 5, item 3): a tree of N small files, by default 1,000,000 in 1,000
// folders, each file 40 bytes to 2 KiB with its own content (so N blobs in the index). It is
// backed up, backed up again with nothing changed, and again after 1% of the files changed, each
// command under GNU time for wall time and peak RSS; restic does the same beside it when installed.
// Every file is read just before each command, for each tool alike: this VM reclaims cold page
// cache on its own (DAMON), and the first tool to run otherwise read a million files from disk
// while the second found them in memory.
// Usage: npx node bench/files-scale.ts [N] [WORK]
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gnuTimeOk } from './gnu-time.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const work = process.argv[3] ?? '/var/tmp/lifeboat-files-scale';
const PER_FOLDER = 1000;
const LIFEBOAT = new URL('../bin/lifeboat.mjs', import.meta.url).pathname;
const source = join(work, 'src');
const env = { ...process.env, LIFEBOAT_PASSWORD: 'bench', RESTIC_PASSWORD: 'bench' };

interface Measured {
  tool: string;
  phase: string;
  seconds: number;
  cpuSeconds: number;
  peakMiB: number;
}

function timed(tool: string, phase: string, command: string[]): Measured {
  const t = gnuTimeOk(command, env);
  return { tool, phase, seconds: t.wallSeconds, cpuSeconds: t.userSeconds + t.sysSeconds, peakMiB: t.peakRssKiB / 1024 };
}

function content(i: number, round: number): string {
  const line = `file ${i} round ${round} ${(i * 2654435761) % 4294967296}\n`;
  return line.repeat(1 + (i % 50));
}

function generate(): void {
  if (existsSync(join(source, '.complete'))) return;
  rmSync(source, { recursive: true, force: true });
  for (let i = 0; i < n; i++) {
    const folder = join(source, `d${Math.floor(i / PER_FOLDER)}`);
    if (i % PER_FOLDER === 0) mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `f${i}.txt`), content(i, 0));
  }
  writeFileSync(join(source, '.complete'), '');
}

function warmCache(): void {
  spawnSync('sh', ['-c', `find "${source}" -type f -print0 | xargs -0 -P 2 -n 2000 cat > /dev/null`], { stdio: 'ignore' });
}

/** Every 100th file gets a line appended: 1% of the files change. */
function changeOnePercent(): void {
  for (let i = 0; i < n; i += 100) appendFileSync(join(source, `d${Math.floor(i / PER_FOLDER)}`, `f${i}.txt`), content(i, 1));
}

const tools: Record<string, { init: (repo: string) => string[]; backup: (repo: string) => string[] }> = {
  lifeboat: {
    init: (repo) => [process.execPath, LIFEBOAT, 'init', '-q', '--repo', repo],
    backup: (repo) => [process.execPath, LIFEBOAT, 'backup', '-q', '--repo', repo, source],
  },
  restic: {
    init: (repo) => ['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'init', '--repository-version', '2'],
    backup: (repo) => ['restic', '-q', '-r', repo, '--cache-dir', `${repo}.cache`, 'backup', '--host', 'bench', source],
  },
};
const wanted = process.env.TOOLS?.split(/\s+/).filter(Boolean) ?? Object.keys(tools); // e.g. TOOLS=lifeboat
const present = Object.keys(tools).filter((t) => wanted.includes(t) && (t === 'lifeboat' || spawnSync('sh', ['-c', `command -v ${t}`]).status === 0));

mkdirSync(work, { recursive: true });
const started = performance.now();
generate();
console.log(`# ${n} files in ${source} (generated or reused in ${((performance.now() - started) / 1000).toFixed(0)} s)`);
const results: Measured[] = [];
for (const tool of present) {
  const repo = join(work, `${tool}-repo`);
  rmSync(repo, { recursive: true, force: true });
  rmSync(`${repo}.cache`, { recursive: true, force: true });
  timed(tool, 'init', tools[tool].init(repo));
}
for (const phase of ['full backup', 'no-change re-backup', 'after 1% changed']) {
  if (phase === 'after 1% changed') changeOnePercent();
  for (const tool of present) {
    warmCache();
    const m = timed(tool, phase, tools[tool].backup(join(work, `${tool}-repo`)));
    results.push(m);
    console.log(JSON.stringify({ ...m, files: n }));
  }
}
console.log('\n| phase | tool | wall s | CPU s | peak RSS MiB | time vs restic |\n|---|---|---:|---:|---:|---:|');
for (const m of results) {
  const peer = results.find((r) => r.tool === 'restic' && r.phase === m.phase);
  const ratio = m.tool !== 'restic' && peer ? (m.seconds / peer.seconds).toFixed(2) : '';
  console.log(`| ${m.phase} | ${m.tool} | ${m.seconds.toFixed(2)} | ${m.cpuSeconds.toFixed(1)} | ${m.peakMiB.toFixed(0)} | ${ratio} |`);
}
