// A pool of chunking workers. chunkFile() streams a file's chunks to `onChunk` in order of
// arrival (each carries its index); the returned promise settles when the worker has read the
// whole file and every onChunk call has finished.
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { oncePerTurn } from '../lib/per-turn.ts';
import { compressBound } from '../lib/zstd.ts';
import type { Repository } from '../repo/repository.ts';
import { addIdPrefix, gearTable, idPrefix } from '../repo/repository.ts';

export interface ChunkedFile {
  chunks: number;
  bytesRead: number;
  /** Size, mtime or ctime differed between the start and the end of reading. */
  changed: boolean;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/**
 * A chunk as the worker prepared it: `stored` is zstd-compressed when `compression` is 1, and
 * empty when the repository has the blob already. `stored` is a view of memory the worker writes
 * into again once the promise onChunk returned has settled: copy what must outlive it.
 */
export interface PreparedChunk {
  index: number;
  id: Buffer;
  stored: Buffer;
  compression: number;
  rawLength: number;
}

type OnChunk = (chunk: PreparedChunk) => Promise<void>;
type WorkerMessage = { type: string; job: number; [k: string]: unknown };

interface Job {
  path: Buffer;
  onChunk: OnChunk;
  pending: Set<Promise<void>>;
  failure?: unknown;
  resolve: (r: ChunkedFile) => void;
  reject: (e: unknown) => void;
  worker: Worker | undefined;
  sizeBytes: number;
}

const QUEUED_BYTES_LIMIT = 4 * 1024 * 1024;
const NO_BYTES = Buffer.alloc(0);
/**
 * Each worker's ring of chunks on their way to the main thread (chunk-worker.ts): room for two of
 * the largest chunks in zstd's worst case, 8 MiB with the default chunker. Full backup of the
 * bench corpus, three interleaved runs each: 9 MiB against 16, 4.61 s either way.
 */
function ringBytes(maxChunkBytes: number): number {
  return Math.max(8 * 1024 * 1024, 2 * compressBound(maxChunkBytes));
}
/** Blobs stored during a backup that the workers' table of known ids makes room for (1 MiB of table from empty). */
const KNOWN_ROOM = 65536;
// Enough small files that a worker is still busy while the main thread takes in the results it
// sent in one batch (chunk-worker.ts sends one every 16 items).
const QUEUED_JOBS_LIMIT = 64;
/** Bytes of files to read in a backup after which it may start more than one worker (#grow). */
const GROW_AFTER_BYTES = 128 * 1024 * 1024;
/**
 * About what a worker reads, chunks and hashes in the time the main thread spends on one file
 * (walk, metadata, storing its blobs: 100-150 us). Files smaller than this on average keep the
 * main thread busier than the worker, and more workers only take cores from it.
 */
const WORKER_BYTES_PER_MAIN_FILE = 32 * 1024;

export class ChunkPool {
  readonly #workers: Worker[] = [];
  /** Bytes and jobs handed to each worker and not finished. */
  readonly #load = new Map<Worker, { jobs: number; bytes: number }>();
  readonly #jobs = new Map<number, Job>();
  /** Files waiting for a worker: handed out only when one has little queued, so small files never wait behind a big one. */
  readonly #waiting: Array<{ job: number; path: Buffer; sizeBytes: number }> = [];
  /** Each worker's ring, shared with it. */
  readonly #rings = new Map<Worker, SharedArrayBuffer>();
  /** Pieces of each worker's ring given back since the last ack: acks go once per turn of the event loop. */
  readonly #acks = new Map<Worker, number[]>();
  /** Files submitted in one turn of the event loop go to the workers in one message each. */
  readonly #scheduleDispatch = oncePerTurn(() => this.#dispatch());
  readonly #scheduleAcks = oncePerTurn(() => {
    for (const [w, given] of this.#acks) w.postMessage({ type: 'ack', given });
    this.#acks.clear();
  });
  #nextJob = 1;

  readonly #repo: Repository;
  /** Most workers to run. */
  readonly #size: number;
  /** What a worker starts with (chunk-worker.ts's Init), made once with the first. */
  #init: object | undefined;
  /** Bytes of all the files given to chunkFile. */
  #submittedBytes = 0;
  /** The workers' table of id prefixes (BlobIndex.idPrefixes), and how many more it can take. */
  #known: BigUint64Array | undefined;
  #knownRoom = 0;

  constructor(repo: Repository, workers = Math.max(1, Math.min(4, availableParallelism()))) {
    this.#repo = repo;
    this.#size = workers;
  }

  /**
   * Workers start with the first file that must be read: a backup in which nothing changed
   * never pays for them (each costs start-up time and tens of MiB). The first starts then, the
   * others only once the backup has much to read (#grow).
   */
  #start(): void {
    if (this.#workers.length) return;
    const repo = this.#repo;
    this.#known = repo.index.idPrefixes(KNOWN_ROOM);
    this.#knownRoom = this.#known.length / 2 - repo.index.size;
    this.#init = { gear: gearTable(repo.keys.chunker), params: repo.config.chunker, blobIdKey: repo.keys.blobId, known: this.#known };
    this.#addWorker();
  }

  #addWorker(): Worker {
    // A small young generation: a worker's JavaScript objects are few and short-lived (its data is
    // in ArrayBuffers), and V8 sized it for a big heap. Full backup of the bench corpus, six
    // interleaved pairs: 5.83-5.96 s -> 5.57-5.61 s (medians of three), peak RSS 20-25 MiB less;
    // 100,000 small files, 9.7 -> 9.4 s (one pair).
    const ring = new SharedArrayBuffer(ringBytes(this.#repo.config.chunker.maxBytes));
    const worker = new Worker(new URL('./chunk-worker.ts', import.meta.url), { workerData: { ...this.#init, ring }, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.#rings.set(worker, ring);
    worker.on('message', (msg: { items: WorkerMessage[] }) => {
      for (const item of msg.items) this.#onMessage(worker, item);
      this.#dispatch();
    });
    worker.on('error', (err) => this.#failWorker(worker, err));
    this.#workers.push(worker);
    this.#load.set(worker, { jobs: 0, bytes: 0 });
    return worker;
  }

  /**
   * Another worker, when every one is full, the backup has had enough to read that a worker's
   * start (about 0.1 s of CPU and 25 MiB) pays (half a second of one worker's work), and its files
   * are big enough that the workers, not the main thread, set the pace. Interleaved pairs against
   * two workers from the start: full backup of 100,000 small files (76 MiB) 8.62 -> 7.25 s and
   * 12.95 -> 9.55 user CPU-seconds (three pairs); small-change re-backup of the bench corpus (90 MB
   * read) 1.63 s either way (eight pairs). The full backup of the corpus (764 MB in 18,336 files)
   * takes both: 5.45 s, against 6.07 s with one.
   */
  #grow(): Worker | undefined {
    if (this.#workers.length >= this.#size || this.#submittedBytes < GROW_AFTER_BYTES) return undefined;
    if (this.#submittedBytes < (this.#nextJob - 1) * WORKER_BYTES_PER_MAIN_FILE) return undefined;
    return this.#addWorker();
  }

  /**
   * A blob this backup stored: the workers need not compress it again where it occurs once more
   * (VM images share a fifth of the bench corpus's chunks). Written while the workers read the
   * table (id-prefixes.ts says why that is safe).
   */
  stored(id: Uint8Array): void {
    if (!this.#known || this.#knownRoom <= 0) return; // full enough: a probe must always reach an empty slot
    if (addIdPrefix(this.#known, idPrefix(id))) this.#knownRoom--;
  }

  /** `sizeBytes` (from lstat) lets the pool balance work by bytes rather than by file count. */
  chunkFile(path: Buffer, sizeBytes: number, onChunk: OnChunk): Promise<ChunkedFile> {
    this.#start();
    const job = this.#nextJob++;
    return new Promise<ChunkedFile>((resolve, reject) => {
      this.#jobs.set(job, { path, onChunk, pending: new Set(), resolve, reject, worker: undefined, sizeBytes });
      this.#waiting.push({ job, path, sizeBytes });
      this.#submittedBytes += sizeBytes;
      this.#scheduleDispatch();
    });
  }

  #dispatch(): void {
    const batches = new Map<Worker, Array<{ job: number; path: Buffer }>>();
    while (this.#waiting.length) {
      // A worker takes more only while what it has queued is small: keeps it busy without
      // putting a file behind a big one that another worker could start now.
      const worker = this.#leastLoaded() ?? this.#grow();
      if (!worker) break;
      const next = this.#waiting.shift()!;
      const load = this.#load.get(worker)!;
      load.jobs++;
      load.bytes += next.sizeBytes;
      this.#jobs.get(next.job)!.worker = worker;
      if (!batches.has(worker)) batches.set(worker, []);
      batches.get(worker)!.push({ job: next.job, path: next.path });
    }
    for (const [worker, files] of batches) worker.postMessage({ type: 'files', files });
  }

  /** The worker with the fewest files queued (then bytes) that can take one more, if any. */
  #leastLoaded(): Worker | undefined {
    let best: Worker | undefined;
    for (const w of this.#workers) {
      const load = this.#load.get(w)!;
      if (load.jobs > 0 && (load.bytes >= QUEUED_BYTES_LIMIT || load.jobs >= QUEUED_JOBS_LIMIT)) continue;
      const bestLoad = best && this.#load.get(best)!;
      if (!bestLoad || load.jobs < bestLoad.jobs || (load.jobs === bestLoad.jobs && load.bytes < bestLoad.bytes)) best = w;
    }
    return best;
  }

  #ack(worker: Worker, piece: number): void {
    const given = this.#acks.get(worker);
    if (given) given.push(piece);
    else this.#acks.set(worker, [piece]);
    this.#scheduleAcks();
  }

  #onMessage(worker: Worker, msg: WorkerMessage): void {
    const job = this.#jobs.get(msg.job);
    if (!job) return;
    if (msg.type === 'chunk') {
      const id = Buffer.from(msg.id as Uint8Array);
      const piece = msg.piece as number;
      const chunk = {
        index: msg.index as number,
        id,
        compression: msg.compression as number,
        rawLength: msg.rawLength as number,
      };
      const stored = piece >= 0 ? Promise.resolve(Buffer.from(this.#rings.get(worker)!, msg.start as number, msg.length as number)) : this.#knownChunkBytes(job.path, id, msg.offset as number, chunk.rawLength);
      const p = stored
        .then((bytes) => job.onChunk({ ...chunk, stored: bytes }))
        .catch((err) => {
          job.failure ??= err;
        })
        .finally(() => {
          job.pending.delete(p);
          if (piece >= 0) this.#ack(worker, piece);
        });
      job.pending.add(p);
      return;
    }
    this.#jobs.delete(msg.job);
    const load = this.#load.get(worker)!;
    load.jobs--;
    load.bytes -= job.sizeBytes;
    void Promise.all(job.pending).then(() => {
      if (msg.error !== undefined) job.reject(Object.assign(new Error(msg.error as string), { code: msg.code }));
      else if (job.failure !== undefined) job.reject(job.failure);
      else job.resolve(msg as unknown as ChunkedFile);
    });
  }

  /**
   * The bytes of a chunk the worker sent by name only, its id's prefix being in the table of known
   * ids: none when the repository has it (nearly always), else read back from the file here, and
   * checked against the id the worker computed.
   */
  async #knownChunkBytes(path: Buffer, id: Buffer, offset: number, length: number): Promise<Buffer> {
    if (this.#repo.hasBlob(id)) return NO_BYTES;
    const bytes = Buffer.alloc(length);
    const file = await open(path, 'r');
    try {
      const { bytesRead } = await file.read(bytes, 0, length, offset);
      if (bytesRead === length && this.#repo.blobId(bytes).equals(id)) return bytes;
    } finally {
      await file.close();
    }
    throw new Error('changed while it was read (a part read twice differed)');
  }

  #failWorker(worker: Worker, err: Error): void {
    for (const [id, job] of this.#jobs) {
      if (job.worker === worker) {
        this.#jobs.delete(id);
        job.reject(err);
      }
    }
  }

  /** Workers started so far. */
  get workerCount(): number {
    return this.#workers.length;
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
