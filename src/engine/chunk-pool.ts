// A pool of chunking workers. chunkFile() streams a file's chunks to `onChunk` in order of
// arrival (each carries its index); the returned promise settles when the worker has read the
// whole file and every onChunk call has finished.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Repository } from '../repo/repository.ts';
import { gearTable } from '../repo/repository.ts';

export interface ChunkedFile {
  chunks: number;
  bytesRead: number;
  /** Size, mtime or ctime differed between the start and the end of reading. */
  changed: boolean;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** A chunk as the worker prepared it: `stored` is zstd-compressed when `compression` is 1. */
export interface PreparedChunk {
  index: number;
  id: Buffer;
  stored: Buffer;
  compression: number;
  rawLength: number;
}

type OnChunk = (chunk: PreparedChunk) => Promise<void>;

interface Job {
  onChunk: OnChunk;
  pending: Set<Promise<void>>;
  failure?: unknown;
  resolve: (r: ChunkedFile) => void;
  reject: (e: unknown) => void;
  worker: Worker | undefined;
  sizeBytes: number;
}

const QUEUED_BYTES_LIMIT = 4 * 1024 * 1024;
const QUEUED_JOBS_LIMIT = 16;

export class ChunkPool {
  readonly #workers: Worker[] = [];
  /** Bytes and jobs handed to each worker and not finished. */
  readonly #load = new Map<Worker, { jobs: number; bytes: number }>();
  readonly #jobs = new Map<number, Job>();
  /** Files waiting for a worker: handed out only when one has little queued, so small files never wait behind a big one. */
  readonly #waiting: Array<{ job: number; path: Buffer; sizeBytes: number }> = [];
  #nextJob = 1;

  readonly #repo: Repository;
  readonly #size: number;

  constructor(repo: Repository, workers = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#repo = repo;
    this.#size = workers;
  }

  /**
   * Workers start with the first file that must be read: a backup in which nothing changed
   * never pays for them (each costs start-up time and tens of MiB).
   */
  #start(): void {
    if (this.#workers.length) return;
    const repo = this.#repo;
    const init = { gear: gearTable(repo.keys.chunker), params: repo.config.chunker, blobIdKey: repo.keys.blobId, known: repo.index.idPrefixes() };
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(new URL('./chunk-worker.ts', import.meta.url), { workerData: init });
      worker.on('message', (msg) => this.#onMessage(worker, msg));
      worker.on('error', (err) => this.#failWorker(worker, err));
      this.#workers.push(worker);
      this.#load.set(worker, { jobs: 0, bytes: 0 });
    }
  }

  /** `sizeBytes` (from lstat) lets the pool balance work by bytes rather than by file count. */
  chunkFile(path: Buffer, sizeBytes: number, onChunk: OnChunk): Promise<ChunkedFile> {
    this.#start();
    const job = this.#nextJob++;
    return new Promise<ChunkedFile>((resolve, reject) => {
      this.#jobs.set(job, { onChunk, pending: new Set(), resolve, reject, worker: undefined, sizeBytes });
      this.#waiting.push({ job, path, sizeBytes });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#waiting.length) {
      // A worker takes more only while what it has queued is small: keeps it busy without
      // putting a file behind a big one that another worker could start now.
      const worker = this.#workers.find((w) => this.#load.get(w)!.jobs === 0) ?? this.#workers.find((w) => this.#load.get(w)!.bytes < QUEUED_BYTES_LIMIT && this.#load.get(w)!.jobs < QUEUED_JOBS_LIMIT);
      if (!worker) return;
      const next = this.#waiting.shift()!;
      const load = this.#load.get(worker)!;
      load.jobs++;
      load.bytes += next.sizeBytes;
      this.#jobs.get(next.job)!.worker = worker;
      worker.postMessage({ type: 'file', job: next.job, path: next.path });
    }
  }

  #onMessage(worker: Worker, msg: { type: string; job: number; [k: string]: unknown }): void {
    const job = this.#jobs.get(msg.job);
    if (!job) return;
    if (msg.type === 'chunk') {
      const data = msg.data as Uint8Array;
      const chunk: PreparedChunk = {
        index: msg.index as number,
        id: Buffer.from(msg.id as Uint8Array),
        stored: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
        compression: msg.compression as number,
        rawLength: msg.rawLength as number,
      };
      const p = job.onChunk(chunk)
        .catch((err) => {
          job.failure ??= err;
        })
        .finally(() => {
          job.pending.delete(p);
          worker.postMessage({ type: 'ack', job: msg.job });
        });
      job.pending.add(p);
      return;
    }
    this.#jobs.delete(msg.job);
    const load = this.#load.get(worker)!;
    load.jobs--;
    load.bytes -= job.sizeBytes;
    this.#dispatch();
    void Promise.all(job.pending).then(() => {
      if (msg.error !== undefined) job.reject(Object.assign(new Error(msg.error as string), { code: msg.code }));
      else if (job.failure !== undefined) job.reject(job.failure);
      else job.resolve(msg as unknown as ChunkedFile);
    });
  }

  #failWorker(worker: Worker, err: Error): void {
    for (const [id, job] of this.#jobs) {
      if (job.worker === worker) {
        this.#jobs.delete(id);
        job.reject(err);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
