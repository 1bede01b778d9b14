import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { deriveRepositoryKeys, fileKeyBytes, blobIdOf, sealWithKeyBytesInto } from './crypto.ts';
import { openBlob, packSalt, readPackHeader, COMPRESSION_NONE } from './pack.ts';
import { PackWriter } from './pack-writer.ts';
import { BlobIndex } from './blob-index.ts';
import { decodeIndex, encodeIndex } from './index-file.ts';

const keys = deriveRepositoryKeys(Buffer.alloc(32, 1));

test('pack round trip: every blob comes back from its offset, and the header lists them all', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), { minLength: 1, maxLength: 20 }), (blobs) => {
      // Each writer's segment goes to the next one.
      const writer = new PackWriter(keys, 'data');
      const ids = blobs.map((b) => blobIdOf(keys, b));
      blobs.forEach((b, i) => writer.add(ids[i], b, COMPRESSION_NONE, b.length));
      const { bytes } = writer.finish();
      writer.release();
      const entries = readPackHeader(keys, bytes.subarray(0, 40), bytes, bytes.length);
      assert.equal(entries.length, blobs.length);
      const key = fileKeyBytes(keys, packSalt(bytes.subarray(0, 40)));
      entries.forEach((e, i) => {
        assert.deepEqual(e.id, ids[i]);
        const plain = openBlob(key, e.id, e.offset, bytes.subarray(e.offset, e.offset + e.storedLength));
        assert.deepEqual(new Uint8Array(plain), blobs[i]);
      });
    }),
    { numRuns: 50 },
  );
});

test('a flipped byte anywhere in a pack makes the blob or header fail authentication', () => {
  const writer = new PackWriter(keys, 'data');
  const data = Buffer.from('some file content '.repeat(50));
  const id = blobIdOf(keys, data);
  writer.add(id, data, COMPRESSION_NONE, data.length);
  const { bytes } = writer.finish();
  for (let at = 8; at < bytes.length - 4; at += 37) {
    const bad = Buffer.from(bytes);
    bad[at] ^= 0x20;
    assert.throws(() => {
      const [e] = readPackHeader(keys, bad.subarray(0, 40), bad, bad.length);
      openBlob(fileKeyBytes(keys, packSalt(bad.subarray(0, 40))), e.id, e.offset, bad.subarray(e.offset, e.offset + e.storedLength));
    }, `flip at ${at} went unnoticed`);
  }
});

test('index file round trip, and the in-memory index finds every blob', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(1 << 24), fc.nat(1 << 20)), { minLength: 1, maxLength: 300 }), (rows) => {
      const pack = { id: Buffer.alloc(32, 9), salt: Buffer.alloc(32, 3), entries: rows.map(([id, offset, len]) => ({ id: Buffer.from(id), type: 'data' as const, compression: 1, offset, storedLength: len + 16, rawLength: len })) };
      const { name, bytes } = encodeIndex(keys, { packs: [pack], supersedes: [Buffer.alloc(32, 4)] });
      const decoded = decodeIndex(keys, name, bytes);
      assert.deepEqual(decoded.packs[0].entries, pack.entries);
      assert.deepEqual(decoded.supersedes, [Buffer.alloc(32, 4)]);
      const index = new BlobIndex(4);
      const p = index.addPack(pack.id, pack.salt);
      for (const e of pack.entries) index.add(e.id, p, e.type, e.compression, e.offset, e.storedLength, e.rawLength);
      for (const e of pack.entries) {
        const first = pack.entries.find((x) => x.id.equals(e.id))!;
        assert.equal(index.get(e.id)?.offset, first.offset);
      }
      assert.equal(index.has(Buffer.alloc(32, 0xee)), pack.entries.some((e) => e.id.equals(Buffer.alloc(32, 0xee))));
    }),
    { numRuns: 50 },
  );
});

test('the blob index grows to many entries and keeps every one', () => {
  const index = new BlobIndex(16);
  const p = index.addPack(Buffer.alloc(32), Buffer.alloc(32));
  const ids: Buffer[] = [];
  for (let i = 0; i < 50_000; i++) {
    const id = blobIdOf(keys, Buffer.from(String(i)));
    ids.push(id);
    index.add(id, p, i % 2 ? 'tree' : 'data', 0, i, i + 16, i);
  }
  assert.equal(index.size, 50_000);
  ids.forEach((id, i) => {
    const loc = index.get(id)!;
    assert.equal(loc.offset, i);
    assert.equal(loc.type, i % 2 ? 'tree' : 'data');
  });
});

test("a writer's parts stay whole until it is released, and the next writer's pack is its own", () => {
  const first = new PackWriter(keys, 'data');
  const a = Buffer.alloc(40_000, 1);
  first.add(blobIdOf(keys, a), a, COMPRESSION_NONE, a.length);
  const { name, parts } = first.finishParts();
  const copy = Buffer.concat(parts);
  first.release();
  const second = new PackWriter(keys, 'data');
  const b = Buffer.alloc(40_000, 2);
  second.add(blobIdOf(keys, b), b, COMPRESSION_NONE, b.length);
  const next = second.finish();
  assert.notEqual(next.name, name);
  const [e] = readPackHeader(keys, copy.subarray(0, 40), copy, copy.length);
  assert.deepEqual(openBlob(fileKeyBytes(keys, packSalt(copy.subarray(0, 40))), e.id, e.offset, copy.subarray(e.offset, e.offset + e.storedLength)), a, 'the first pack, copied before release, still opens');
  const [f] = readPackHeader(keys, next.bytes.subarray(0, 40), next.bytes, next.bytes.length);
  assert.deepEqual(openBlob(fileKeyBytes(keys, packSalt(next.bytes.subarray(0, 40))), f.id, f.offset, next.bytes.subarray(f.offset, f.offset + f.storedLength)), b);
  assert.throws(() => sealWithKeyBytesInto(Buffer.alloc(32), Buffer.alloc(12), b, Buffer.alloc(32), Buffer.alloc(100), 0), RangeError, 'no room: refused, nothing written past the end');
});
