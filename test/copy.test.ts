// lifeboat copy between local repositories: resuming after the copying process is killed.
// (Copies to and from S3 are tested in s3.test.ts.)
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliOk, MAIN, newRepo, tempDir } from './helpers.ts';
import { waitFor } from './services/daemon.ts';

const packsIn = (repo: string) => readdirSync(join(repo, 'data'), { recursive: true }).filter((f) => /[0-9a-f]{64}$/.test(String(f))).length;

test('copy killed after some packs arrived: the next copy takes them in instead of sending them again', async (t) => {
  const from = await newRepo(t);
  const to = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(source);
  for (let i = 0; i < 4; i++) writeFileSync(join(source, `f${i}.bin`), randomBytes(16 << 20));
  await cliOk(['backup', '--repo', from, source]);
  // Slowed to 16 MiB/s so that the kill lands between packs.
  const child = spawn(process.execPath, [MAIN, 'copy', '--from-repo', from, '--repo', to, '--limit-upload', '16384'], {
    env: { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse', LIFEBOAT_FROM_PASSWORD: 'correct horse' },
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  await waitFor('a first pack in the destination', () => packsIn(to) > 0, 60_000);
  child.kill('SIGKILL');
  await exited;
  const landed = packsIn(to);
  assert.ok(landed >= 1 && landed < 4, `killed part-way (${landed} packs had landed)`);
  assert.equal(readdirSync(join(to, 'snapshots')).length, 0, 'no snapshot before its data');
  await cliOk(['check', '--repo', to]);

  const resumed = JSON.parse((await cliOk(['copy', '--json', '--from-repo', from, '--repo', to], { env: { LIFEBOAT_FROM_PASSWORD: 'correct horse' } })).stdout);
  assert.equal(resumed.copied.length, 1);
  assert.equal(resumed.packsResumed, landed);
  assert.ok(resumed.bytesAdded <= 64 * 2 ** 20 - landed * 15 * 2 ** 20, `the ${landed} landed pack(s) were not sent again (${resumed.bytesAdded} bytes sent)`);
  await cliOk(['check', '--read-data', '--repo', to]);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', to, 'latest', '--target', target, '--verify']);
  for (let i = 0; i < 4; i++) assert.deepEqual(readFileSync(join(target, source, `f${i}.bin`)), readFileSync(join(source, `f${i}.bin`)));
  // The taken-in packs are in this copy's index now: a third copy finds nothing to do.
  const again = JSON.parse((await cliOk(['copy', '--json', '--from-repo', from, '--repo', to], { env: { LIFEBOAT_FROM_PASSWORD: 'correct horse' } })).stdout);
  assert.deepEqual([again.copied.length, again.packsResumed, again.blobsAdded], [0, 0, 0]);
});
