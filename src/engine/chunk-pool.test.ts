import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Repository } from '../repo/repository.ts';
import { LocalBackend } from '../storage/local.ts';
import { ChunkPool, type PreparedChunk } from './chunk-pool.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

test('a chunk stored during the backup is not compressed again where it occurs once more', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-pool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), 'pw');
  await repo.reloadIndex();
  const file = join(dir, 'log.txt');
  writeFileSync(file, 'the same line, very compressible\n'.repeat(4000)); // 132 KB: one chunk
  const pool = new ChunkPool(repo, 1);
  t.after(() => pool.close());
  const chunksOf = async (): Promise<PreparedChunk[]> => {
    const chunks: PreparedChunk[] = [];
    await pool.chunkFile(Buffer.from(file), 132_000, async (c) => void chunks.push(c));
    return chunks;
  };
  const [first] = await chunksOf();
  assert.equal(first.compression, 1, 'a new chunk is compressed');
  assert.ok(first.stored.length < 1000);
  const [again] = await chunksOf();
  assert.equal(again.compression, 1, 'not yet stored: compressed again');
  pool.stored(first.id);
  const [third] = await chunksOf();
  assert.deepEqual(third.id, first.id);
  assert.equal(third.compression, 0, 'known now: left as it is, the repository has it already');
  assert.equal(third.stored.length, 132_000);
});
