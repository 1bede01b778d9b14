import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeAddon } from '../lib/native-addon.ts';
import { LocalBackend } from '../storage/local.ts';
import { fileKeyBytes, nonce, seal, NONCE_BLOB } from './crypto.ts';
import { PACK_HEADER_BYTES } from './pack.ts';
import { verifyPackBytes, type BlobPlace } from './pack-check.ts';
import { Repository } from './repository.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

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
    return [...(await nativeAddon<{ verifyBlobs: Verify }>().verifyBlobs(pack, fileKeyBytes(repo.keys, pack.subarray(8, PACK_HEADER_BYTES)), repo.keys.blobId, idBytes, places))];
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
  assert.match(reported[1].message, /has 5000 bytes, expected 4999/);
  assert.match(reported[5].message, /beyond the end of the pack/);

  // A blob sealed under an id that is not its content's MAC: it authenticates, and is still wrong.
  const forged = Buffer.from(bytes);
  const fakeId = randomBytes(32);
  const [, tiny] = blobs[2];
  forged.set(seal(createSecretKey(fileKeyBytes(repo.keys, bytes.subarray(8, PACK_HEADER_BYTES))), nonce(NONCE_BLOB, tiny.offset), Buffer.from('tiny'), fakeId), tiny.offset);
  assert.deepEqual(await verify(forged, [[fakeId, tiny]]), [4]);
  assert.match((await verifyPackBytes(repo.keys, pack, forged, [[fakeId, tiny]])).find((p) => p.blob)!.message, /content does not match its id/);
});
