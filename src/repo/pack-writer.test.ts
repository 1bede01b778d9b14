import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LocalBackend } from '../storage/local.ts';
import { blobIdOf, deriveRepositoryKeys, fileKeyBytes } from './crypto.ts';
import { openBlob, packSalt, readPackHeader, COMPRESSION_NONE } from './pack.ts';
import { PackWriter } from './pack-writer.ts';

const keys = deriveRepositoryKeys(Buffer.alloc(32, 7));
const MiB = 1024 * 1024;

/** Blobs that fill several segments, end one exactly at a boundary's edge, and one bigger than a segment. */
function blobs(): Buffer[] {
  return [randomBytes(100), randomBytes(3 * MiB), randomBytes(2 * MiB), randomBytes(4 * MiB), Buffer.alloc(0), randomBytes(9 * MiB), randomBytes(70_000), randomBytes(1)];
}

function assertPackHolds(bytes: Buffer, stored: Buffer[]): void {
  const entries = readPackHeader(keys, bytes.subarray(0, 40), bytes, bytes.length);
  assert.equal(entries.length, stored.length);
  const key = fileKeyBytes(keys, packSalt(bytes.subarray(0, 40)));
  entries.forEach((e, i) => {
    assert.deepEqual(e.id, blobIdOf(keys, stored[i]));
    assert.ok(openBlob(key, e.id, e.offset, bytes.subarray(e.offset, e.offset + e.storedLength)).equals(stored[i]), `blob ${i}`);
  });
}

async function localRepository(t: TestContext): Promise<{ root: string; backend: LocalBackend }> {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-spool-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const backend = new LocalBackend(root);
  await backend.create();
  return { root, backend };
}

function temporaryFiles(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((p) => p.includes('.tmp-'));
}

test('a pack kept in memory spans segments, and a blob bigger than a segment fits', () => {
  const stored = blobs();
  const writer = new PackWriter(keys, 'data');
  for (const b of stored) writer.add(blobIdOf(keys, b), b, COMPRESSION_NONE, b.length);
  const { name, bytes } = writer.finish();
  writer.release();
  assert.equal(name, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(bytes.length, writer.sizeBytes + bytes.readUInt32LE(bytes.length - 4) + 4);
  assertPackHolds(bytes, stored);
});

test('a spooled pack is written as it fills, then appears under its SHA-256, with no temporary file left', async (t) => {
  const { root, backend } = await localRepository(t);
  const stored = blobs();
  const writer = new PackWriter(keys, 'data', backend.spool('packs'));
  for (const b of stored) {
    writer.add(blobIdOf(keys, b), b, COMPRESSION_NONE, b.length);
    await writer.drained(1);
    assert.ok(writer.writesInFlight <= 1);
  }
  assert.equal(temporaryFiles(root).length, 1, 'the pack fills a temporary file meanwhile');
  const name = await writer.finishSpooled();
  await writer.spool!.place(name);
  writer.release();
  const path = join(root, 'data', name.slice(0, 2), name);
  const bytes = readFileSync(path);
  assert.equal(name, createHash('sha256').update(bytes).digest('hex'));
  assertPackHolds(bytes, stored);
  assert.deepEqual(temporaryFiles(root), []);
  assert.equal(statSync(path).mode & 0o777, 0o400, 'read-only, for its owner alone, once placed (it is writable while it fills, for its O_DIRECT descriptor)');
});

test('placing a spool under a name that exists fails with EEXIST and removes the temporary file', async (t) => {
  const { root, backend } = await localRepository(t);
  const name = 'ab'.repeat(32);
  for (const expected of [undefined, 'EEXIST']) {
    const spool = backend.spool('packs');
    await spool.write(Buffer.from('same bytes'), 0);
    const err = await spool.place(name).then(() => undefined, (e: NodeJS.ErrnoException) => e.code);
    assert.equal(err, expected);
  }
  assert.equal(readFileSync(join(root, 'data', 'ab', name), 'utf8'), 'same bytes');
  assert.deepEqual(temporaryFiles(root), []);
});

test("a spool's failure reaches finishSpooled(), and discard() removes what was written", async (t) => {
  const { root, backend } = await localRepository(t);
  // A real failure: the pack folders are gone, so the temporary file cannot be created.
  rmSync(join(root, 'data'), { recursive: true });
  const spool = backend.spool('packs');
  const writer = new PackWriter(keys, 'data', spool);
  const b = randomBytes(5 * MiB);
  writer.add(blobIdOf(keys, b), b, COMPRESSION_NONE, b.length);
  await assert.rejects(writer.finishSpooled(), { code: 'ENOENT' });
  await spool.discard();
  writer.release();

  const { root: root2, backend: backend2 } = await localRepository(t);
  const written = backend2.spool('index');
  await written.write(Buffer.alloc(1000, 1), 0);
  assert.equal(temporaryFiles(root2).length, 1);
  await written.discard();
  await written.discard();
  assert.deepEqual(temporaryFiles(root2), []);
});
