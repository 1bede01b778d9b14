// S3 against a real Ceph RADOS Gateway started here (test/services/ceph.ts): round trip,
// multipart uploads, listings over 1,000 objects, Object Lock, clear errors, the gateway dying mid-backup.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command, ListObjectVersionsCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Backend } from '../src/storage/s3.ts';
import { cli, cliOk, MAIN, tempDir } from './helpers.ts';
import { roundTrip, serverDiesMidBackup } from './remote-roundtrip.ts';
import { have, waitFor } from './services/daemon.ts';
import { startCeph, type CephS3 } from './services/ceph.ts';

const available = have('radosgw');
let ceph: CephS3;
let client: S3Client;
let bucketNo = 0;

before(async () => {
  if (!available) return;
  ceph = await startCeph();
  client = new S3Client({
    endpoint: ceph.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ceph.accessKey, secretAccessKey: ceph.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
after(async () => {
  client?.destroy();
  await ceph?.stop();
});

const location = (prefix = 'repo') => `s3:${ceph.endpoint}/bucket${++bucketNo}/${prefix}`;
const bucketOf = (loc: string) => loc.split('/')[3];

test('S3: a tree backs up to a bucket and restores exactly; check --read-data passes', { skip: !available && 'radosgw not installed' }, async (t) => {
  await roundTrip(t, location(), ceph.env);
});

test('S3: large packs go up in parts (multipart), and read back whole', { skip: !available && 'radosgw not installed' }, async (t) => {
  const repo = location();
  const opts = ['-o', 's3.multipart-threshold-mib=5', '-o', 's3.part-size-mib=5'];
  await cliOk(['init', '--repo', repo, ...opts], { env: ceph.env });
  const source = join(tempDir(t), 'big');
  mkdirSync(source);
  const big = randomBytes(24 * 1024 * 1024);
  writeFileSync(join(source, 'big.bin'), big);
  await cliOk(['backup', '--repo', repo, ...opts, source], { env: ceph.env });
  const listed = await client.send(new ListObjectsV2Command({ Bucket: bucketOf(repo), Prefix: 'repo/data/' }));
  const etags = await Promise.all((listed.Contents ?? []).map(async (o) => (await client.send(new HeadObjectCommand({ Bucket: bucketOf(repo), Key: o.Key! }))).ETag!));
  // A multipart object's ETag is "<md5 of the part md5s>-<number of parts>".
  assert.ok(etags.some((e) => /-\d+"?$/.test(e)), `some pack was uploaded in parts: ${etags.join(' ')}`);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, ...opts, 'latest', '--target', target], { env: ceph.env });
  await cliOk(['check', '--read-data', '--repo', repo], { env: ceph.env });
});

test('S3: listing pages through more than 1,000 objects', { skip: !available && 'radosgw not installed' }, async () => {
  const loc = location('many');
  Object.assign(process.env, ceph.env);
  const backend = S3Backend.fromLocation(loc.slice('s3:'.length), {});
  await backend.create();
  const names = Array.from({ length: 1100 }, (_, i) => i.toString(16).padStart(64, '0'));
  for (let i = 0; i < names.length; i += 50) await Promise.all(names.slice(i, i + 50).map((n) => backend.write('snapshots', n, Buffer.from(n))));
  const listed: string[] = [];
  for await (const f of backend.list('snapshots')) listed.push(f.name);
  assert.equal(listed.length, 1100);
  assert.deepEqual(listed.sort(), names);
  await assert.rejects(backend.write('snapshots', names[0], Buffer.from('other')), { code: 'EEXIST' }, 'files are write-once');
  await backend.close();
});

test('S3 Object Lock: every file is retained; a retained pack cannot be deleted, and the repository stays intact after the attempt', { skip: !available && 'radosgw not installed' }, async (t) => {
  const repo = location();
  const bucket = bucketOf(repo);
  await cliOk(['init', '--repo', repo, '--object-lock', '2', '--object-lock-mode', 'compliance'], { env: ceph.env });
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'a.bin'), randomBytes(300_000));
  await cliOk(['backup', '--repo', repo, source], { env: ceph.env });

  const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'repo/' }));
  const objects = versions.Versions ?? [];
  assert.ok(objects.length >= 5, 'config, key, pack(s), index and snapshot were written');
  for (const o of objects) {
    const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: o.Key!, VersionId: o.VersionId }));
    if (o.Key!.includes('/locks/')) {
      // The backup's lock came and went: a retained lock could never be released.
      assert.equal(head.ObjectLockMode, undefined, `${o.Key} (a lock) is not retained`);
      continue;
    }
    assert.equal(head.ObjectLockMode, 'COMPLIANCE', `${o.Key} is locked`);
    const days = (head.ObjectLockRetainUntilDate!.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 1.9 && days <= 2, `${o.Key} is retained for 2 days (${days})`);
  }
  const pack = objects.find((o) => o.Key!.includes('/data/'))!;
  // Deleting the locked version itself is refused by the server.
  await assert.rejects(client.send(new DeleteObjectCommand({ Bucket: bucket, Key: pack.Key!, VersionId: pack.VersionId })), /AccessDenied|lock/i);
  // A plain delete only puts a delete marker in front of it (what ransomware with the keys would do)...
  for (const o of objects) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
  assert.equal((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'repo/' }))).KeyCount ?? 0, 0, 'every object is hidden');
  // ...and the repository still opens, checks and restores through it.
  await cliOk(['check', '--read-data', '--repo', repo], { env: ceph.env });
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target], { env: ceph.env });

  // Lifeboat itself refuses to delete a retained file, and says until when.
  const keys = JSON.parse((await cliOk(['key', 'add', '--repo', repo, '--json', '--new-password-file', writePw(t)], { env: ceph.env })).stdout);
  const removed = await cli(['key', 'remove', '--repo', repo, keys.id], { env: ceph.env });
  assert.notEqual(removed.code, 0);
  assert.match(removed.stderr, /retention until \d{4}-\d\d-\d\dT/);
});

test('S3 Object Lock: forget keeps retained snapshots, prune keeps retained packs, each listed with the date they can go; the repository stays whole', { skip: !available && 'radosgw not installed' }, async (t) => {
  const repo = location();
  await cliOk(['init', '--repo', repo, '--object-lock', '1'], { env: ceph.env });
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'a.bin'), randomBytes(300_000));
  await cliOk(['backup', '--repo', repo, source], { env: ceph.env });
  const forgot = await cliOk(['forget', '--repo', repo, '--keep-tag', 'none', '--allow-empty'], { env: ceph.env });
  assert.match(forgot.stderr, /snapshot [0-9a-f]{8} was kept: .*retention until/);
  // A backup killed after its first pack landed leaves a pack no index lists: prune wants it gone, retention says not yet.
  for (let i = 0; i < 4; i++) writeFileSync(join(source, `big${i}.bin`), randomBytes(12 << 20));
  const packs = async () => (await client.send(new ListObjectsV2Command({ Bucket: bucketOf(repo), Prefix: 'repo/data/' }))).KeyCount ?? 0;
  const before = await packs();
  const child = spawn(process.execPath, [MAIN, 'backup', '--repo', repo, '--limit-upload', '20000', source], { env: { ...process.env, ...ceph.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('close', resolve));
  await waitFor('a pack of the new backup', async () => (await packs()) > before, 60_000);
  child.kill('SIGKILL');
  await exited;
  const pruned = JSON.parse((await cliOk(['prune', '--repo', repo, '--json'], { env: ceph.env })).stdout);
  assert.ok(pruned.packsUnindexed >= 1 && pruned.retained.length >= 1, JSON.stringify(pruned));
  for (const r of pruned.retained) assert.ok(Date.parse(r.until) > Date.now() + 23 * 3_600_000, `kept until ${r.until}`);
  await cliOk(['check', '--read-data', '--repo', repo], { env: ceph.env });
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target], { env: ceph.env });
  assert.equal(readFileSync(join(target, source, 'a.bin')).length, 300_000);
});

test('S3 Object Lock on a bucket without it is refused with a clear message', { skip: !available && 'radosgw not installed' }, async () => {
  const repo = location();
  await cliOk(['init', '--repo', repo.replace(/\/repo$/, '/plain')], { env: ceph.env }); // creates the bucket without a lock
  const r = await cli(['init', '--repo', repo, '--object-lock', '1'], { env: ceph.env });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /does not have Object Lock enabled/);
});

test('S3: bad credentials and a missing bucket get clear errors and their exit codes', { skip: !available && 'radosgw not installed' }, async () => {
  const repo = location();
  await cliOk(['init', '--repo', repo], { env: ceph.env });
  const bad = await cli(['snapshots', '--repo', repo], { env: { ...ceph.env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' } });
  assert.equal(bad.code, 24, bad.stderr);
  assert.match(bad.stderr, /access denied/i);
  const missing = await cli(['snapshots', '--repo', `s3:${ceph.endpoint}/no-such-bucket/x`], { env: ceph.env });
  assert.equal(missing.code, 10, missing.stderr);
});

function writePw(t: Parameters<typeof tempDir>[0]): string {
  const file = join(tempDir(t), 'pw');
  writeFileSync(file, 'second password\n');
  return file;
}

test('copy: local → S3 → local, with different keys; only missing blobs travel; copying twice adds nothing', { skip: !available && 'radosgw not installed' }, async (t) => {
  const local = join(tempDir(t), 'local');
  const s3 = location();
  const back = join(tempDir(t), 'back');
  const env = { ...ceph.env, LIFEBOAT_FROM_PASSWORD: 'correct horse' };
  await cliOk(['init', '--repo', local]);
  await cliOk(['init', '--repo', s3], { env: { ...ceph.env, LIFEBOAT_PASSWORD: 'another password' } });
  await cliOk(['init', '--repo', back], { env: { LIFEBOAT_PASSWORD: 'third' } });
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'one.bin'), randomBytes(2_000_000));
  await cliOk(['backup', '--repo', local, source]);
  writeFileSync(join(source, 'two.bin'), randomBytes(1_000_000));
  await cliOk(['backup', '--repo', local, source]);

  const first = JSON.parse((await cliOk(['copy', '--json', '--from-repo', local, '--repo', s3], { env: { ...env, LIFEBOAT_PASSWORD: 'another password' } })).stdout);
  assert.equal(first.copied.length, 2);
  const again = JSON.parse((await cliOk(['copy', '--json', '--from-repo', local, '--repo', s3], { env: { ...env, LIFEBOAT_PASSWORD: 'another password' } })).stdout);
  assert.deepEqual([again.copied.length, again.skipped.length, again.blobsAdded], [0, 2, 0]);
  // A new snapshot that shares most of its data: only the new file's blobs are uploaded.
  writeFileSync(join(source, 'three.bin'), randomBytes(500_000));
  await cliOk(['backup', '--repo', local, source]);
  const third = JSON.parse((await cliOk(['copy', '--json', '--from-repo', local, '--repo', s3], { env: { ...env, LIFEBOAT_PASSWORD: 'another password' } })).stdout);
  assert.equal(third.copied.length, 1);
  assert.ok(third.bytesAdded < 700_000 && third.bytesAdded > 500_000, `only three.bin travelled (${third.bytesAdded} bytes)`);
  assert.ok(third.blobsAdded < third.blobsRead);

  await cliOk(['copy', '--from-repo', s3, '--repo', back, 'latest'], { env: { ...ceph.env, LIFEBOAT_FROM_PASSWORD: 'another password', LIFEBOAT_PASSWORD: 'third' } });
  const target = tempDir(t);
  await cliOk(['restore', '--repo', back, 'latest', '--target', target, '--verify'], { env: { LIFEBOAT_PASSWORD: 'third' } });
  for (const f of ['one.bin', 'two.bin', 'three.bin']) assert.deepEqual(readFileSync(join(target, source, f)), readFileSync(join(source, f)));
  await cliOk(['check', '--read-data', '--repo', s3], { env: { ...ceph.env, LIFEBOAT_PASSWORD: 'another password' } });
});

test('S3: the gateway is killed in the middle of a backup: a clear error, the repository checks clean, the next backup succeeds', { skip: !available && 'radosgw not installed' }, async (t) => {
  const repo = location();
  await serverDiesMidBackup(t, repo, {
    env: ceph.env,
    packLanded: async () => ((await client.send(new ListObjectsV2Command({ Bucket: bucketOf(repo), Prefix: 'repo/data/' }))).KeyCount ?? 0) > 0,
    kill: () => ceph.killGateway(),
    restart: () => ceph.startGateway(),
  });
});
