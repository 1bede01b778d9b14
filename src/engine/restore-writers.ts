// A pool of restore writer threads (restore-writer-worker.ts) for small files: the content goes
// over and the worker does all of the file's system calls itself. Files handed over in one turn
// of the event loop travel to a worker in one message, their contents copied into one buffer that
// is transferred, not cloned: one message per file, its buffers cloned, took a seventh of a
// restore's main thread.
import { Worker } from 'node:worker_threads';
import { ownedForTransfer } from '../lib/bytes.ts';
import { oncePerTurn } from '../lib/per-turn.ts';
import type { TreeNode } from '../model/tree.ts';
import { ownerOf, splitNs } from '../sources/files-target.ts';
import type { FileToWrite, RunToWrite, SealedPart, WriteBatch, WriteResult } from './restore-writer-worker.ts';

const IS_ROOT = process.getuid?.() === 0;
/** A batch is sent at once when its contents reach this size, without waiting for the turn to end. */
const BATCH_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: (result: WriteResult) => void;
  reject: (err: Error) => void;
}

interface Outgoing {
  files: Array<{ file: FileToWrite; parts: Buffer[] }>;
  bytes: number;
}

export class RestoreWriters {
  readonly #workers: Worker[] = [];
  readonly #outgoing: Outgoing[] = [];
  readonly #pending = new Map<number, Waiter>();
  #next = 1;
  readonly #sendAll = oncePerTurn(() => {
    for (let w = 0; w < this.#workers.length; w++) this.#send(w);
  });

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./restore-writer-worker.ts', import.meta.url));
      worker.on('message', (results: WriteResult[]) => {
        for (const res of results) {
          const waiter = this.#pending.get(res.id);
          this.#pending.delete(res.id);
          if (!waiter) continue;
          if (res.error) waiter.reject(Object.assign(new Error(res.error.message), { code: res.error.code }));
          else waiter.resolve(res);
        }
      });
      worker.on('error', (err) => {
        for (const [id, waiter] of this.#pending) {
          this.#pending.delete(id);
          waiter.reject(err);
        }
      });
      this.#workers.push(worker);
      this.#outgoing.push({ files: [], bytes: 0 });
    }
  }

  /**
   * Writes a whole file with its metadata; resolves with warnings, or undefined when a sealed part
   * did not authenticate (nothing was written); rejects with the errno error.
   */
  write(path: Buffer, parts: Array<Buffer | { sealed: Buffer; blob: SealedPart }>, node: TreeNode): Promise<string[] | undefined> {
    const id = this.#next++;
    const bytes = parts.map((p) => (p instanceof Uint8Array ? p : p.sealed));
    const file: FileToWrite = {
      id,
      path,
      parts: parts.map((p) => (p instanceof Uint8Array ? { length: p.byteLength } : { length: p.sealed.byteLength, blob: p.blob })),
      mode: node.mode,
      owner: IS_ROOT ? ownerOf(node) : undefined,
      mtime: splitNs(BigInt(node.mtimeNs)),
      xattrs: (node.xattrs ?? []).map((x) => [Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64')]),
    };
    const worker = id % this.#workers.length;
    const out = this.#outgoing[worker];
    out.files.push({ file, parts: bytes });
    out.bytes += bytes.reduce((n, p) => n + p.byteLength, 0);
    const done = this.#result(id).then((res) => (res.damaged ? undefined : res.warnings));
    if (out.bytes >= BATCH_BYTES) this.#send(worker);
    else this.#sendAll();
    return done;
  }

  /**
   * Decodes a run of a big file's blobs and writes them at their positions in the open file `fd`.
   * Resolves with the bytes written, or undefined when a blob did not authenticate or the run could
   * not be read. `sealed` (the run's bytes, or where the writer reads them) is handed over: the
   * caller must not use it afterwards.
   */
  async writeRun(fd: number, sealed: Buffer | Exclude<RunToWrite['sealed'], Uint8Array>, packKey: Buffer, blobs: RunToWrite['blobs'], sparse: boolean): Promise<number | undefined> {
    const id = this.#next++;
    const owned = sealed instanceof Uint8Array ? ownedForTransfer(sealed) : sealed;
    const run: RunToWrite = { id, fd, sealed: owned, packKey, blobs, sparse };
    const done = this.#result(id);
    this.#workers[id % this.#workers.length].postMessage(run, owned instanceof Uint8Array ? [owned.buffer] : []);
    const result = await done;
    return result.damaged ? undefined : result.bytes;
  }

  #result(id: number): Promise<WriteResult> {
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  #send(worker: number): void {
    const out = this.#outgoing[worker];
    if (out.files.length === 0) return;
    const content = new Uint8Array(out.bytes);
    let at = 0;
    for (const { parts } of out.files) {
      for (const p of parts) {
        content.set(p, at);
        at += p.byteLength;
      }
    }
    const batch: WriteBatch = { files: out.files.map((f) => f.file), content };
    this.#outgoing[worker] = { files: [], bytes: 0 };
    this.#workers[worker].postMessage(batch, [content.buffer]);
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
