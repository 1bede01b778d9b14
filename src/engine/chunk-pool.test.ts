import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decompressBlob } from '../lib/zstd.ts';
import { macBlob } from '../repo/chunker.ts';
import { Repository } from '../repo/repository.ts';
import { LocalBackend } from '../storage/local.ts';
import { ChunkPool, type PreparedChunk } from './chunk-pool.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

async function emptyRepo(t: { after: (f: () => void) => void }): Promise<{ dir: string; repo: Repository }> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-pool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), 'pw');
  await repo.reloadIndex();
  return { dir, repo };
}

/** A file of zeros that is all hole: cheap to make and to read. */
function writeSparse(path: string, size: number): void {
  writeFileSync(path, '');
  truncateSync(path, size);
}

test('the pool keeps to one lane for small files, and starts another when there is much to read', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const chunkAll = async (pool: ChunkPool, files: Array<{ path: string; size: number }>) => {
    const got = await Promise.all(files.map(({ path, size }) => pool.chunkFile(Buffer.from(path), size, async () => {})));
    assert.deepEqual(got.map((r) => r.bytesRead), files.map((f) => f.size));
  };
  // 136 MiB in all, more than enough to read, but in files so small that the main thread sets the pace.
  const small = Array.from({ length: 4500 }, (_, i) => ({ path: join(dir, `s${i}`), size: 31 * 1024 }));
  for (const f of small) writeSparse(f.path, f.size);
  const forSmall = new ChunkPool(repo, 2);
  t.after(() => forSmall.close());
  await chunkAll(forSmall, small);
  assert.equal(forSmall.laneCount, 1, 'a second lane would only take a core from the main thread');

  const big = Array.from({ length: 4 }, (_, i) => ({ path: join(dir, `b${i}`), size: 48 * 1024 * 1024 }));
  for (const f of big) writeSparse(f.path, f.size);
  const forBig = new ChunkPool(repo, 2);
  t.after(() => forBig.close());
  await chunkAll(forBig, big);
  assert.equal(forBig.laneCount, 2);
});

test('a chunk stored during the backup is not compressed again where it occurs once more', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const file = join(dir, 'log.txt');
  writeFileSync(file, 'the same line, very compressible\n'.repeat(4000)); // 132 KB: one chunk
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  // A chunk's bytes are the worker's again once its callback has finished: keep their length.
  const chunksOf = async (): Promise<Array<PreparedChunk & { storedLength: number }>> => {
    const chunks: Array<PreparedChunk & { storedLength: number }> = [];
    await pool.chunkFile(Buffer.from(file), 132_000, async (c) => void chunks.push({ ...c, storedLength: c.stored.length }));
    return chunks;
  };
  const [first] = await chunksOf();
  assert.equal(first.compression, 1, 'a new chunk is compressed');
  assert.ok(first.storedLength < 1000);
  const [again] = await chunksOf();
  assert.equal(again.compression, 1, 'not yet stored: compressed again');
  pool.stored(first.id);
  const [third] = await chunksOf();
  assert.deepEqual(third.id, first.id);
  // The repository does not have it (nothing was saved): as with a prefix shared by chance, the
  // main thread reads the bytes back from the file, and they are stored raw.
  assert.equal(third.compression, 0, 'known: not compressed');
  assert.equal(third.storedLength, 132_000);
  assert.deepEqual(Buffer.from(third.stored.subarray(0, 33)).toString(), 'the same line, very compressible\n');
});

test('a chunk the repository has reaches the main thread by name only', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const file = join(dir, 'data.bin');
  const data = randomBytes(200_000); // one chunk
  writeFileSync(file, data);
  const saved = await repo.saveBlob('data', data);
  await repo.flush();
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  const chunks: Array<PreparedChunk & { storedLength: number }> = [];
  const result = await pool.chunkFile(Buffer.from(file), data.length, async (c) => void chunks.push({ ...c, storedLength: c.stored.length }));
  assert.equal(result.bytesRead, 200_000);
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks[0].id, saved.id);
  assert.equal(chunks[0].rawLength, 200_000);
  assert.equal(chunks[0].storedLength, 0, 'no bytes: the repository has them');
  assert.equal((await repo.saveStoredBlob('data', chunks[0].id, chunks[0].stored, chunks[0].compression, chunks[0].rawLength)).added, false);
});

test("a chunk's bytes stay as they are until its callback has finished, while the workers fill their rings", async (t) => {
  const { dir, repo } = await emptyRepo(t);
  // 48 MiB in each of two files: each worker's ring (8 MiB) goes round several times. Half the
  // content compresses, half does not.
  const files = [0, 1].map((n) => {
    const path = join(dir, `big-${n}`);
    const parts = Array.from({ length: 48 }, (_, i) => (i % 2 ? randomBytes(1 << 20) : Buffer.alloc(1 << 20, `file ${n} part ${i} `)));
    writeFileSync(path, Buffer.concat(parts));
    return path;
  });
  const pool = new ChunkPool(repo, 2);
  t.after(() => pool.close());
  let checked = 0;
  let compressed = 0;
  let turn = 0;
  const results = await Promise.all(
    files.map((path) =>
      pool.chunkFile(Buffer.from(path), 48 << 20, async (chunk) => {
        // Some callbacks finish late and out of order, as stores waiting for an upload do: long
        // enough for a worker that did not wait for them to fill its ring again meanwhile.
        if (turn++ % 7 === 0) await new Promise((resolve) => setTimeout(resolve, 150));
        else await new Promise((resolve) => setImmediate(resolve));
        const raw = chunk.compression ? decompressBlob(chunk.stored, chunk.rawLength) : chunk.stored;
        assert.equal(raw.length, chunk.rawLength);
        assert.deepEqual(macBlob(repo.keys.blobId, raw), chunk.id, `chunk ${chunk.index} is intact when its callback reads it`);
        checked++;
        compressed += chunk.compression;
      }),
    ),
  );
  assert.deepEqual(results.map((r) => r.bytesRead), [48 << 20, 48 << 20]);
  assert.equal(checked, results[0].chunks + results[1].chunks);
  assert.ok(compressed > 0 && compressed < checked, 'both kinds of chunk went through the rings');
});
