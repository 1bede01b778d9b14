import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliOk, IS_ROOT, newRepo, tempDir } from './helpers.ts';
import { buildFixture, describeTree } from './tree-fixture.ts';

test('restores every kind of entry exactly (--restore-privileged): content, modes, owners, ns mtimes, links, sparse files, xattrs, odd names', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  const before = describeTree(source);
  assert.ok(before.get('/sparse.img')!.sparse, 'the fixture sparse file is sparse');

  const backup = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.equal(backup.incomplete, false);
  const target = tempDir(t);
  const restore = await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--verify', '--json', '--restore-privileged']);
  const result = JSON.parse(restore.stdout);
  assert.equal(result.partial, false);
  assert.ok(result.verified > 5);

  const after = describeTree(join(target, source));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  for (const [path, facts] of before) {
    const got = after.get(path)!;
    assert.deepEqual({ ...got, uid: IS_ROOT ? got.uid : facts.uid, gid: IS_ROOT ? got.gid : facts.gid }, facts, `entry ${path} differs`);
  }
  assert.ok(lstatSync(join(target, source, 'sparse.img')).blocks * 512 < 1024 * 1024, 'the sparse file was restored with holes');
  if (IS_ROOT) {
    assert.equal(after.get('/a-chardev')!.type, 'chardev');
    assert.equal(after.get('/private')!.uid, 1234);
    assert.match(after.get('/docs/report.txt')!.xattrs, /system\.posix_acl_access/);
  }
});

test('restores one folder, or one file, into a target directory', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  await cliOk(['backup', '--repo', repo, source]);
  const folderTarget = tempDir(t);
  await cliOk(['restore', '--repo', repo, `latest:${source}/docs`, '--target', folderTarget]);
  const folder = describeTree(folderTarget);
  assert.equal(folder.get('/report.txt')!.content, describeTree(join(source, 'docs')).get('/report.txt')!.content);
  assert.ok(folder.has('/deep/er/still/big.bin'));
  assert.ok(!folder.has('/sparse.img'));

  const fileTarget = tempDir(t);
  await cliOk(['restore', '--repo', repo, `latest:${source}/docs/report.txt`, '--target', fileTarget]);
  assert.deepEqual([...describeTree(fileTarget).keys()].sort(), ['/', '/report.txt']);
});

test('a restore syncs nothing: its lock goes without the fsync that waited for its writes to reach the device (strace)', async (t) => {
  const strace = spawnSync('strace', ['-V']);
  assert.equal(strace.status, 0, 'strace is needed for this test (.ci/run installs it)');
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  await cliOk(['backup', '--repo', repo, source]);
  const log = join(tempDir(t), 'strace.log');
  await cliOk(['restore', '--repo', repo, 'latest', '--target', tempDir(t)], { wrapper: ['strace', '-f', '-qq', '-y', '-e', 'trace=fsync,fdatasync,unlink,unlinkat', '-o', log] });
  const calls = readFileSync(log, 'utf8').split('\n');
  const lockRemoved = calls.findIndex((l) => /unlink(at)?\(.*\/locks\/[0-9a-f]{64}"/.test(l));
  assert.ok(lockRemoved >= 0, 'the lock file was removed');
  assert.deepEqual(calls.slice(lockRemoved).filter((l) => /f(data)?sync\(/.test(l)), [], 'nothing is synced after the lock goes');
  assert.ok(calls.slice(0, lockRemoved).some((l) => /fsync\(\d+<[^>]*\/locks>/.test(l)), 'the lock file\'s creation is still synced (its folder)');
});

test('restore --include and --exclude choose what comes back', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  await cliOk(['backup', '--repo', repo, source]);
  const onlyTxt = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', onlyTxt, '--include', '*.txt']);
  const files = [...describeTree(join(onlyTxt, source)).entries()].filter(([, f]) => f.type === 'file').map(([p]) => p);
  assert.ok(files.length >= 3 && files.every((p) => p.endsWith('.txt')), files.join(' '));
  const noDocs = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', noDocs, '--exclude', 'docs/']);
  const kept = describeTree(join(noDocs, source));
  assert.ok(!kept.has('/docs') && kept.has('/sparse.img'));
});

test('existing files: skip-identical leaves them, overwrite replaces them, fail refuses', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  await cliOk(['backup', '--repo', repo, source]);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target]);
  const again = JSON.parse((await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--json'])).stdout);
  assert.ok(again.skippedIdentical >= 8, `skipped ${again.skippedIdentical}`);
  const { writeFileSync, readFileSync } = await import('node:fs');
  writeFileSync(join(target, source, 'docs/report.txt'), 'changed locally');
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--existing', 'overwrite']);
  assert.equal(readFileSync(join(target, source, 'docs/report.txt'), 'utf8'), readFileSync(join(source, 'docs/report.txt'), 'utf8'));
  const refused = await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--existing', 'fail'], { expect: 19 });
  assert.match(refused.stderr, /already exists/);
});

test('a big file whose chunks repeat is restored byte for byte: one blob written at several places, the pieces in one write each', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  // Content-defined chunks cut a repeated block the same way each time it comes round. More than a
  // run's 8 MiB of stored bytes, so that a run's places in the file have gaps between them.
  const block = randomBytes(4 * 1024 * 1024);
  const content = Buffer.concat([randomBytes(1000), block, block, randomBytes(9 * 1024 * 1024 + 1), block]);
  writeFileSync(join(source, 'repeats.bin'), content);
  const backup = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.ok(backup.bytesAdded < content.length - 1024 * 1024, `the repeats were stored once (${backup.bytesAdded} of ${content.length} bytes added)`);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.ok(readFileSync(join(target, source, 'repeats.bin')).equals(content));
});
