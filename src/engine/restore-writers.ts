// A pool of restore writer threads (restore-writer-worker.ts) for small files: the content goes
// over in one message and the worker does all of the file's system calls itself.
import { Worker } from 'node:worker_threads';
import type { TreeNode } from '../model/tree.ts';
import { ownerOf, splitNs } from '../sources/files-target.ts';
import type { WriteRequest, WriteResponse } from './restore-writer-worker.ts';

const IS_ROOT = process.getuid?.() === 0;

export class RestoreWriters {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (warnings: string[]) => void; reject: (err: Error) => void }>();
  #next = 1;

  constructor(count: number) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL('./restore-writer-worker.ts', import.meta.url));
      worker.on('message', (res: WriteResponse) => {
        const waiter = this.#pending.get(res.id);
        this.#pending.delete(res.id);
        if (!waiter) return;
        if (res.error) waiter.reject(Object.assign(new Error(res.error.message), { code: res.error.code }));
        else waiter.resolve(res.warnings);
      });
      worker.on('error', (err) => {
        for (const [id, waiter] of this.#pending) {
          this.#pending.delete(id);
          waiter.reject(err);
        }
      });
      this.#workers.push(worker);
    }
  }

  /** Writes a whole file with its metadata; resolves with warnings, rejects with the errno error. */
  write(path: Buffer, parts: Buffer[], node: TreeNode): Promise<string[]> {
    const id = this.#next++;
    const req: WriteRequest = {
      id,
      path,
      parts,
      mode: node.mode,
      owner: IS_ROOT ? ownerOf(node) : undefined,
      mtime: splitNs(BigInt(node.mtimeNs)),
      xattrs: (node.xattrs ?? []).map((x) => [Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64')]),
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#workers[id % this.#workers.length].postMessage(req);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
