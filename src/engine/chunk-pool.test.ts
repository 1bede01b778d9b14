import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
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

test('the pool keeps to one lane for a few files, and starts another when there are many or much to read', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const chunkAll = async (files: Array<{ path: string; size: number }>): Promise<number> => {
    const pool = new ChunkPool(repo, 2);
    t.after(() => pool.close());
    const got = await Promise.all(files.map(({ path, size }) => pool.chunkFile(Buffer.from(path), size, async () => {})));
    assert.deepEqual(got.map((r) => r.bytesRead), files.map((f) => f.size));
    return pool.laneCount;
  };
  const files = (prefix: string, count: number, size: number) => {
    const made = Array.from({ length: count }, (_, i) => ({ path: join(dir, `${prefix}${i}`), size }));
    for (const f of made) writeSparse(f.path, f.size);
    return made;
  };
  // What a small re-backup reads (1,000 files, 31 MiB): a second lane's buffers are not worth it.
  assert.equal(await chunkAll(files('few', 1000, 31 * 1024)), 1);
  // Many small files: a lane run is short, and two lanes keep the main thread supplied.
  assert.equal(await chunkAll(files('many', 4500, 4 * 1024)), 2);
  // A few big ones.
  assert.equal(await chunkAll(files('big', 4, 48 * 1024 * 1024)), 2);
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

test("a chunk's bytes stay as they are until its callback has finished, while the lanes fill their arenas", async (t) => {
  const { dir, repo } = await emptyRepo(t);
  // 48 MiB in each of two files: each lane's two arenas (4 MiB) are filled many times. Half the
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
        // enough for a lane that did not wait for them to fill the arena again meanwhile.
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
  assert.ok(compressed > 0 && compressed < checked, 'both kinds of chunk went through the arenas');
});

test('the lanes cut, name and compress as the Chunker and macBlob do, across runs and files', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  // 20 MiB: more than one run's arena (about 4 MiB), so files are left unfinished between runs.
  const data = Buffer.concat(Array.from({ length: 20 }, (_, i) => (i % 3 ? randomBytes(1 << 20) : Buffer.alloc(1 << 20, `part ${i} `))));
  const paths = ['a', 'b'].map((name) => join(dir, name));
  for (const p of paths) writeFileSync(p, data);
  writeFileSync(join(dir, 'empty'), '');
  const expected = repo.chunker().split(data);
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  const chunkAll = async (path: string) => {
    const got: Array<{ index: number; id: Buffer; raw: Buffer }> = [];
    const result = await pool.chunkFile(Buffer.from(path), data.length, async (c) => {
      const stored = Buffer.from(c.stored);
      got.push({ index: c.index, id: c.id, raw: c.compression ? decompressBlob(stored, c.rawLength) : stored });
    });
    return { result, got: got.sort((x, y) => x.index - y.index) };
  };
  const [a, b, empty] = await Promise.all([...paths, join(dir, 'empty')].map(chunkAll));
  for (const { result, got } of [a, b]) {
    assert.equal(result.bytesRead, data.length);
    assert.equal(result.changed, false);
    assert.equal(result.chunks, expected.length);
    assert.deepEqual(got.map((c) => c.raw.length), expected, 'the same cuts as the JavaScript chunker');
    assert.deepEqual(Buffer.concat(got.map((c) => c.raw)), data);
    for (const c of got) assert.deepEqual(c.id, macBlob(repo.keys.blobId, c.raw));
  }
  assert.deepEqual(empty.result.chunks, 0);
  assert.deepEqual(empty.got, []);
});

test('a file that cannot be read fails with its reason, and the files around it are read', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  writeFileSync(join(dir, 'ok'), 'fine');
  mkdirSync(join(dir, 'a-folder')); // opens, then read() says EISDIR (root can open anything, so no EACCES here)
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  const [missing, folder, ok] = await Promise.allSettled(['gone', 'a-folder', 'ok'].map((n) => pool.chunkFile(Buffer.from(join(dir, n)), 4, async () => {})));
  assert.equal(missing.status, 'rejected');
  assert.match((missing as PromiseRejectedResult).reason.message, /^ENOENT: no such file or directory, open '.*gone'$/);
  assert.equal((missing as PromiseRejectedResult).reason.code, 'ENOENT');
  assert.equal(folder.status, 'rejected');
  assert.match((folder as PromiseRejectedResult).reason.message, /^EISDIR: illegal operation on a directory, read$/);
  assert.deepEqual(ok.status === 'fulfilled' && ok.value.bytesRead, 4);
});

test('closing the pool fails the files not started, and frees the lanes', async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const path = join(dir, 'f');
  writeFileSync(path, randomBytes(64 * 1024));
  const pool = new ChunkPool(repo, 1);
  const files = Array.from({ length: 300 }, () => pool.chunkFile(Buffer.from(path), 64 * 1024, async () => {}));
  const all = Promise.allSettled(files);
  await files[0];
  await pool.close();
  const settled = await all;
  const failed = settled.filter((s) => s.status === 'rejected');
  assert.ok(failed.length > 0, 'some files were still waiting');
  for (const f of failed) assert.match((f as PromiseRejectedResult).reason.message, /stopped reading files/);
  await assert.rejects(pool.chunkFile(Buffer.from(path), 1, async () => {}), /stopped reading files/);
  t.diagnostic(`${settled.length - failed.length} of 300 read before the close`);
});

test("a file's result stays its own while its chunks are slow to store and the lane reads on", async (t) => {
  const { dir, repo } = await emptyRepo(t);
  const sizes = [200_000, ...Array.from({ length: 100 }, (_, i) => 1000 + 37 * i)];
  const contents = sizes.map((size) => randomBytes(size));
  const paths = contents.map((data, i) => {
    const path = join(dir, `f${i}`);
    writeFileSync(path, data);
    return path;
  });
  // The first file is one chunk the repository has: it comes by name only, and takes no room in
  // the arena, which is free to be filled again while its callback still runs.
  await repo.saveBlob('data', contents[0]);
  await repo.flush();
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  const results = await Promise.all(
    paths.map((path, i) =>
      pool.chunkFile(Buffer.from(path), sizes[i], async () => {
        if (i === 0) await new Promise((resolve) => setTimeout(resolve, 200)); // slow to store
      }),
    ),
  );
  assert.deepEqual(results.map((r) => r.bytesRead), sizes);
  assert.deepEqual(results.map((r) => r.size), sizes);
  assert.ok(results.every((r) => r.changed === false && /^\d{19}$/.test(r.mtimeNs)));
});
