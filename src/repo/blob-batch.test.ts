import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LocalBackend } from '../storage/local.ts';
import type { Backend } from '../storage/open.ts';
import { BlobBatch, forEachBlobInRun, planRuns } from './blob-batch.ts';
import { Repository } from './repository.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

/** The local backend, counting pack reads. */
class CountingBackend extends LocalBackend {
  reads = 0;
  read(...args: Parameters<Backend['read']>): ReturnType<Backend['read']> {
    if (args[0] === 'packs') this.reads++;
    return super.read(...args);
  }
}

async function countedRepo(t: TestContext): Promise<{ repo: Repository; reads: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-batch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = new CountingBackend(dir);
  const repo = await Repository.init(backend, 'pw');
  return { repo, reads: () => backend.reads };
}

async function saveBlobs(repo: Repository, count: number, size: number): Promise<Array<{ id: Buffer; data: Buffer }>> {
  const blobs = [];
  for (let i = 0; i < count; i++) {
    const data = randomBytes(size);
    blobs.push({ id: (await repo.saveBlob('data', data)).id, data });
  }
  await repo.flush();
  return blobs;
}

test('a batch reads neighbouring blobs with one request, in any order, duplicates once', async (t) => {
  const { repo, reads } = await countedRepo(t);
  const blobs = await saveBlobs(repo, 200, 4000);
  const asked = [...blobs, blobs[7], blobs[150]].reverse();
  const batch = new BlobBatch(repo, asked.map((b) => b.id));
  const got = await Promise.all(asked.map((b) => batch.get(b.id)));
  got.forEach((data, i) => assert.deepEqual(data, asked[i].data));
  assert.equal(reads(), 1, '200 blobs of 4 KB in one pack are one read');
  // A blob the batch was not told about is still found, with a read of its own.
  const other = new BlobBatch(repo, []);
  assert.deepEqual(await other.get(blobs[3].id), blobs[3].data);
  assert.equal(reads(), 2);
});

test('runs stop at the size limit and at big gaps; a run hands its blobs over one by one', async (t) => {
  const { repo, reads } = await countedRepo(t);
  const blobs = await saveBlobs(repo, 40, 100_000);
  const runs = planRuns(repo, blobs.map((b) => b.id), 1_100_000);
  assert.equal(runs.length, 4, '4 MB in runs of at most 1.1 MB: ten 100 KB blobs (and their tags) each');
  // Every 4th blob: the 300 KB gaps exceed what is worth reading through.
  assert.equal(planRuns(repo, blobs.filter((_, i) => i % 4 === 0).map((b) => b.id)).length, 10);
  const seen: Buffer[] = [];
  await forEachBlobInRun(repo, runs[1], async (id, data) => {
    assert.deepEqual(data, blobs.find((b) => b.id.equals(id))!.data);
    seen.push(id);
  });
  assert.equal(seen.length, runs[1].blobs.length);
  assert.equal(reads(), 1);
});

test('a missing pack: each blob fails on its own, with an error naming it', async (t) => {
  const { repo } = await countedRepo(t);
  const blobs = await saveBlobs(repo, 5, 1000);
  const pack = repo.index.get(blobs[0].id)!.pack.id.toString('hex');
  await repo.backend.delete('packs', pack);
  const batch = new BlobBatch(repo, blobs.map((b) => b.id));
  for (const b of blobs) {
    await assert.rejects(batch.get(b.id), (err: Error) => err.message.includes(`Pack ${pack} is missing; blob ${b.id.toString('hex').slice(0, 16)}`));
  }
});
