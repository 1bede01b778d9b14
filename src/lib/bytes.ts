// Byte helpers shared by layers: hex ids at the edges, human sizes, and parsing of size flags.

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${UNITS[i]}`;
}

/** Parses "123", "10K", "5M", "2GiB", "1.5G" into bytes; undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (!m) return undefined;
  const power = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}

export function isAllZero(buf: Uint8Array): boolean {
  // Buffer.compare against a zero buffer is a memcmp; far faster than a JS loop.
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off);
    if (b.compare(ZEROS, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}

const ZEROS = Buffer.alloc(1 << 16);

/**
 * `bytes` in memory of their own, to transfer to a worker thread: the same memory when they are
 * all of an ArrayBuffer (a file read whole, zstd's output), otherwise a copy. A view into memory
 * others use (Node's small-buffer pool, a bigger read) would be taken from all of them by the
 * transfer. The caller must not use `bytes` afterwards.
 */
export function ownedForTransfer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return spansItsBuffer(bytes) && bytes.byteLength > Buffer.poolSize ? new Uint8Array(bytes.buffer, 0, bytes.byteLength) : new Uint8Array(bytes);
}

/** Whether `view` is all of an ArrayBuffer (not shared memory): a pooled small Buffer is only part of one. */
function spansItsBuffer(view: Uint8Array): view is Uint8Array<ArrayBuffer> {
  return view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
}

/**
 * Frees the memory of `view` at once instead of at the garbage collection that finds it
 * unreachable, by detaching its ArrayBuffer. V8 counts the memory of live ArrayBuffers towards its
 * next full collection, so buffers that pass through in quick succession (a restore's blobs, the
 * packs check reads) made it collect often and kept freed memory mapped: peak RSS 50-140 MiB
 * higher (docs/performance.md). Only a view that spans its whole ArrayBuffer is freed: Node's
 * pooled small Buffers share one, and are left alone. The caller must own the buffer; no other
 * view of it may be used afterwards. Freeing twice is harmless.
 */
export function freeNow(view: Uint8Array): void {
  if (spansItsBuffer(view) && !view.buffer.detached) view.buffer.transfer(0);
}
