import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BlobIndex } from './blob-index.ts';
import { ENTRY_BYTES, writeEntry } from './pack.ts';

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

test('entry tables added in a bulk load give the same locations as blobs added one by one, from any byte offset', () => {
  const entries = Array.from({ length: 5_000 }, (_, i) => ({ id: randomBytes(32), type: (i % 3 ? 'data' : 'tree') as 'data' | 'tree', compression: i % 2, offset: 2 ** 32 - 1 - i * 7, storedLength: i * 3 + 1, rawLength: 2 ** 31 + i }));
  const table = Buffer.alloc(1 + entries.length * ENTRY_BYTES).subarray(1); // entries at an odd offset, as in an index file
  entries.forEach((e, i) => writeEntry(table, i * ENTRY_BYTES, e));
  const bulk = new BlobIndex(16);
  const one = new BlobIndex(16);
  const packId = randomBytes(32);
  const salt = randomBytes(32);
  bulk.beginBulk();
  bulk.addTable(bulk.addPack(packId, salt), table.subarray(0, 2_000 * ENTRY_BYTES), 2_000);
  bulk.addTable(bulk.addPack(packId, salt), table.subarray(2_000 * ENTRY_BYTES), 3_000);
  bulk.endBulk();
  for (const e of entries) one.add(e.id, one.addPack(packId, salt), e.type, e.compression, e.offset, e.storedLength, e.rawLength);
  assert.equal(bulk.size, entries.length);
  for (const e of entries) assert.deepEqual(bulk.get(e.id), one.get(e.id));
  assert.deepEqual([bulk.packEntryCount(0), bulk.packBlobsEnd(0)], [one.packEntryCount(0), one.packBlobsEnd(0)]);
  assert.equal(bulk.packBlobsEnd(0), 2 ** 32 - 1 + 1, 'the end of the first blob, past 2^32');
});

test('packs are found by id through growth, keep their first number, and each is one object', () => {
  const index = new BlobIndex();
  const ids = Array.from({ length: 3_000 }, () => randomBytes(32));
  ids.forEach((id, p) => assert.equal(index.addPack(id, Buffer.alloc(32, p & 0xff)), p));
  assert.equal(index.addPack(ids[1234], randomBytes(32)), 1234);
  assert.equal(index.packCount, ids.length);
  ids.forEach((id, p) => assert.equal(index.findPack(id), p));
  assert.equal(index.findPack(randomBytes(32)), -1);
  assert.equal(index.hasPack(ids[7].toString('hex')), true);
  assert.equal(index.hasPack(randomBytes(32).toString('hex')), false);
  assert.equal(index.hasPack('not hex'), false);
  assert.deepEqual(index.pack(1234), { id: ids[1234], salt: Buffer.alloc(32, 1234 & 0xff) });
  assert.equal(index.pack(5), index.pack(5), 'caches keyed by the pack object (pack keys) keep working');
  assert.deepEqual(index.packNames(), ids.map((id) => id.toString('hex')));
  assert.throws(() => index.pack(ids.length), RangeError);
});
