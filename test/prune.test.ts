// prune: frees what forgotten snapshots used, rewrites half-empty packs, and leaves a repository
// that checks clean and restores exactly; locks keep it from running under a backup; three
// backups and a prune at once lose nothing; kill -9 during prune is finished by the next prune.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Repository } from '../src/repo/repository.ts';
import { LocalBackend } from '../src/storage/local.ts';
import { cli, cliOk, MAIN, newRepo, tempDir } from './helpers.ts';

const ENV = { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' };

function tree(root: string, files: number, bytes: number): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(root, `f${i}.bin`), randomBytes(bytes));
}

async function restoresExactly(repo: string, snapshot: string, source: string, target: string): Promise<void> {
  await cliOk(['restore', '--repo', repo, snapshot, '--target', target]);
  for (const name of ['f0.bin', 'f3.bin']) assert.deepEqual(readFileSync(join(target, source, name)), readFileSync(join(source, name)), `${snapshot}: ${name}`);
}

test('prune after forget: unused data goes, half-empty packs are rewritten, the rest restores exactly', async (t) => {
  const repo = await newRepo(t);
  const src = join(tempDir(t), 'src');
  tree(src, 6, 3 << 20);
  await cliOk(['backup', '--repo', repo, src]);
  for (const i of [1, 2, 4]) writeFileSync(join(src, `f${i}.bin`), randomBytes(3 << 20));
  await cliOk(['backup', '--repo', repo, src]);
  await cliOk(['forget', '--repo', repo, '--keep-last', '1']);
  const dry = JSON.parse((await cliOk(['prune', '--repo', repo, '--dry-run', '--json', '--max-unused', '0%'])).stdout);
  assert.ok(dry.bytesUnused >= 9 << 20, `the replaced files are unused (${dry.bytesUnused})`);
  assert.ok(dry.packsRepacked > 0, 'packs that mix used and unused data are rewritten at 0%');
  const done = JSON.parse((await cliOk(['prune', '--repo', repo, '--json', '--max-unused', '0%'])).stdout);
  assert.equal(done.bytesFreed, dry.bytesFreed);
  const again = JSON.parse((await cliOk(['prune', '--repo', repo, '--dry-run', '--json', '--max-unused', '0%'])).stdout);
  assert.deepEqual([again.blobsUnused, again.packsDeleted, again.packsRepacked, again.packsUnindexed], [0, 0, 0, 0], 'nothing left to do');
  await cliOk(['check', '--read-data', '--repo', repo]);
  await restoresExactly(repo, 'latest', src, tempDir(t));
});

test('locks: a live exclusive lock stops a backup (exit 11, naming the holder); a dead process\'s lock is stale and unlock removes it', async (t) => {
  const repo = await newRepo(t);
  const src = join(tempDir(t), 'src');
  tree(src, 4, 1 << 20);
  const held = await Repository.open(new LocalBackend(repo), 'correct horse', { loadIndex: false, lock: { exclusive: true, purpose: 'prune' } });
  const refused = await cli(['backup', '--repo', repo, src]);
  assert.equal(refused.code, 11, refused.stderr);
  assert.match(refused.stderr, new RegExp(`locked exclusively by prune \\(pid ${process.pid}`));
  await held.close();
  // A backup killed with SIGKILL leaves its lock behind; its pid is gone, so nobody waits for it.
  const child = spawn(process.execPath, [MAIN, 'backup', '--repo', repo, '--limit-upload', '1024', src], { env: ENV, stdio: 'ignore' });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const list = (await cliOk(['unlock', '--list', '--repo', repo])).stdout;
  assert.match(list, /shared +backup .*STALE/);
  await cliOk(['prune', '--repo', repo]);
  const removed = JSON.parse((await cliOk(['unlock', '--json', '--repo', repo])).stdout);
  assert.equal(removed.removed.length, 1);
  await cliOk(['check', '--repo', repo]);
});

test('three backups of different trees and a prune at the same time: every snapshot restores exactly', async (t) => {
  const repo = await newRepo(t);
  const sources = [0, 1, 2].map((i) => join(tempDir(t), `host${i}`));
  for (const s of sources) tree(s, 5, 2 << 20);
  await cliOk(['backup', '--repo', repo, sources[0]]); // something for prune to look at
  writeFileSync(join(sources[0], 'f1.bin'), randomBytes(2 << 20));
  const runs = [
    ...sources.map((s, i) => cliOk(['backup', '--repo', repo, '--host', `host${i}`, '--retry-lock', '120', s])),
    cliOk(['forget', '--repo', repo, '--keep-last', '1', '--retry-lock', '120', '--prune']),
  ];
  await Promise.all(runs);
  await cliOk(['check', '--read-data', '--repo', repo]);
  const snaps = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout) as Array<{ id: string; paths: string[] }>;
  for (const s of sources) {
    const mine = snaps.filter((x) => x.paths.includes(s));
    assert.ok(mine.length >= 1, `a snapshot of ${s}`);
    for (const snap of mine.slice(-1)) await restoresExactly(repo, snap.id, s, tempDir(t));
  }
});

test('stats: restore sizes per snapshot, storage used, deduplication and compression ratios', async (t) => {
  const repo = await newRepo(t);
  const src = join(tempDir(t), 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'random.bin'), randomBytes(2 << 20));
  writeFileSync(join(src, 'text.txt'), 'the same line again\n'.repeat(100_000));
  await cliOk(['backup', '--repo', repo, src]);
  await cliOk(['backup', '--repo', repo, '--force', src]);
  const s = JSON.parse((await cliOk(['stats', '--repo', repo, '--json'])).stdout);
  const size = (2 << 20) + 2_000_000;
  assert.deepEqual(s.snapshots.map((x: { restoreBytes: number; files: number }) => [x.restoreBytes, x.files]), [[size, 2], [size, 2]]);
  assert.equal(s.restoreBytes, 2 * size);
  assert.equal(s.uniqueRawBytes, size);
  assert.ok(Math.abs(s.deduplicationRatio - 2) < 1e-9, 'two identical snapshots: 2x');
  assert.ok(s.compressionRatio > 1.5, `the text compresses (${s.compressionRatio})`);
  assert.ok(s.storageBytes > s.uniqueStoredBytes && s.storageBytes < s.uniqueStoredBytes + 100_000);
  assert.equal(s.blobs.tree >= 2, true);
});
