// Worker thread: reads one file at a time, splits it with the repository's chunker, names each
// chunk by its keyed MAC, compresses it, and hands it to the main thread (transferring the bytes).
// Compressing here, before the main thread knows whether the blob is new, would waste work on
// the unchanged parts of changed files; a table of the repository's id prefixes (shared memory)
// tells the worker which chunks it need not compress. Unchanged files are never read at all.
// At most WINDOW_BYTES of chunks are in flight: the main thread acks the bytes it has stored,
// which bounds memory whatever the file size. Messages go both ways in batches: a tree of small
// files cost four postMessage calls per file, and the main thread spent a fifth of its time there.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { ownedForTransfer } from '../lib/bytes.ts';
import { lowerThreadPriority } from '../lib/thread-priority.ts';
import { compressBlob } from '../lib/zstd.ts';
// The chunker alone, not the repository: a worker should not load zod and the whole repo layer.
import { Chunker, hasIdPrefix, idPrefix, macBlob } from '../repo/chunker.ts';

interface Init {
  gear: Uint32Array;
  params: { minBytes: number; avgBytes: number; maxBytes: number };
  blobIdKey: Uint8Array;
  /** Id prefixes of the blobs the repository had when the backup started (BlobIndex.idPrefixes). */
  known: BigUint64Array;
}
type Request = { type: 'files'; files: Array<{ job: number; path: Uint8Array }> } | { type: 'ack'; bytes: number };

const WINDOW_BYTES = 16 * 1024 * 1024;
const OUTBOX_ITEMS = 16;
const OUTBOX_BYTES = 4 * 1024 * 1024;
lowerThreadPriority(); // the main thread, which feeds this one, goes first
const init = workerData as Init;
const chunker = new Chunker(init.gear, init.params);
const port = parentPort!;
let unacked = 0;
let wake: (() => void) | undefined;

port.on('message', (msg: Request) => {
  if (msg.type === 'ack') {
    unacked -= msg.bytes;
    wake?.();
  } else {
    for (const { job, path } of msg.files) queue.push(() => processFile(job, Buffer.from(path)));
    if (!busy) void drain();
  }
});

async function waitForRoom(bytes: number): Promise<void> {
  while (unacked > 0 && unacked + bytes > WINDOW_BYTES) {
    flush();
    await new Promise<void>((resolve) => (wake = resolve));
  }
  unacked += bytes;
}

const outbox: unknown[] = [];
const transfers: ArrayBuffer[] = [];
let outboxBytes = 0;

function send(msg: unknown, transfer?: ArrayBuffer): void {
  outbox.push(msg);
  if (transfer) {
    transfers.push(transfer);
    outboxBytes += transfer.byteLength;
  }
  if (outbox.length >= OUTBOX_ITEMS || outboxBytes >= OUTBOX_BYTES) flush();
}

function flush(): void {
  if (outbox.length === 0) return;
  port.postMessage({ type: 'batch', items: outbox.splice(0) }, transfers.splice(0));
  outboxBytes = 0;
}

/** Whether the repository (almost surely) has this blob already: then it is not worth compressing. */
function known(id: Buffer): boolean {
  return hasIdPrefix(init.known, idPrefix(id));
}

function emit(job: number, index: number, data: Buffer): void {
  const id = macBlob(init.blobIdKey, data);
  let stored: Uint8Array = data;
  let compression = 0;
  if (data.length >= 128 && !known(id)) {
    const packed = compressBlob(data);
    if (packed.length < data.length - 64) {
      stored = packed;
      compression = 1;
    }
  }
  // Transfer, not copy, where zstd's output owns its memory; a raw chunk is a view of the read
  // buffer, which is used again for the next read, and is copied.
  const owned = stored === data ? new Uint8Array(data) : ownedForTransfer(stored);
  send({ type: 'chunk', job, index, id, data: owned, compression, rawLength: data.length }, owned.buffer);
}

// One read buffer per worker, reused for every file: room for two maximal chunks.
const readBuffer = Buffer.allocUnsafe(Math.max(init.params.maxBytes * 2, 4 << 20));

const queue: Array<() => Promise<void>> = [];
let busy = false;

// One file at a time per worker; the pool sends several only to keep the pipe full.
async function drain(): Promise<void> {
  busy = true;
  while (queue.length) await queue.shift()!();
  flush();
  busy = false;
}

async function processFile(job: number, path: Buffer): Promise<void> {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const before = fstatSync(fd, { bigint: true });
    const buf = readBuffer;
    let len = 0;
    let eof = false;
    let index = 0;
    let bytesRead = 0;
    while (!eof || len > 0) {
      while (!eof && len < buf.length) {
        const n = readSync(fd, buf, len, buf.length - len, null);
        if (n === 0) eof = true;
        len += n;
        bytesRead += n;
      }
      let start = 0;
      for (;;) {
        const cut = chunker.nextCut(buf, start, len, eof);
        if (cut < 0 || cut === start) break;
        await waitForRoom(cut - start);
        emit(job, index++, buf.subarray(start, cut));
        start = cut;
        if (start === len) break;
      }
      buf.copy(buf, 0, start, len);
      len -= start;
      if (eof && len === 0) break;
    }
    const after = fstatSync(fd, { bigint: true });
    const changed = after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs || BigInt(bytesRead) !== after.size;
    send({ type: 'done', job, chunks: index, bytesRead, changed, size: Number(after.size), mtimeNs: after.mtimeNs.toString(), ctimeNs: after.ctimeNs.toString() });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    send({ type: 'done', job, error: e.message, code: e.code });
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
