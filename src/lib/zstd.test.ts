import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { constants as zc, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { nativeAddon } from './native-addon.ts';
import { compressBlob, compressBound, decompressBlob, frameContentSize, DecompressionError } from './zstd.ts';

function sample(bytes: number): Buffer {
  const text = Buffer.from('a blob of some repeating text, '.repeat(Math.ceil(bytes / 62)));
  return Buffer.concat([text, randomBytes(bytes)]).subarray(0, bytes);
}

test('the native zstd is there, and its frames are plain zstd both ways', () => {
  assert.equal(nativeAddon().zstdAvailable(), true, "the pinned Node.js exports zstd's functions");
  for (const size of [0, 1, 128, 4096, 65_536, 3 * 1024 * 1024 + 7]) {
    const data = sample(size);
    const packed = compressBlob(data);
    assert.deepEqual(zstdDecompressSync(packed), data, `node:zlib reads the addon's frame of ${size} bytes`);
    assert.deepEqual(decompressBlob(zstdCompressSync(data), size), data, `the addon reads node:zlib's frame of ${size} bytes`);
    // A view into a bigger buffer, as blobs are in a pack.
    const inPack = Buffer.concat([randomBytes(33), packed, randomBytes(5)]).subarray(33, 33 + packed.length);
    assert.deepEqual(decompressBlob(inPack, size), data);
  }
});

test('a frame of another size than promised is refused, and a damaged one throws', () => {
  const data = sample(10_000);
  const packed = compressBlob(data);
  assert.throws(() => decompressBlob(packed, 9_999), DecompressionError);
  assert.throws(() => decompressBlob(packed, 10_001), DecompressionError);
  const damaged = Buffer.from(packed);
  damaged[damaged.length >> 1] ^= 0xff;
  damaged[4] ^= 0xff;
  assert.throws(() => decompressBlob(damaged, 10_000));
  assert.throws(() => decompressBlob(Buffer.from('not zstd at all'), 15));
});

test('a decompression bomb is refused without decoding past the promised length', () => {
  // 64 MiB of zeros in a few KB; a hostile index can promise 1,000 bytes for it. The decoder writes
  // into a buffer of the promised size and stops there.
  const bomb = zstdCompressSync(Buffer.alloc(64 << 20), { params: { [zc.ZSTD_c_compressionLevel]: 1 } });
  assert.ok(bomb.length < 64 * 1024);
  assert.throws(() => decompressBlob(bomb, 1000), DecompressionError);
  assert.throws(() => decompressBlob(bomb, (64 << 20) - 1), DecompressionError);
  assert.equal(decompressBlob(bomb, 64 << 20).length, 64 << 20);
});

test('worker threads keep contexts of their own', async () => {
  const data = sample(200_000);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then(({ compressBlob, decompressBlob }) => {
      const out = [];
      for (let i = 0; i < 20; i++) out.push(decompressBlob(compressBlob(workerData.data), workerData.data.length).equals(workerData.data));
      parentPort.postMessage(out.every(Boolean));
    });`;
  const url = new URL('./zstd.ts', import.meta.url).href;
  const results = await Promise.all(
    [1, 2, 3].map(
      () =>
        new Promise((resolve, reject) => {
          const worker = new Worker(code, { eval: true, workerData: { url, data } });
          worker.once('message', (ok) => (resolve(ok), void worker.terminate()));
          worker.once('error', reject);
        }),
    ),
  );
  for (let i = 0; i < 20; i++) assert.deepEqual(decompressBlob(compressBlob(data), data.length), data);
  assert.deepEqual(results, [true, true, true]);
});

test("a frame's declared content size is read from each form of its header", () => {
  // Sizes that take each width of the field (1, 2, 4 bytes, the single-segment forms and the one with a window byte).
  for (const size of [0, 10, 255, 256, 1000, 65_791, 65_792, 300_000, 5_000_000]) {
    const frame = zstdCompressSync(sample(size));
    assert.equal(frameContentSize(frame), size, `${size} bytes`);
  }
  const streamed = zstdCompressSync(sample(1000), { params: { [zc.ZSTD_c_contentSizeFlag]: 0 } });
  assert.equal(frameContentSize(streamed), undefined, 'a frame that declares no size');
  assert.equal(frameContentSize(Buffer.from('not a zstd frame')), undefined);
  assert.equal(frameContentSize(zstdCompressSync(sample(300_000)).subarray(0, 7)), undefined, 'a header cut short');
});
