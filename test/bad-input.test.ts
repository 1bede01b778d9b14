// Every way the issue lists of handing Lifeboat bad input: each gets a clear message and its exit
// code, and none leaves the repository unreadable.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, flipByte, newRepo, repoFiles as files, tempDir } from './helpers.ts';
import { canMount, mountTmpfs, resizeTmpfs } from './mounts.ts';

async function repoWithData(t: Parameters<typeof newRepo>[0]): Promise<{ repo: string; source: string }> {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'sub'), { recursive: true });
  writeFileSync(join(source, 'a.txt'), 'alpha\n'.repeat(1000));
  writeFileSync(join(source, 'sub', 'b.bin'), randomBytes(50_000));
  await cliOk(['backup', '--repo', repo, source]);
  return { repo, source };
}

/** The data pack holding b.bin (data packs are the ones `cat pack` shows with data blobs). */
async function dataPack(repo: string, among = files(repo, 'packs')): Promise<string> {
  for (const p of among) {
    const header = JSON.parse((await cliOk(['cat', '--repo', repo, 'pack', p.split('/').pop()!])).stdout);
    // b.bin is one blob of 50,000 random bytes; a.txt's blob may be in another worker's pack.
    if (header.blobs.some((b: { type: string; rawLength: number }) => b.type === 'data' && b.rawLength === 50_000)) return p;
  }
  throw new Error('no data pack');
}

test('wrong password: exit 12 and a clear message', async (t) => {
  const { repo } = await repoWithData(t);
  const r = await cli(['snapshots', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'wrong' } });
  assert.equal(r.code, 12);
  assert.match(r.stderr, /wrong password/);
});

test('not a repository: exit 10', async (t) => {
  const r = await cli(['snapshots', '--repo', tempDir(t)]);
  assert.equal(r.code, 10);
  assert.match(r.stderr, /no config file found/);
});

test('a repository of a newer format version is refused with exit 14', async (t) => {
  const { repo } = await repoWithData(t);
  const config = readFileSync(join(repo, 'config'));
  config.writeUInt16BE(2, 4);
  const body = config.subarray(0, config.length - 32);
  createHash('sha256').update(body).digest().copy(config, config.length - 32);
  chmodSync(join(repo, 'config'), 0o644);
  writeFileSync(join(repo, 'config'), config);
  const r = await cli(['snapshots', '--repo', repo]);
  assert.equal(r.code, 14);
  assert.match(r.stderr, /format version 2; this Lifeboat reads version 1/);
});

test('a corrupted config is reported as damage (exit 15), not as a wrong password', async (t) => {
  const { repo } = await repoWithData(t);
  flipByte(join(repo, 'config'), 50);
  const r = await cli(['snapshots', '--repo', repo]);
  assert.equal(r.code, 15);
  assert.match(r.stderr, /config file is damaged/);
});

test('a missing pack: check names the files it touches, restore brings back the rest (exit 3)', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'sub'), { recursive: true });
  writeFileSync(join(source, 'a.txt'), 'alpha\n'.repeat(1000));
  await cliOk(['backup', '--repo', repo, source]);
  const before = new Set(files(repo, 'packs'));
  writeFileSync(join(source, 'sub', 'b.bin'), randomBytes(50_000));
  await cliOk(['backup', '--repo', repo, source]);
  const added = files(repo, 'packs').filter((p) => !before.has(p));
  rmSync(await dataPack(repo, added));
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /missing/);
  assert.match(check.stdout, /sub\/b\.bin/);
  const target = tempDir(t);
  const r = await cli(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /b\.bin.*missing/);
  assert.equal(readFileSync(join(target, source, 'a.txt'), 'utf8').length, 6000, 'the file in another pack was restored');
  assert.equal((await cli(['snapshots', '--repo', repo])).code, 0);
});

test('a truncated pack is found by check without reading data', async (t) => {
  const { repo } = await repoWithData(t);
  const pack = await dataPack(repo);
  truncateSync(pack, 1000);
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /truncated/);
  assert.match(check.stdout, /b\.bin/);
});

test('one flipped byte in a pack: check --read-data names the blob and the file', async (t) => {
  const { repo } = await repoWithData(t);
  flipByte(await dataPack(repo), 100);
  assert.equal((await cli(['check', '--repo', repo])).code, 0, 'structure alone does not read data');
  const check = await cli(['check', '--repo', repo, '--read-data']);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /hash mismatch/);
  assert.match(check.stdout, /blob [0-9a-f]+ is damaged/);
  assert.match(check.stdout, /sub\/b\.bin/);
});

test('one flipped byte in an index file: reported, and the repository stays fully readable', async (t) => {
  const { repo, source } = await repoWithData(t);
  for (const f of files(repo, 'index')) flipByte(f);
  const target = tempDir(t);
  const r = await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--verify']);
  assert.match(r.stderr, /index file [0-9a-f]+ is damaged/);
  assert.deepEqual(readFileSync(join(target, source, 'sub', 'b.bin')), readFileSync(join(source, 'sub', 'b.bin')));
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /index [0-9a-f]+: content does not match its name/);
});

test('one flipped byte in a snapshot file: the others stay listed, check names it', async (t) => {
  const { repo, source } = await repoWithData(t);
  writeFileSync(join(source, 'c.txt'), 'second snapshot');
  await cliOk(['backup', '--repo', repo, source]);
  const [first] = files(repo, 'snapshots');
  flipByte(first);
  const list = await cliOk(['snapshots', '--repo', repo]);
  assert.match(list.stdout, /1 snapshot$/m);
  assert.match(list.stderr, /damaged/);
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /snapshot [0-9a-f]+: content does not match its name/);
});

test('one flipped byte in a key file: check reports it; another key still opens the repository', async (t) => {
  const { repo } = await repoWithData(t);
  await cliOk(['key', 'add', '--repo', repo], { env: { LIFEBOAT_NEW_PASSWORD: 'second' } });
  const keyFiles = files(repo, 'keys');
  const listed = JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout);
  const secondId = listed.find((k: { current: boolean }) => !k.current).id;
  flipByte(keyFiles.find((f) => !f.endsWith(secondId))!);
  const r = await cliOk(['check', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'second' }, expect: 21 });
  assert.match(r.stdout, /key [0-9a-f]+: content does not match its name/);
  const wrong = await cli(['snapshots', '--repo', repo]);
  assert.equal(wrong.code, 12);
  assert.match(wrong.stderr, /damaged/);
});

test('one flipped byte in a tree blob: check --read-data names the snapshot and the folder', async (t) => {
  const { repo } = await repoWithData(t);
  const packs = files(repo, 'packs');
  for (const p of packs) {
    const header = JSON.parse((await cliOk(['cat', '--repo', repo, 'pack', p.split('/').pop()!])).stdout);
    if (header.blobs[0].type === 'tree') flipByte(p, header.blobs[0].offset + 5);
  }
  const check = await cli(['check', '--repo', repo, '--read-data']);
  assert.equal(check.code, 21);
  assert.match(check.stdout, /directory listing unreadable/);
});

test('an unwritable restore target: exit 23 and a clear message', async (t) => {
  const { repo } = await repoWithData(t);
  let target: string;
  if (process.getuid?.() === 0) {
    if (!canMount(t)) return;
    target = join(mountTmpfs(t, 1 << 20, { readOnly: true }), 'restore');
  } else {
    const parent = tempDir(t);
    chmodSync(parent, 0o500);
    target = join(parent, 'restore');
  }
  const r = await cli(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.equal(r.code, 23);
  assert.match(r.stderr, /Cannot restore into .*(read-only|permission denied)/);
});

test('the disk filling up during backup: exit 18, the repository still checks clean, the next backup works', async (t) => {
  if (!canMount(t)) return;
  const fs = mountTmpfs(t, 3 << 20);
  const repo = join(fs, 'repo');
  await cliOk(['init', '--repo', repo]);
  const source = join(tempDir(t), 'big');
  mkdirSync(source);
  writeFileSync(join(source, 'small.txt'), 'small');
  for (let i = 0; i < 4; i++) writeFileSync(join(source, `random-${i}.bin`), randomBytes(2 << 20));
  const r = await cli(['backup', '--repo', repo, source]);
  assert.equal(r.code, 18, r.stderr);
  assert.match(r.stderr, /No space left on device/);
  assert.deepEqual(readdirSync(repo, { recursive: true, encoding: 'utf8' }).filter((p) => p.includes('.tmp-')), [], 'no temporary file is left behind');
  await cliOk(['check', '--repo', repo]);
  resizeTmpfs(fs, 64 << 20);
  await cliOk(['backup', '--repo', repo, source]);
  await cliOk(['check', '--repo', repo, '--read-data']);
});

test('the disk filling up during restore: the failed file is reported and removed, the rest is restored, exit 3', async (t) => {
  if (!canMount(t)) return;
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'full'), { recursive: true });
  writeFileSync(join(source, 'a-small.txt'), 'fits');
  writeFileSync(join(source, 'full', 'b-big.bin'), randomBytes(3 << 20));
  writeFileSync(join(source, 'z-small.txt'), 'fits too');
  await cliOk(['backup', '--repo', repo, source]);
  // Only the big file's folder is on a full (1 MiB) filesystem, so which files fail does not
  // depend on the order in which parallel writes happen to land.
  const target = tempDir(t);
  mkdirSync(join(target, source, 'full'), { recursive: true });
  const small = mountTmpfs(t, 1 << 20);
  execFileSync('mount', ['--bind', small, join(target, source, 'full')]);
  let r;
  try {
    r = await cli(['restore', '--repo', repo, 'latest', '--target', target]);
    assert.equal(existsSync(join(target, source, 'full', 'b-big.bin')), false, 'no half-written file is left behind');
  } finally {
    execFileSync('umount', ['-l', join(target, source, 'full')]);
  }
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /b-big\.bin: no space left on device/);
  assert.equal(readFileSync(join(target, source, 'a-small.txt'), 'utf8'), 'fits');
  assert.equal(readFileSync(join(target, source, 'z-small.txt'), 'utf8'), 'fits too');
});

test('a missing source path: exit 16 and nothing is written', async (t) => {
  const repo = await newRepo(t);
  const r = await cli(['backup', '--repo', repo, '/no/such/path']);
  assert.equal(r.code, 16);
  assert.match(r.stderr, /Cannot back up "\/no\/such\/path": no such file or directory/);
  assert.deepEqual(files(repo, 'snapshots'), []);
});

test('two init on one path: the second is refused (exit 13), also when racing', async (t) => {
  const repo = join(tempDir(t), 'repo');
  const results = await Promise.all([cli(['init', '--repo', repo]), cli(['init', '--repo', repo]), cli(['init', '--repo', repo])]);
  assert.deepEqual(results.map((r) => r.code).sort(), [0, 13, 13]);
  assert.equal(files(repo, 'keys').length, 1, 'the losers left no key behind');
  const again = await cli(['init', '--repo', repo]);
  assert.equal(again.code, 13);
  assert.match(again.stderr, /already exists/);
  await cliOk(['check', '--repo', repo]);
});
