// Worker thread: writes whole small files for restore. One message carries several files' contents
// and metadata; every system call for them (create, write, owner, mode, xattrs, times, close)
// happens here, synchronously, and one message answers for all of them. Doing them on the thread
// pool instead costs a round trip each, which on many small files spends more time in thread
// wake-ups than in the file system.
import { closeSync, constants, fchmodSync, fchownSync, openSync, readSync, rmSync, writevSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { freeNow } from '../lib/bytes.ts';
import { decodeSealedBlob, type SealedBlobPlace } from '../repo/blob-decode.ts';
import { nativeFs } from '../sources/native.ts';
import { writeSkippingZeros } from './file-writes.ts';

export interface FileToWrite {
  id: number;
  path: Uint8Array;
  /**
   * The file's parts, which follow the previous file's in the batch's content: plain bytes, or a
   * sealed blob to decode here (`blob`).
   */
  parts: Array<{ length: number; blob?: SealedPart }>;
  mode: number;
  /** Set when running as root: the owner to give the file. */
  owner?: [number, number];
  mtime: [number, number];
  xattrs: Array<[Uint8Array, Uint8Array]>;
}

/** Files to write, and all of their contents one after the other, in one transferred buffer. */
export interface WriteBatch {
  files: FileToWrite[];
  content: Uint8Array;
}

/**
 * A run of a big file's blobs, read from one pack: decrypted, decompressed and written here at
 * each of the file's offsets that hold them (holes left where they are zeros, for a sparse file).
 * The file stays open on the main thread, which sets its metadata once all runs are written.
 */
export interface RunToWrite {
  id: number;
  fd: number;
  /** The run's bytes, or where to read them: a pack on this machine, read here into a buffer kept for the next run. */
  sealed: Uint8Array | { path: string; offset: number; length: number };
  /** The key of the blobs' pack. */
  packKey: Uint8Array;
  blobs: Array<SealedBlobPlace & { blobId: Uint8Array; at: number; storedLength: number; positions: number[] }>;
  sparse: boolean;
}

/** A sealed blob of a small file: decrypted and decompressed by the worker, which has idle time. */
export interface SealedPart extends SealedBlobPlace {
  blobId: Uint8Array;
  packKey: Uint8Array;
}

export interface WriteResult {
  id: number;
  error?: { message: string; code?: string };
  warnings: string[];
  /** A run: the content bytes written. */
  bytes?: number;
  /** A blob did not authenticate, and nothing was written; the main thread reads it again to say what is wrong. */
  damaged?: boolean;
}

const port = parentPort!;

port.on('message', (msg: WriteBatch | RunToWrite) => {
  if ('fd' in msg) {
    port.postMessage([writeRun(msg)]);
    return;
  }
  const batch = msg;
  const results: WriteResult[] = [];
  let at = 0;
  for (const file of batch.files) {
    let damaged = false;
    const parts = file.parts.map(({ length, blob }) => {
      const part = batch.content.subarray(at, at + length);
      at += length;
      if (!blob) return part;
      let plain: Buffer | undefined;
      try {
        plain = decodeSealedBlob(blob.packKey, Buffer.from(blob.blobId), blob, part);
      } catch {
        // authentic but undecodable: the main thread decodes it again and reports what it finds
      }
      damaged ||= plain === undefined;
      return plain ?? part;
    });
    results.push(damaged ? { id: file.id, warnings: [], damaged } : writeFile(file, parts));
    // Written: freed now (lib/bytes.ts says why). Restore of the bench corpus, four interleaved
    // pairs: peak RSS 413 -> 275 MiB (medians), the same time.
    for (const part of parts) freeNow(part); // those decoded here; views of the batch are left alone
  }
  freeNow(batch.content);
  port.postMessage(results);
});

function writeFile(file: FileToWrite, content: Uint8Array[]): WriteResult {
  const warnings: string[] = [];
  let fd = -1;
  try {
    fd = openSync(Buffer.from(file.path), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    writevFully(fd, content);
    if (file.owner) {
      try {
        fchownSync(fd, file.owner[0], file.owner[1]);
      } catch (err) {
        warnings.push(`cannot set owner: ${(err as Error).message}`);
      }
    }
    fchmodSync(fd, file.mode); // after chown, which clears setuid/setgid
    for (const [name, value] of file.xattrs) {
      try {
        nativeFs.fsetxattr(fd, Buffer.from(name), Buffer.from(value));
      } catch (err) {
        warnings.push(`cannot set extended attribute ${Buffer.from(name).toString()}: ${(err as Error).message}`);
      }
    }
    nativeFs.futimens(fd, file.mtime[0], file.mtime[1], file.mtime[0], file.mtime[1]);
    closeSync(fd);
    fd = -1;
    return { id: file.id, warnings };
  } catch (err) {
    if (fd >= 0) {
      closeSync(fd);
      rmSync(Buffer.from(file.path), { force: true }); // a failed file is reported, not left half-written
    }
    const e = err as NodeJS.ErrnoException;
    return { id: file.id, error: { message: e.message, code: e.code }, warnings };
  }
}

function writeRun(run: RunToWrite): WriteResult {
  let bytes = 0;
  let sealed: Uint8Array;
  try {
    sealed = run.sealed instanceof Uint8Array ? run.sealed : readPackRange(run.sealed);
  } catch {
    return { id: run.id, warnings: [], damaged: true }; // read again on the main thread, whose error names the pack
  }
  try {
    const pieces: Array<{ position: number; data: Buffer }> = [];
    for (const blob of run.blobs) {
      const data = decodeSealedBlob(run.packKey, Buffer.from(blob.blobId), blob, sealed.subarray(blob.at, blob.at + blob.storedLength));
      if (!data) return { id: run.id, warnings: [], damaged: true };
      for (const position of blob.positions) {
        if (run.sparse) writeSkippingZeros(run.fd, data, position);
        else pieces.push({ position, data });
        bytes += data.byteLength;
      }
    }
    writeAdjoining(run.fd, pieces);
    for (const { data } of pieces) freeNow(data);
    if (run.sealed instanceof Uint8Array) freeNow(run.sealed); // transferred to this thread
    return { id: run.id, warnings: [], bytes };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { id: run.id, error: { message: e.message, code: e.code }, warnings: [] };
  }
}

/**
 * Writes pieces that follow each other in the file with one writev each: the page cache then gets
 * whole pages (and whole large folios) from one call. Written blob by blob, a blob ending inside a
 * folio the file did not have yet made the kernel zero the rest of it first, which the next blob
 * then overwrote. Restoring the bench corpus, that zeroing went from 4% of the writers' CPU time
 * to 1.8% (perf; what is left is small files' last pages).
 */
function writeAdjoining(fd: number, pieces: Array<{ position: number; data: Buffer }>): void {
  pieces.sort((a, b) => a.position - b.position);
  for (let first = 0; first < pieces.length; ) {
    let end = pieces[first].position + pieces[first].data.byteLength;
    let next = first + 1;
    while (next < pieces.length && pieces[next].position === end) end += pieces[next++].data.byteLength;
    writevFully(fd, pieces.slice(first, next).map((p) => p.data), pieces[first].position);
    first = next;
  }
}

/**
 * Reads a range of a pack into this thread's buffer, used again for every run: on the main thread
 * each run was a new buffer, whose fresh pages the kernel zeroed (7% of the main thread's time).
 */
let runBuffer = Buffer.alloc(0);
function readPackRange({ path, offset, length }: { path: string; offset: number; length: number }): Buffer {
  if (runBuffer.length < length) runBuffer = Buffer.allocUnsafe(Math.max(length, 2 * runBuffer.length));
  const fd = openSync(path, constants.O_RDONLY);
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, runBuffer, done, length - done, offset + done);
      if (n === 0) throw new Error(`short read of ${path}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return runBuffer.subarray(0, length);
}

/** Writes all of `parts` with writev, from `position` (or the file's own offset), as often as it takes. */
function writevFully(fd: number, parts: Uint8Array[], position?: number): void {
  let remaining = parts.reduce((n, p) => n + p.byteLength, 0);
  while (remaining > 0) {
    const written = writevSync(fd, parts, position);
    remaining -= written;
    if (position !== undefined) position += written;
    parts = skip(parts, written);
  }
}

/** The parts after the first `n` bytes (writev may write less than everything). */
function skip(parts: Uint8Array[], n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of parts) {
    if (n >= p.byteLength) {
      n -= p.byteLength;
      continue;
    }
    out.push(n > 0 ? p.subarray(n) : p);
    n = 0;
  }
  return out;
}
