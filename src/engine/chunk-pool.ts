// Reading files for a backup: chunkFile() streams a file's chunks to `onChunk` in order of arrival
// (each carries its index); the returned promise settles when the whole file is read and every
// onChunk call has finished. The native addon does the reading, cutting, naming and compressing on
// libuv's thread pool (native/chunk_files.c), in lanes: a lane reads one file at a time, a run of
// it fills one of the lane's two arenas, and the main thread takes in one arena's chunks while
// the lane fills the other. Compressing there, before the main thread knows whether the blob is
// new, would waste work on the unchanged parts of changed files: a table of the repository's id
// prefixes tells the lane which chunks it need not compress. Unchanged files are never read.
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { processBudget } from '../lib/budget.ts';
import { errnoError } from '../lib/errno.ts';
import { layoutOf, nativeAddon, type LaneHandle } from '../lib/native-addon.ts';
import { oncePerTurn } from '../lib/per-turn.ts';
import { BLOB_LEVEL, compressBound, COMPRESS_FROM_BYTES, MUST_SAVE_BYTES } from '../lib/zstd.ts';
import type { Repository } from '../repo/repository.ts';
import { addIdPrefix, chunkerMasks, idPrefix } from '../repo/repository.ts';

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
 * A chunk as the lane prepared it: `stored` is zstd-compressed when `compression` is 1, and empty
 * when the repository has the blob already. `stored` is a view of memory the lane writes into
 * again once the promise onChunk returned has settled: copy what must outlive it.
 */
export interface PreparedChunk {
  index: number;
  id: Buffer;
  stored: Uint8Array;
  compression: number;
  rawLength: number;
}

type OnChunk = (chunk: PreparedChunk) => Promise<void>;

interface Job {
  path: Buffer;
  sizeBytes: number;
  onChunk: OnChunk;
  pending: Set<Promise<void>>;
  failure?: unknown;
  resolve: (r: ChunkedFile) => void;
  reject: (e: unknown) => void;
}

/** Where a run's chunks go, and how many of them the main thread has not finished with. */
interface Arena {
  out: Buffer;
  records: Float64Array;
  ids: Buffer;
  inUse: number;
  whenFree?: () => void;
}

interface Lane {
  handle: LaneHandle;
  arenas: Arena[];
  /** The file the lane has begun and not finished. */
  carried?: Job;
  running: boolean;
  /** The lane's loop of runs, while it has files. */
  loop?: Promise<void>;
}

/** The calls a FAILED record names (native/chunk_files.c's SYSCALL_*). */
const SYSCALLS = ['', 'open', 'read', 'fstat'];
/** Records one run can return: enough for a run of small files, few enough that they come back soon. */
const RECORDS_PER_RUN = 256;
/**
 * Files one run takes at most, and the bytes after which it takes no more: a big file is not
 * queued behind other files in a lane while the other lane could start it. Each run costs about
 * 1.5 ms of hand-over besides its work (0.5 waiting for a pool thread, 1 for the main thread to
 * take it up, measured on small files in stop 27), so small files go 64 to a run, not 16.
 */
const FILES_PER_RUN = 64;
const BYTES_PER_RUN = 4 * 1024 * 1024;
const NO_BYTES = Buffer.alloc(0);
/** Blobs stored during a backup that the lanes' table of known ids makes room for (1 MiB of table from empty). */
const KNOWN_ROOM = 65536;
/**
 * A backup starts a second lane once it has had this much to read (half a second of one lane's
 * work), or this many files: what a small re-backup reads is not worth a lane's buffers.
 */
const GROW_AFTER_BYTES = 128 * 1024 * 1024;
const GROW_AFTER_FILES = 2048;

export class ChunkPool {
  readonly #native = nativeAddon();
  /** Where the lanes' records keep what (native/addon.h); #takeIn and settle read a record's numbers in its order. */
  readonly #layout = layoutOf('chunk', { fields: 10 });
  readonly #lanes: Lane[] = [];
  /** Files not started yet, in order: each run takes from the front, and gives back what it did not start. */
  readonly #waiting: Job[] = [];
  readonly #scheduleDispatch = oncePerTurn(() => this.#dispatch());
  readonly #repo: Repository;
  /** Most lanes to run. */
  readonly #size: number;
  #files = 0;
  /** Bytes of all the files given to chunkFile. */
  #submittedBytes = 0;
  /** The lanes' table of id prefixes (BlobIndex.idPrefixes), and how many more it can take. */
  #known: BigUint64Array | undefined;
  #knownRoom = 0;
  #closed = false;

  readonly #level: number;

  /** `level`: zstd's compression level for the lanes' chunks; 0 stores them raw. */
  constructor(repo: Repository, lanes = Math.max(1, Math.min(4, availableParallelism())), level = BLOB_LEVEL) {
    this.#repo = repo;
    this.#size = lanes;
    this.#level = level;
  }

  /** `sizeBytes` (from lstat) lets the pool size its runs by bytes rather than by file count. */
  chunkFile(path: Buffer, sizeBytes: number, onChunk: OnChunk): Promise<ChunkedFile> {
    if (this.#closed) return Promise.reject(stopped());
    this.#files++;
    this.#submittedBytes += sizeBytes;
    return new Promise<ChunkedFile>((resolve, reject) => {
      this.#waiting.push({ path, sizeBytes, onChunk, pending: new Set(), resolve, reject });
      this.#scheduleDispatch();
    });
  }

  /**
   * A blob this backup stored: the lanes need not compress it again where it occurs once more
   * (VM images share a fifth of the bench corpus's chunks). Written while the lanes read the
   * table (id-prefixes.ts says why that is safe).
   */
  stored(id: Uint8Array): void {
    if (!this.#known || this.#knownRoom <= 0) return; // full enough: a probe must always reach an empty slot
    if (addIdPrefix(this.#known, idPrefix(id))) this.#knownRoom--;
  }

  /** Lanes started so far. */
  get laneCount(): number {
    return this.#lanes.length;
  }

  #dispatch(): void {
    for (const lane of this.#lanes) if (!lane.running && this.#waiting.length) lane.loop = this.#run(lane);
    while (this.#waiting.length && (this.#lanes.length === 0 || this.#shouldGrow())) {
      const lane = this.#addLane();
      lane.loop = this.#run(lane);
    }
  }

  /**
   * Another lane, once the backup has had enough to read or enough files. Until stop 27 a backup
   * of small files (under 32 KiB on average) kept to one: measured when each lane was a worker
   * thread, a second took a core from the main thread (100,000 small files 8.62 -> 7.25 s with
   * one). The lanes run in the addon since stop 19, and two now win on small files: interleaved
   * pairs, the bench corpus's 15,240 small files 0.83 (0.80-0.97, six pairs), 100,000 files of
   * 40 B - 2 KiB 0.85 (0.79-0.91, four), peak RSS the same.
   */
  #shouldGrow(): boolean {
    if (this.#lanes.length >= this.#size || this.#lanes.some((l) => !l.running)) return false;
    return this.#submittedBytes >= GROW_AFTER_BYTES || this.#files >= GROW_AFTER_FILES;
  }

  #addLane(): Lane {
    const repo = this.#repo;
    if (!this.#known) {
      const known = repo.knownIdPrefixes(KNOWN_ROOM);
      this.#known = known.prefixes;
      this.#knownRoom = known.free;
    }
    const { minBytes, avgBytes, maxBytes } = repo.config.chunker;
    const [strict, loose] = chunkerMasks(repo.config.chunker);
    const params = [minBytes, avgBytes, maxBytes, Math.max(2 * maxBytes, 4 << 20), this.#level || BLOB_LEVEL, this.#level ? COMPRESS_FROM_BYTES : 2 ** 52, MUST_SAVE_BYTES, strict, loose];
    const handle = this.#native.chunkLaneCreate(repo.gearTable(), new Float64Array(params), repo.blobIdKey, this.#known);
    // Two arenas, each with room for the largest chunk in zstd's worst case (4 MiB with the
    // default chunker): one is filled while the main thread takes in the other's chunks.
    const arena = (): Arena => ({
      out: this.#native.alignedBuffer(compressBound(maxBytes)), // in huge pages: fewer faults
      records: new Float64Array(this.#layout.start + RECORDS_PER_RUN * this.#layout.fields),
      ids: Buffer.allocUnsafeSlow(RECORDS_PER_RUN * 32),
      inUse: 0,
    });
    const lane: Lane = { handle, arenas: [arena(), arena()], running: false };
    this.#lanes.push(lane);
    return lane;
  }

  async #run(lane: Lane): Promise<void> {
    lane.running = true;
    let files: Job[] = [];
    try {
      while (lane.carried || this.#waiting.length) {
        const arena = await this.#freeArena(lane);
        if (!arena) break;
        files = this.#take();
        const paths = Buffer.concat(files.flatMap((f) => [f.path, Buffer.of(0)]));
        await processBudget().onThread(() => this.#native.chunkLaneRun(lane.handle, paths, files.length, arena.out, arena.records, arena.ids));
        const started = arena.records[this.#layout.started];
        this.#waiting.unshift(...files.slice(started));
        const before = lane.carried;
        lane.carried = arena.records[this.#layout.carried] ? (started > 0 ? files[started - 1] : before) : undefined;
        this.#takeIn(arena, (file) => (file < 0 ? before! : files[file]));
        files = [];
        if (this.#waiting.length) this.#scheduleDispatch(); // another lane may be idle
      }
    } catch (err) {
      // The run itself failed (out of memory): its files, and the one the lane had begun, fail.
      for (const job of [...files, ...(lane.carried ? [lane.carried] : [])]) job.reject(err);
      lane.carried = undefined;
    } finally {
      lane.running = false;
    }
  }

  /** The files of the next run, from the front of the queue. */
  #take(): Job[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#waiting.length && n < FILES_PER_RUN && bytes < BYTES_PER_RUN) bytes += this.#waiting[n++].sizeBytes;
    return this.#waiting.splice(0, n);
  }

  /** Hands a run's chunks to their files' onChunk, and settles the files it finished. */
  #takeIn(arena: Arena, jobOf: (file: number) => Job): void {
    const { records, ids, out } = arena;
    const layout = this.#layout;
    for (let r = 0; r < records[layout.count]; r++) {
      const at = layout.start + r * layout.fields;
      const job = jobOf(records[at + 1]);
      if (records[at] === layout.chunk) {
        const [index, start, length, compression, rawLength, offset] = records.subarray(at + 2, at + 8);
        const id = Buffer.from(ids.subarray(r * 32, r * 32 + 32));
        if (start >= 0) arena.inUse++;
        const bytes = start >= 0 ? Promise.resolve(out.subarray(start, start + length)) : this.#knownChunkBytes(job.path, id, offset, rawLength);
        const p = bytes
          .then((stored) => job.onChunk({ index, id, stored, compression, rawLength }))
          .catch((err) => {
            job.failure ??= err;
          })
          .finally(() => {
            job.pending.delete(p);
            if (start >= 0 && --arena.inUse === 0) arena.whenFree?.();
          });
        job.pending.add(p);
      } else {
        settle(job, Array.from(records.subarray(at + 2, at + layout.fields)), records[at] === layout.done); // the arena is used again meanwhile
      }
    }
  }

  /**
   * The bytes of a chunk the lane sent by name only, its id's prefix being in the table of known
   * ids: none when the repository has it (nearly always), else read back from the file here, and
   * checked against the id the lane computed.
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

  /** The lane's arena that the main thread is done with, once there is one; none once the pool is closed. */
  async #freeArena(lane: Lane): Promise<Arena | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const free = lane.arenas.find((a) => a.inUse === 0);
      if (free) return free;
      await new Promise<void>((resolve) => {
        for (const a of lane.arenas) a.whenFree = resolve;
      });
    }
  }

  /** Stops taking files (those not started fail), waits for the runs going and frees the lanes. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#waiting.splice(0)) job.reject(stopped());
    for (const lane of this.#lanes) for (const a of lane.arenas) a.whenFree?.();
    await Promise.all(this.#lanes.map((l) => l.loop));
    for (const lane of this.#lanes) {
      lane.carried?.reject(stopped());
      this.#native.chunkLaneClose(lane.handle);
    }
  }
}

function stopped(): Error {
  return new Error('the backup has stopped reading files');
}

/** A file's end: its result once every chunk's onChunk has finished, or its error. */
function settle(job: Job, fields: number[], done: boolean): void {
  void Promise.all(job.pending).then(() => {
    if (!done) return job.reject(errnoError(fields[0], SYSCALLS[fields[1]], fields[1] === 1 ? job.path : undefined));
    if (job.failure !== undefined) return job.reject(job.failure);
    const [chunks, bytesRead, changed, size, mtimeS, mtimeNs, ctimeS, ctimeNs] = fields;
    job.resolve({ chunks, bytesRead, changed: changed === 1, size, mtimeNs: nanoseconds(mtimeS, mtimeNs), ctimeNs: nanoseconds(ctimeS, ctimeNs) });
  });
}

function nanoseconds(seconds: number, nanos: number): string {
  return (BigInt(seconds) * 1_000_000_000n + BigInt(nanos)).toString();
}
