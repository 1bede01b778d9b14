// Writing restored content at an offset: fully (short writes are retried), and sparse-aware.
import { writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAllZero } from '../lib/bytes.ts';

/** On the thread pool, so the main thread decrypts the next blobs while the kernel copies this one. */
export async function writeFullyAsync(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) done += (await fh.write(data, done, data.byteLength - done, position + done)).bytesWritten;
}

/** Writes data[from, to) at `position`, retrying short writes. */
export function writeFully(fd: number, data: Uint8Array, from: number, to: number, position: number): void {
  let done = from;
  while (done < to) done += writeSync(fd, data, done, to - done, position + done - from);
}

const HOLE_BLOCK = 4096;

/** Writes `data` at `position` but leaves every all-zero 4 KiB block (file-aligned) as a hole. */
export function writeSkippingZeros(fd: number, data: Uint8Array, position: number): void {
  let runStart = -1;
  let at = 0;
  while (at < data.byteLength) {
    const blockEnd = Math.min(data.byteLength, at + HOLE_BLOCK - ((position + at) % HOLE_BLOCK));
    const zero = isAllZero(data.subarray(at, blockEnd));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      writeFully(fd, data, runStart, at, position + runStart);
      runStart = -1;
    }
    at = blockEnd;
  }
  if (runStart >= 0) writeFully(fd, data, runStart, data.byteLength, position + runStart);
}

