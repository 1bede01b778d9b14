// Crash safety by write ordering: kill -9 a backup at random moments; every time the repository
// must still pass check, and the next backup must succeed and restore exactly.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliOk, MAIN, newRepo, tempDir } from './helpers.ts';

test('kill -9 in the middle of backups never leaves a repository that fails check', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  for (let d = 0; d < 6; d++) {
    mkdirSync(join(source, `dir${d}`), { recursive: true });
    for (let f = 0; f < 4; f++) writeFileSync(join(source, `dir${d}`, `f${f}.bin`), randomBytes(1 << 20));
  }
  const kills = [150, 300, 450, 600, 800, 1000];
  for (const afterMs of kills) {
    const child = spawn(process.execPath, [MAIN, 'backup', '--force', '--repo', repo, source], {
      env: { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, afterMs));
    child.kill('SIGKILL');
    await exited;
    await cliOk(['check', '--repo', repo, '--read-data']);
    writeFileSync(join(source, 'dir0', `changed-${afterMs}`), randomBytes(1000));
  }
  const result = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.equal(result.incomplete, false);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--verify']);
  assert.deepEqual(readFileSync(join(target, source, 'dir5', 'f3.bin')), readFileSync(join(source, 'dir5', 'f3.bin')));
  await cliOk(['check', '--repo', repo, '--read-data']);
});

test('check --read-data-subset reads a group or a percentage of the packs', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(source);
  for (let i = 0; i < 3; i++) writeFileSync(join(source, `f${i}`), randomBytes(9 << 20));
  await cliOk(['backup', '--repo', repo, source]);
  const all = JSON.parse((await cliOk(['check', '--repo', repo, '--read-data', '--json'])).stdout);
  let total = 0;
  for (let n = 1; n <= 3; n++) total += JSON.parse((await cliOk(['check', '--repo', repo, '--read-data-subset', `${n}/3`, '--json'])).stdout).stats.packsRead;
  assert.equal(total, all.stats.packsRead, 'the groups partition the packs');
  const some = JSON.parse((await cliOk(['check', '--repo', repo, '--read-data-subset', '50%', '--json'])).stdout);
  assert.equal(some.stats.packsRead, Math.ceil(all.stats.packsRead / 2));
  const bad = await cliOk(['check', '--repo', repo, '--read-data-subset', '4/3'], { expect: 2 });
  assert.match(bad.stderr, /must be N\/T/);
});
