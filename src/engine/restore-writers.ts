// A pool of restore writer threads (restore-writer-worker.ts) for small files: the content goes
// over and the worker does all of the file's system calls itself. Files handed over in one turn
// of the event loop travel to a worker in one message, their contents copied into one buffer that
// is transferred, not cloned: one message per file, its buffers cloned, took a seventh of a
// restore's main thread.
import { Worker } from 'node:worker_threads';
import type { TreeNode } from '../model/tree.ts';
import { ownerOf, splitNs } from '../sources/files-target.ts';
import type { FileToWrite, WriteBatch, WriteResult } from './restore-writer-worker.ts';

const IS_ROOT = process.getuid?.() === 0;
/** A batch is sent at once when its contents reach this size, without waiting for the turn to end. */
const BATCH_BYTES = 4 * 1024 * 1024;

interface Waiter {
  resolve: (warnings: string[]) => void;
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
  #flushScheduled = false;

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./restore-writer-worker.ts', import.meta.url));
      worker.on('message', (results: WriteResult[]) => {
        for (const res of results) {
          const waiter = this.#pending.get(res.id);
          this.#pending.delete(res.id);
          if (!waiter) continue;
          if (res.error) waiter.reject(Object.assign(new Error(res.error.message), { code: res.error.code }));
          else waiter.resolve(res.warnings);
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

  /** Writes a whole file with its metadata; resolves with warnings, rejects with the errno error. */
  write(path: Buffer, parts: Buffer[], node: TreeNode): Promise<string[]> {
    const id = this.#next++;
    const file: FileToWrite = {
      id,
      path,
      partLengths: parts.map((p) => p.byteLength),
      mode: node.mode,
      owner: IS_ROOT ? ownerOf(node) : undefined,
      mtime: splitNs(BigInt(node.mtimeNs)),
      xattrs: (node.xattrs ?? []).map((x) => [Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64')]),
    };
    const worker = id % this.#workers.length;
    const out = this.#outgoing[worker];
    out.files.push({ file, parts });
    out.bytes += file.partLengths.reduce((n, l) => n + l, 0);
    const done = new Promise<string[]>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    if (out.bytes >= BATCH_BYTES) this.#send(worker);
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        for (let w = 0; w < this.#workers.length; w++) this.#send(w);
      });
    }
    return done;
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
