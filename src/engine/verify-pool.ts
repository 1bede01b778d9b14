// check --read-data's workers: one per core verifies whole packs (SHA-256 of the file, the
// header, every blob's decryption, decompression and MAC). A pack on this machine's disks is read
// by its worker, into a buffer it keeps; others are read ahead by the main thread. Memory: a pack
// per worker, plus for remote packs those in flight, at most two per worker.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ownedForTransfer } from '../lib/bytes.ts';
import type { BlobPlace, PackProblem, RepositoryKeys } from '../repo/repository.ts';

export class VerifyPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, { resolve: (p: PackProblem[]) => void; reject: (e: Error) => void; worker: Worker }>();
  readonly #load = new Map<Worker, number>();
  #nextJob = 1;

  constructor(keys: RepositoryKeys, size = Math.max(1, Math.min(4, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./verify-worker.ts', import.meta.url), { workerData: keys });
      worker.on('message', (msg: { job: number; problems: PackProblem[] }) => {
        const job = this.#pending.get(msg.job)!;
        this.#pending.delete(msg.job);
        this.#load.set(worker, this.#load.get(worker)! - 1);
        job.resolve(msg.problems);
      });
      worker.on('error', (err) => {
        for (const [id, job] of this.#pending) if (job.worker === worker) (this.#pending.delete(id), job.reject(err));
      });
      this.#workers.push(worker);
      this.#load.set(worker, 0);
    }
  }

  /** How many packs may be read ahead of the workers. */
  get inFlight(): number {
    return this.#workers.length * 2;
  }

  /**
   * Verifies a pack: read whole (`bytes` is handed over to a worker and must not be used
   * afterwards), or a file on this machine (`path`) that the worker reads itself.
   */
  verify(name: string, pack: Buffer | { path: string }, blobs: Array<[Buffer, BlobPlace]>): Promise<PackProblem[]> {
    const worker = this.#workers.reduce((a, b) => (this.#load.get(b)! < this.#load.get(a)! ? b : a));
    this.#load.set(worker, this.#load.get(worker)! + 1);
    const job = this.#nextJob++;
    const places = blobs.map(([id, l]) => [id, { offset: l.offset, storedLength: l.storedLength, compression: l.compression, rawLength: l.rawLength }]);
    return new Promise((resolve, reject) => {
      this.#pending.set(job, { resolve, reject, worker });
      if (!Buffer.isBuffer(pack)) return worker.postMessage({ job, name, path: pack.path, blobs: places });
      // Handed over without a copy when it can be: copying every pack took 0.4 s of a core in a
      // check of the benchmark corpus, on a machine whose two cores the workers keep busy.
      const owned = ownedForTransfer(pack);
      worker.postMessage({ job, name, bytes: owned, blobs: places }, [owned.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
