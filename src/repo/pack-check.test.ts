import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeAddon } from '../lib/native-addon.ts';
import { LocalBackend } from '../storage/local.ts';
import { fileKeyBytes, nonce, seal, NONCE_BLOB } from './crypto.ts';
import { PACK_HEADER_BYTES } from './pack.ts';
import { verifyPackBytes, verifyPackFile, type BlobPlace } from './pack-check.ts';
import { Repository } from './repository.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

type VerifyFile = (fd: number, packKey: Uint8Array, macKey: Uint8Array, ids: Uint8Array, places: Float64Array, status: Uint8Array, digest: Uint8Array, tail: Uint8Array) => Promise<number>;
type Verify = (pack: Uint8Array, packKey: Uint8Array, macKey: Uint8Array, ids: Uint8Array, places: Float64Array) => Promise<Uint8Array>;

test('the native blob loop finds exactly the blobs that are whole, and check names each damaged one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-packcheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new LocalBackend(dir), 'pw');
  // Compressed and stored raw (random bytes do not compress), tiny and large.
  const contents = [Buffer.from('x'.repeat(5000)), randomBytes(3000), Buffer.from('tiny'), Buffer.from('a line of text\n'.repeat(40_000)), randomBytes(200)];
  const ids = [];
  for (const data of contents) ids.push((await repo.saveBlob('data', data)).id);
  await repo.flush();
  const pack = repo.index.get(ids[0])!.pack.id.toString('hex');
  const bytes = await repo.backend.read('packs', pack);
  const blobs: Array<[Buffer, BlobPlace]> = ids.map((id) => [id, repo.index.get(id)!]);
  assert.ok(blobs.some(([, l]) => l.compression === 1) && blobs.some(([, l]) => l.compression === 0), 'both kinds of blob are in the pack');
  assert.deepEqual(await verifyPackBytes(repo.keys, pack, bytes, blobs), []);

  const verify = async (pack: Buffer, entries: Array<[Buffer, BlobPlace]>): Promise<number[]> => {
    const idBytes = Buffer.concat(entries.map(([id]) => id));
    const places = new Float64Array(entries.flatMap(([, l]) => [l.offset, l.storedLength, l.compression, l.rawLength]));
    return [...(await nativeAddon().verifyBlobs(pack, fileKeyBytes(repo.keys, pack.subarray(8, PACK_HEADER_BYTES)), repo.keys.blobId, idBytes, places))];
  };
  assert.deepEqual(await verify(bytes, blobs), [0, 0, 0, 0, 0]);

  // One byte flipped in each blob in turn: that blob only, natively and in check's report.
  for (let i = 0; i < blobs.length; i++) {
    const damaged = Buffer.from(bytes);
    damaged[blobs[i][1].offset + (blobs[i][1].storedLength >> 1)] ^= 0x01;
    assert.deepEqual((await verify(damaged, blobs)).map((s) => s !== 0), blobs.map((_, j) => j === i), `blob ${i} damaged`);
    const problems = (await verifyPackBytes(repo.keys, pack, damaged, blobs)).filter((p) => p.blob);
    assert.deepEqual(problems.map((p) => p.blob), [ids[i].toString('hex')]);
    assert.match(problems[0].message, /is damaged: .*(authenticat|damaged)/i);
  }

  // What the index may say wrongly: another id, a raw length one off, the wrong compression flag,
  // a place beyond the end of the pack.
  const [id0, l0] = blobs[0];
  const wrongs: Array<[Buffer, BlobPlace]> = [
    [blobs[1][0], l0],
    [id0, { ...l0, rawLength: l0.rawLength - 1 }],
    [id0, { ...l0, rawLength: l0.rawLength + 1 }],
    [id0, { ...l0, compression: 0 }],
    [blobs[1][0], { ...blobs[1][1], compression: 1 }],
    [id0, { ...l0, offset: bytes.length - 10 }],
  ];
  assert.deepEqual((await verify(bytes, wrongs)).map((s) => s !== 0), [true, true, true, true, true, true]);
  const reported = (await verifyPackBytes(repo.keys, pack, bytes, wrongs)).filter((p) => p.blob);
  assert.equal(reported.length, wrongs.length, 'node:crypto finds the same six wrong, and words each');
  assert.match(reported[1].message, /the zstd frame does not hold the 4999 bytes its index promises/);
  assert.match(reported[5].message, /beyond the end of the pack/);

  // A blob sealed under an id that is not its content's MAC: it authenticates, and is still wrong.
  const forged = Buffer.from(bytes);
  const fakeId = randomBytes(32);
  const [, tiny] = blobs[2];
  forged.set(seal(createSecretKey(fileKeyBytes(repo.keys, bytes.subarray(8, PACK_HEADER_BYTES))), nonce(NONCE_BLOB, tiny.offset), Buffer.from('tiny'), fakeId), tiny.offset);
  assert.deepEqual(await verify(forged, [[fakeId, tiny]]), [4]);
  assert.match((await verifyPackBytes(repo.keys, pack, forged, [[fakeId, tiny]])).find((p) => p.blob)!.message, /content does not match its id/);
});

test('a pack verified as its file is read says what the pack read whole says: big blobs across reads, a header past the tail, damage, truncation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-packfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), 'pw');
  // Blobs of up to 3.5 MiB (random: stored raw) between small ones, so that blobs cross the 1 MiB
  // reads and the window slides; then 2,000 tiny blobs, whose header (92 KiB) is longer than the
  // tail the native loop keeps for a pack the index says has fewer entries.
  const big = [randomBytes(3.5 * 1024 * 1024), Buffer.from('big text line\n'.repeat(200_000)), randomBytes(2.2 * 1024 * 1024)];
  const ids: Buffer[] = [];
  for (const data of [Buffer.from('first'), big[0], Buffer.from('middle'), big[1], big[2], Buffer.from('last')]) ids.push((await repo.saveBlob('data', data)).id);
  await repo.flush();
  const tinyIds: Buffer[] = [];
  for (let i = 0; i < 2000; i++) tinyIds.push((await repo.saveBlob('data', Buffer.from(`tiny blob ${i}`))).id);
  await repo.flush();

  let n = 0;
  const bothWays = async (name: string, bytes: Buffer, blobs: Array<[Buffer, BlobPlace]>, what: string) => {
    const path = join(dir, `pack-${n++}`);
    writeFileSync(path, bytes);
    const whole = await verifyPackBytes(repo.keys, name, bytes, blobs);
    assert.deepEqual(await verifyPackFile(repo.keys, name, path, blobs), whole, what);
    return whole;
  };
  const packOf = async (id: Buffer) => {
    const name = repo.index.get(id)!.pack.id.toString('hex');
    return { name, bytes: await repo.backend.read('packs', name) };
  };

  const bigPack = await packOf(ids[1]);
  const blobs: Array<[Buffer, BlobPlace]> = ids.map((id) => [id, repo.index.get(id)!]);
  assert.equal(new Set(ids.map((id) => repo.index.get(id)!.pack)).size, 1, 'the big blobs share one pack');
  assert.ok(bigPack.bytes.length > 5.5 * 1024 * 1024, 'bigger than the window: the largest blob and 1 MiB');
  assert.deepEqual(await bothWays(bigPack.name, bigPack.bytes, blobs, 'intact'), []);
  // The native loop itself, not node:crypto behind it (which would hide its mistakes): every
  // blob whole, the file's hash, its last bytes.
  const native = async (bytes: Buffer, entries: Array<[Buffer, BlobPlace]>, tailBytes: number) => {
    const path = join(dir, `native-${n++}`);
    writeFileSync(path, bytes);
    const status = new Uint8Array(entries.length);
    const digest = Buffer.alloc(32);
    const tail = Buffer.alloc(tailBytes);
    const fd = openSync(path, 'r');
    try {
      const ids = Buffer.concat(entries.map(([id]) => id));
      const places = new Float64Array(entries.flatMap(([, l]) => [l.offset, l.storedLength, l.compression, l.rawLength]));
      const read = await nativeAddon().packVerifyFile(fd, fileKeyBytes(repo.keys, bytes.subarray(8, PACK_HEADER_BYTES)), repo.keys.blobId, ids, places, status, digest, tail);
      return { read, status: [...status], digest: digest.toString('hex'), tail };
    } finally {
      closeSync(fd);
    }
  };
  const got = await native(bigPack.bytes, [...blobs].reverse(), 100);
  assert.deepEqual(got.status, blobs.map(() => 0), 'every blob verified in the native loop, across the window\'s slides');
  assert.deepEqual([got.read, got.digest], [bigPack.bytes.length, bigPack.name]);
  assert.deepEqual(got.tail, bigPack.bytes.subarray(-100));
  const flipped = Buffer.from(bigPack.bytes);
  flipped[blobs[3][1].offset + 7] ^= 1;
  assert.deepEqual((await native(flipped, blobs, 10)).status, blobs.map((_, i) => (i === 3 ? 2 : 0)), 'only the flipped blob fails to authenticate');
  const short = await native(bigPack.bytes.subarray(0, 50), blobs, 64);
  assert.deepEqual([short.read, short.status, short.tail.subarray(14)], [50, blobs.map(() => 1), bigPack.bytes.subarray(0, 50)], 'a file shorter than its tail: out of range, right-aligned');
  // The index's entries in another order than the pack's: the loop sorts them by offset.
  assert.deepEqual(await bothWays(bigPack.name, bigPack.bytes, [...blobs].reverse(), 'entries in reverse'), []);

  for (const i of [1, 4, 5]) {
    const damaged = Buffer.from(bigPack.bytes);
    damaged[blobs[i][1].offset + blobs[i][1].storedLength - 20] ^= 0x40;
    const problems = await bothWays(bigPack.name, damaged, blobs, `blob ${i} flipped`);
    assert.deepEqual(problems.filter((p) => p.blob).map((p) => p.blob), [ids[i].toString('hex')]);
    assert.ok(problems.some((p) => /hash mismatch/.test(p.message)));
  }
  // Cut inside the 2.2 MiB blob: it and the last are beyond the end, the header is gone.
  const cut = bigPack.bytes.subarray(0, blobs[4][1].offset + 1000);
  const truncated = await bothWays(bigPack.name, cut, blobs, 'truncated');
  assert.deepEqual(truncated.filter((p) => p.blob).map((p) => p.blob), [ids[4], ids[5]].map((id) => id.toString('hex')));
  assert.ok(truncated.filter((p) => p.blob).every((p) => /beyond the end of the pack/.test(p.message)));
  assert.ok(truncated.some((p) => /header is damaged/.test(p.message)));
  // Shorter than a pack's lead, and empty.
  assert.ok((await bothWays(bigPack.name, bigPack.bytes.subarray(0, 20), blobs, 'a stub')).length > blobs.length);
  assert.ok((await bothWays(bigPack.name, Buffer.alloc(0), blobs, 'empty')).length > blobs.length);

  const tinyPack = await packOf(tinyIds[0]);
  const tiny: Array<[Buffer, BlobPlace]> = tinyIds.map((id) => [id, repo.index.get(id)!]);
  assert.deepEqual(await bothWays(tinyPack.name, tinyPack.bytes, tiny, 'a header of 2,000 entries'), []);
  assert.deepEqual(await bothWays(tinyPack.name, tinyPack.bytes, tiny.slice(0, 10), 'ten of its 2,000 blobs asked for'), []);
});
