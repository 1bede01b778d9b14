// The REST protocol from both sides: `lifeboat serve` used by Debian's restic and by Lifeboat's
// own REST backend; Lifeboat's REST backend against `rclone serve restic`; `rclone:` locations;
// append-only, private repositories, bad credentials; and a server killed mid-backup.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cli, cliOk, MAIN, tempDir } from './helpers.ts';
import { roundTrip, serverDiesMidBackup } from './remote-roundtrip.ts';
import { freePort, have, portOpen, startDaemon, waitFor } from './services/daemon.ts';
import { addUser, serve } from './services/serve.ts';

const hasRestic = have('restic');
const hasRclone = have('rclone');
const ENV = { LIFEBOAT_KDF_MEMORY_KIB: '1024' };

function sourceTree(t: TestContext): string {
  const dir = join(tempDir(t), 'src');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(dir, 'a.txt'), 'alpha\n'.repeat(500));
  writeFileSync(join(dir, 'sub', 'b.bin'), randomBytes(200_000));
  return dir;
}

test('lifeboat serve speaks restic\'s protocol: restic itself inits, backs up and restores through it', { skip: !hasRestic && 'restic not installed' }, async (t) => {
  const root = tempDir(t);
  await addUser(root, 'alice', 'alice-pw');
  const { port } = await serve(t, root);
  const src = sourceTree(t);
  const env = { ...process.env, RESTIC_PASSWORD: 'restic-pw', RESTIC_CACHE_DIR: join(tempDir(t), 'cache') };
  const repo = `rest:http://alice:alice-pw@127.0.0.1:${port}/alice/restic/`;
  execFileSync('restic', ['-r', repo, 'init'], { env, stdio: 'pipe' });
  execFileSync('restic', ['-r', repo, 'backup', src], { env, stdio: 'pipe' });
  const target = tempDir(t);
  execFileSync('restic', ['-r', repo, 'restore', 'latest', '--target', target], { env, stdio: 'pipe' });
  assert.deepEqual(readFileSync(join(target, src, 'sub', 'b.bin')), readFileSync(join(src, 'sub', 'b.bin')));
  execFileSync('restic', ['-r', repo, 'check', '--read-data'], { env, stdio: 'pipe' });
});

test('Lifeboat\'s REST backend against lifeboat serve over HTTPS: the full round trip', async (t) => {
  const root = tempDir(t);
  await addUser(root, 'alice', 'alice-pw');
  const tls = tempDir(t);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(tls, 'key.pem'), '-out', join(tls, 'cert.pem')], { stdio: 'pipe' });
  const { port } = await serve(t, root, ['--tls-cert', join(tls, 'cert.pem'), '--tls-key', join(tls, 'key.pem')]);
  await roundTrip(t, `rest:https://alice:alice-pw@127.0.0.1:${port}/alice/laptop`, {}, ['-o', `rest.ca=${join(tls, 'cert.pem')}`]);
});

test('serve: bad credentials are refused (exit 24); with --private-repos a user cannot reach another\'s repository', async (t) => {
  const root = tempDir(t);
  await addUser(root, 'alice', 'alice-pw');
  await addUser(root, 'bob', 'bob-pw');
  const { port } = await serve(t, root, ['--private-repos']);
  const bobRepo = `rest:http://bob:bob-pw@127.0.0.1:${port}/bob/pc`;
  await cliOk(['init', '--repo', bobRepo]);
  await cliOk(['backup', '--repo', bobRepo, sourceTree(t)]);
  const wrong = await cli(['snapshots', '--repo', `rest:http://bob:nope@127.0.0.1:${port}/bob/pc`]);
  assert.equal(wrong.code, 24, wrong.stderr);
  assert.match(wrong.stderr, /access denied/);
  assert.doesNotMatch(wrong.stderr, /nope/, 'the password is not printed');
  const alice = await cli(['snapshots', '--repo', `rest:http://alice:alice-pw@127.0.0.1:${port}/bob/pc`]);
  assert.equal(alice.code, 24, alice.stderr);
  const own = await cli(['init', '--repo', `rest:http://alice:alice-pw@127.0.0.1:${port}/alice/pc`]);
  assert.equal(own.code, 0, own.stderr);
  const users = (await cliOk(['serve', 'user', 'list', '--path', root])).stdout.split('\n').filter(Boolean);
  assert.deepEqual(users.sort(), ['alice', 'bob']);
  await cliOk(['serve', 'user', 'remove', 'bob', '--path', root]);
  assert.equal((await cli(['snapshots', '--repo', bobRepo])).code, 24, 'a removed user is refused at once');
});

test('serve --append-only: backups work, deleting is refused and the repository stays whole', async (t) => {
  const root = tempDir(t);
  await addUser(root, 'alice', 'alice-pw');
  const { port } = await serve(t, root, ['--append-only', '--access-log']);
  const repo = `rest:http://alice:alice-pw@127.0.0.1:${port}/alice/pc`;
  await cliOk(['init', '--repo', repo]);
  await cliOk(['backup', '--repo', repo, sourceTree(t)]);
  await cliOk(['key', 'add', '--repo', repo], { env: { LIFEBOAT_NEW_PASSWORD: 'second' } });
  const keys = JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout) as Array<{ id: string; current: boolean }>;
  const other = keys.find((k) => !k.current)!;
  const removed = await cli(['key', 'remove', '--repo', repo, other.id]);
  assert.equal(removed.code, 24, removed.stderr);
  assert.match(removed.stderr, /append-only/);
  assert.equal(JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout).length, 2);
  await cliOk(['check', '--read-data', '--repo', repo]);
  // An overwrite is refused too: files are write-once, and a file's content must hash to its name.
  const post = (body: Uint8Array<ArrayBuffer> | string) => fetch(`http://127.0.0.1:${port}/alice/pc/keys/${other.id}`, { method: 'POST', body, headers: { Authorization: `Basic ${Buffer.from('alice:alice-pw').toString('base64')}` } });
  assert.equal((await post(new Uint8Array(readFileSync(join(root, 'alice', 'pc', 'keys', other.id))))).status, 409);
  assert.equal((await post('x')).status, 400);
});

test('REST backend against rclone serve restic, and rclone: with a local remote', { skip: !hasRclone && 'rclone not installed' }, async (t) => {
  const dir = tempDir(t);
  const port = await freePort();
  const rclone = startDaemon('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, join(dir, 'served')]);
  t.after(() => rclone.stop());
  await waitFor('rclone serve restic', () => portOpen(port), 20_000, rclone.output);
  await roundTrip(t, `rest:http://127.0.0.1:${port}/repo`);
  await roundTrip(t, `rclone::local:${join(dir, 'via-stdio')}`);
  // The stdio repository is the same layout on disk as a local one: open it directly.
  await cliOk(['check', '--read-data', '--repo', join(dir, 'via-stdio')]);
});

test('the server is killed in the middle of a backup: a clear error, the repository checks clean, the next backup succeeds', async (t) => {
  const root = tempDir(t);
  let { port, daemon } = await serve(t, root, ['--no-auth']);
  await serverDiesMidBackup(t, `rest:http://127.0.0.1:${port}/r`, {
    packLanded: () => execFileSync('find', [root, '-path', '*/r/data/*', '-type', 'f']).toString().trim() !== '',
    kill: () => daemon.stop('SIGKILL'),
    restart: async () => {
      ({ port, daemon } = await serve(t, root, ['--no-auth'], { port }));
    },
  });
});
