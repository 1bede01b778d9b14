// Root running Lifeboat with a HOME or XDG_CACHE_HOME that another user owns (sudo -E, su -m, a
// cron job or a unit with HOME=): nothing that user plants there is run, followed or used.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, IS_ROOT, newRepo, ROOT, tempDir } from './helpers.ts';

const NOBODY = 65534;

/** A folder tree as another (unprivileged) user would own it. */
function othersFolder(path: string): string {
  mkdirSync(path, { recursive: true });
  chownSync(path, NOBODY, NOBODY);
  return path;
}

test('the compile cache is used only in a folder nobody else can write to', { skip: !IS_ROOT && 'needs root to make folders of another user' }, (t) => {
  const base = tempDir(t);
  chmodSync(base, 0o755);
  const theirs = othersFolder(join(base, 'theirs'));
  execFileSync(join(ROOT, 'bin', 'lifeboat'), ['--version'], { env: { ...process.env, XDG_CACHE_HOME: theirs, NODE_COMPILE_CACHE: undefined } });
  assert.deepEqual(readdirSync(theirs), [], 'nothing cached (and nothing read) in another user\'s folder');
  const mine = join(base, 'mine');
  execFileSync(join(ROOT, 'bin', 'lifeboat'), ['--version'], { env: { ...process.env, XDG_CACHE_HOME: mine, NODE_COMPILE_CACHE: undefined } });
  assert.ok(readdirSync(join(mine, 'lifeboat', 'node-compile-cache')).length > 0, 'cached in a folder of its own');
});

test('a folder cache in another user\'s folder is not used: planted links delete and overwrite nothing', { skip: !IS_ROOT && 'needs root' }, async (t) => {
  const repo = await newRepo(t);
  const base = tempDir(t);
  chmodSync(base, 0o755);
  const precious = join(base, 'precious');
  mkdirSync(precious, { mode: 0o700 });
  writeFileSync(join(precious, 'old-file'), 'keep me');
  utimesSync(join(precious, 'old-file'), new Date('2020-01-01'), new Date('2020-01-01'));
  const cache = othersFolder(join(base, 'cache'));
  othersFolder(join(cache, 'lifeboat'));
  symlinkSync(precious, join(cache, 'lifeboat', 'folders')); // "remove files unused for 60 days" there
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'a.txt'), 'a');
  const r = await cliOk(['backup', '--repo', repo, source], { env: { XDG_CACHE_HOME: cache } });
  assert.match(r.stderr, /no folder cache .*belongs to another user/);
  assert.equal(readFileSync(join(precious, 'old-file'), 'utf8'), 'keep me');
  assert.deepEqual(readdirSync(precious), ['old-file']);
});

test('a default password file that another user could have planted or read is refused', { skip: !IS_ROOT && 'needs root' }, async (t) => {
  const home = tempDir(t);
  chmodSync(home, 0o755);
  const config = join(home, 'config', 'lifeboat');
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_DATA_HOME: join(home, 'data'), LIFEBOAT_PASSWORD: undefined };
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  await cliOk(['backup', source], { env }); // creates the repository and its password file
  chmodSync(join(config, 'repository.key'), 0o644);
  const open = await cli(['snapshots'], { env });
  assert.equal(open.code, 2);
  assert.match(open.stderr, /is not used: other users can read or change it \(mode 644\)/);
  chmodSync(join(config, 'repository.key'), 0o600);
  chownSync(join(config, 'repository.key'), NOBODY, NOBODY);
  assert.match((await cli(['snapshots'], { env })).stderr, /belongs to another user/);
  chownSync(join(config, 'repository.key'), 0, 0);
  chownSync(config, NOBODY, NOBODY);
  assert.match((await cli(['snapshots'], { env })).stderr, /belongs to another user/);
  chownSync(config, 0, 0);
  await cliOk(['snapshots'], { env });
  assert.ok(existsSync(join(config, 'repository.key')));
});
