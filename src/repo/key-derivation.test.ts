import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LocalBackend } from '../storage/local.ts';
import { deriveAhead } from './key-derivation.ts';
import { Repository } from './repository.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

async function repoDir(t: TestContext): Promise<{ dir: string; backend: LocalBackend; encryption: Buffer }> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-kdf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = new LocalBackend(dir);
  const repo = await Repository.init(backend, 'pw');
  return { dir, backend, encryption: Buffer.from(repo.keys.encryption) };
}

test('a key derived ahead opens the repository, and only for the password it was derived from', async (t) => {
  const { dir, backend, encryption } = await repoDir(t);
  const { derived } = await deriveAhead(backend, 'pw');
  const key = await derived;
  assert.ok(key, 'the first slot is derived');
  assert.equal(key.keyId, readdirSync(join(dir, 'keys'))[0]);
  const opened = await Repository.open(backend, 'pw', { loadIndex: false, derivedAhead: derived });
  assert.deepEqual(Buffer.from(opened.keys.encryption), encryption);

  // It is used as given: a wrong key for this password and slot does not open it...
  const wrong = Promise.resolve({ ...key, wrappingKey: Buffer.alloc(32, 7) });
  await assert.rejects(Repository.open(backend, 'pw', { loadIndex: false, derivedAhead: wrong }), (err: Error & { code?: string }) => err.code === 'WRONG_PASSWORD');
  // ...and a key derived from another password is not used at all.
  const other = Promise.resolve({ ...key, password: 'other', wrappingKey: Buffer.alloc(32, 7) });
  const reopened = await Repository.open(backend, 'pw', { loadIndex: false, derivedAhead: other });
  assert.deepEqual(Buffer.from(reopened.keys.encryption), encryption);
});

test('deriving ahead gives up quietly on what the real open reports: no repository, a damaged key file, a cost out of bounds', async (t) => {
  const missing = await deriveAhead(new LocalBackend(join(tmpdir(), 'lifeboat-kdf-none', String(process.pid))), 'pw');
  assert.equal(await missing.derived, undefined);

  const { dir, backend } = await repoDir(t);
  const name = readdirSync(join(dir, 'keys'))[0];
  const path = join(dir, 'keys', name);
  const file = JSON.parse(readFileSync(path, 'utf8'));
  rmSync(path, { force: true });
  writeFileSync(path, JSON.stringify(file) + ' '); // no longer matches its name
  assert.equal(await (await deriveAhead(backend, 'pw')).derived, undefined);

  // A file that matches its name but asks for 8 GiB of memory: argon2id is never started.
  rmSync(path, { force: true });
  const greedy = Buffer.from(JSON.stringify({ ...file, kdf: { ...file.kdf, memoryKiB: 8 * 1024 * 1024 } }));
  writeFileSync(join(dir, 'keys', createHash('sha256').update(greedy).digest('hex')), greedy);
  assert.equal(await (await deriveAhead(backend, 'pw')).derived, undefined);
});
