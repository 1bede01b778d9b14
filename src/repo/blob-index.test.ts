import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BlobIndex } from './blob-index.ts';

test('the blob index finds every blob it was given through growth, keeps the first location of a duplicate, and finds no other', () => {
  const index = new BlobIndex(16);
  index.addPack(randomBytes(32), randomBytes(32));
  const ids = Array.from({ length: 50_000 }, () => randomBytes(32));
  ids.forEach((id, i) => index.add(id, 0, 'data', 0, i, 10, 20));
  index.add(ids[5], 0, 'data', 0, 999, 10, 20);
  assert.equal(index.size, ids.length);
  assert.equal(index.packEntryCount(0), ids.length + 1);
  ids.forEach((id, i) => assert.equal(index.get(id)?.offset, i));
  for (let i = 0; i < 1000; i++) assert.equal(index.has(randomBytes(32)), false);
});

test('ids that agree in the bytes the slot and its tag use are still told apart', () => {
  const index = new BlobIndex();
  index.addPack(randomBytes(32), randomBytes(32));
  const a = Buffer.alloc(32, 1);
  const b = Buffer.from(a);
  b[31] = 2;
  index.add(a, 0, 'tree', 0, 1, 1, 1);
  assert.equal(index.has(b), false);
  index.add(b, 0, 'tree', 0, 2, 1, 1);
  assert.equal(index.get(a)?.offset, 1);
  assert.equal(index.get(b)?.offset, 2);
  assert.equal(index.position(b), 1);
});

test('a bulk load finds the same blobs as one-by-one adds, keeps the earlier copy of a duplicate and drops the later ones', () => {
  const ids = Array.from({ length: 30_000 }, () => randomBytes(32));
  const index = new BlobIndex(16);
  const pack = index.addPack(randomBytes(32), randomBytes(32));
  index.beginBulk();
  assert.throws(() => index.has(ids[0]), /bulk load/);
  ids.forEach((id, i) => index.add(id, pack, 'data', 0, i, 10, 20));
  index.add(ids[7], pack, 'data', 0, 1_000_000, 10, 20);
  index.add(ids[7], pack, 'data', 0, 2_000_000, 10, 20);
  index.add(ids[29_999], pack, 'tree', 0, 3_000_000, 10, 20);
  index.endBulk();
  assert.equal(index.size, ids.length);
  assert.equal(index.packEntryCount(pack), ids.length + 3);
  ids.forEach((id, i) => assert.equal(index.get(id)?.offset, i));
  assert.equal(index.get(ids[29_999])?.type, 'data');
  for (let p = 0; p < index.size; p++) assert.equal(index.at(p)[1].offset, p, 'positions are dense after dropping the copies');
  for (let i = 0; i < 1000; i++) assert.equal(index.has(randomBytes(32)), false);
  const more = randomBytes(32);
  index.add(more, pack, 'data', 0, 5, 1, 1);
  assert.equal(index.get(more)?.offset, 5);
});
