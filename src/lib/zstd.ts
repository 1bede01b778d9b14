// zstd for one blob at a time. The native addon keeps one compression and one decompression
// context per thread (native/zstd_blob.c), where node:zlib builds new ones with a stream object
// for every call: level-1 compression of a 64 KiB chunk took 130-190 µs and takes 60-70, of
// 1 MiB 1,300 and 660-720; decompression of 1 MiB 410-840 and 260-290. node:zlib stays for a
// Node.js whose zstd the addon cannot find, a missing build, and input that is not one whole
// frame of the expected size, whose error (or length) it reports as before.
import { constants as zc, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { nativeAddonIfBuilt, type NativeAddon } from './native-addon.ts';

/**
 * Blobs are compressed at level 3: on a real tree of programs and libraries its repository is 9%
 * smaller than level 1's, and smaller than restic's, for about 30% more CPU in a full backup
 * (docs/performance.md). `backup --compression` chooses another level.
 */
export const BLOB_LEVEL = 3;
/** Blobs smaller than this are stored raw. */
export const COMPRESS_FROM_BYTES = 128;
/** A frame is stored instead of the raw bytes only when it saves at least this many. */
export const MUST_SAVE_BYTES = 64;
let native: NativeAddon | null | undefined;

function addon(): NativeAddon | null {
  if (native === undefined) {
    const loaded = nativeAddonIfBuilt();
    native = loaded?.zstdAvailable() ? loaded : null;
  }
  return native;
}

export function compressBlob(data: Uint8Array, level = BLOB_LEVEL): Buffer {
  // The size given up front lets zstd size its tables to the blob (the native call does so itself).
  return addon()?.zstdCompress(data, level) ?? zstdCompressSync(data, { params: { [zc.ZSTD_c_compressionLevel]: level }, pledgedSrcSize: data.byteLength });
}

/** Whether a blob of `rawLength` bytes is worth compressing at all: smaller ones are stored raw. */
export function worthCompressing(rawLength: number): boolean {
  return rawLength >= COMPRESS_FROM_BYTES;
}

/** Whether a frame is stored instead of the raw bytes. */
export function worthStoringCompressed(rawLength: number, frameLength: number): boolean {
  return frameLength < rawLength - MUST_SAVE_BYTES;
}

/** The most a zstd frame of `length` bytes of input can take (ZSTD_COMPRESSBOUND in zstd.h). */
export function compressBound(length: number): number {
  return length + (length >>> 8) + (length < 128 * 1024 ? (128 * 1024 - length) >>> 11 : 0);
}

/** A zstd frame that is not one whole frame of exactly the length promised for it. */
export class DecompressionError extends Error {}

/**
 * A blob's raw bytes from its zstd frame, which must hold exactly rawLength bytes: the frame comes
 * from a repository that may be hostile, so nothing decodes past the length its index promised (a
 * frame of 66 KB can hold gigabytes) and a frame the addon refuses is damage, not a reason to try
 * node:zlib. node:zlib decodes only where the addon is missing, with the same bound.
 */
export function decompressBlob(data: Uint8Array, rawLength: number): Buffer {
  const decoder = addon();
  let raw: Buffer | undefined;
  if (decoder) raw = decoder.zstdDecompress(data, rawLength);
  else {
    try {
      raw = zstdDecompressSync(data, { ...decompressOptions(rawLength), maxOutputLength: Math.max(1, rawLength) });
    } catch (err) {
      throw new DecompressionError(`the zstd frame cannot be decoded (${(err as Error).message})`);
    }
  }
  if (raw?.byteLength !== rawLength) throw new DecompressionError(`the zstd frame does not hold the ${rawLength} bytes its index promises`);
  return raw;
}

/**
 * node:zlib's options for decompressing a blob whose raw length the index gives: the output buffer
 * is sized to it up front, so the blob comes out in one piece instead of pieces joined at the end.
 * A 512 KiB chunk decompresses 22% faster (754 -> 590 µs here), a 1 KiB one 25%.
 */
export function decompressOptions(rawLength: number): { chunkSize: number } {
  return { chunkSize: Math.max(64, rawLength) }; // zlib's smallest chunk is 64 bytes
}

/**
 * The size a zstd frame's header declares for its content (RFC 8878, 3.1.1.1), or undefined when
 * it declares none or is not a frame. zstd writes it whenever the whole input is given at once,
 * as node:zlib's one-call functions do, so a file's payload can be decompressed into one buffer
 * of its size (decompressBlob) instead of in 16 KiB pieces joined at the end.
 */
export function frameContentSize(frame: Uint8Array): number | undefined {
  if (frame.byteLength < 6 || frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) return undefined;
  const descriptor = frame[4];
  const singleSegment = (descriptor >> 5) & 1;
  const sizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6];
  if (sizeBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3]; // after the window and dictionary fields
  if (at + sizeBytes > frame.byteLength) return undefined;
  let size = 0;
  for (let k = sizeBytes - 1; k >= 0; k--) size = size * 256 + frame[at + k];
  return sizeBytes === 2 ? size + 256 : size;
}
