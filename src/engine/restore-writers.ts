// Restore's writing, done by the native addon on libuv's thread pool (native/restore_write.c):
// small files whole, with their metadata, a batch of them per job; a big file's runs of blobs.
// Files handed over in one turn of the event loop go in one job, described by a few typed arrays:
// one job per file spent more time in thread wake-ups than in the file system. Until stop 19 two
// worker threads did this in JavaScript (see docs/performance.md for what that cost).
import { errnoError, errnoMessage, nodeWorded } from '../lib/errno.ts';
import { processBudget } from '../lib/budget.ts';
import { Limiter } from '../lib/limiter.ts';
import { layoutOf, nativeAddon, type NativeLayout } from '../lib/native-addon.ts';
import { oncePerTurn } from '../lib/per-turn.ts';
import type { TreeNode } from '../model/tree.ts';
import { ownerOf, splitNs } from '../sources/files-at.ts';

/** Where a blob lies in its pack and what it decodes to. */
interface SealedBlobPlace {
  /** Offset in the pack: the nonce is bound to it. */
  offset: number;
  /** 0 stored as is, 1 zstd. */
  compression: number;
  rawLength: number;
}

/** A sealed blob of a small file, decoded by the writer. */
export interface SealedPart extends SealedBlobPlace {
  blobId: Uint8Array;
  packKey: Uint8Array;
}

/** A blob of a big file's run: where it is in the run and in the pack, and where it goes in the file. */
export type RunBlob = SealedBlobPlace & { blobId: Uint8Array; at: number; storedLength: number; positions: number[] };

/** Where a writer reads a run itself: a pack on this machine. */
export interface PackRange {
  path: string;
  offset: number;
  length: number;
}

const IS_ROOT = process.getuid?.() === 0;
/** A batch is sent at once when its contents reach this size, without waiting for the turn to end. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** The calls a failed file's result names (native/restore_write.c's STEP_*). */
const STEP_SYSCALLS = ['', 'open', 'write', 'fchmod', 'futimens', 'close'];

interface FileInBatch {
  path: Buffer;
  xattrNames: Buffer[];
  resolve: (warnings: string[] | undefined) => void;
  reject: (err: Error) => void;
}

class Batch {
  readonly files: FileInBatch[] = [];
  readonly meta: number[] = [];
  readonly content: Uint8Array[] = [];
  readonly names: Uint8Array[] = [];
  readonly blobKeys: Uint8Array[] = [];
  bytes = 0;
  xattrs = 0;
}

export class RestoreWriters {
  readonly #native = nativeAddon();
  /** write() and writeRun() put each file's, part's, attribute's and blob's numbers in this order. */
  readonly #layout = layoutOf('restore', { file: 9, part: 5, xattr: 2, blob: 6 });
  /** Jobs at most on the thread pool at once: it also serves the restore's reads. */
  readonly #slots: Limiter;
  /** Files at most in one batch. */
  readonly #batchFiles: number;
  /** Jobs handed over and not settled, for close() to wait for. */
  readonly #jobs = new Set<Promise<unknown>>();
  #closed = false;
  #batch = new Batch();
  readonly #sendBatch = oncePerTurn(() => this.#send());
  /** The repository's blob-id key: each decoded blob must MAC to its id. */
  readonly #macKey: Uint8Array;

  constructor(jobsAtOnce: number, filesPerBatch: number, macKey: Uint8Array) {
    this.#slots = new Limiter(jobsAtOnce);
    this.#batchFiles = filesPerBatch;
    this.#macKey = macKey;
  }

  /**
   * Writes a whole file with its metadata; resolves with warnings, or undefined when a sealed part
   * did not authenticate (nothing was written); rejects with the errno error.
   */
  write(path: Buffer, parts: Array<Buffer | { sealed: Buffer; blob: SealedPart }>, node: TreeNode): Promise<string[] | undefined> {
    const batch = this.#batch;
    const xattrs = (node.xattrs ?? []).map((x) => [Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64')]);
    const owner = IS_ROOT ? ownerOf(node) : undefined;
    const [sec, nsec] = splitNs(BigInt(node.mtimeNs));
    batch.meta.push(path.byteLength, parts.length, xattrs.length, node.mode, owner ? 1 : 0, owner?.[0] ?? 0, owner?.[1] ?? 0, sec, nsec);
    for (const p of parts) {
      if (p instanceof Uint8Array) {
        batch.meta.push(p.byteLength, 0, 0, 0, 0);
        batch.content.push(p);
        batch.bytes += p.byteLength;
      } else {
        batch.meta.push(p.sealed.byteLength, 1, p.blob.offset, p.blob.compression, p.blob.rawLength);
        batch.content.push(p.sealed);
        batch.blobKeys.push(p.blob.blobId, p.blob.packKey);
        batch.bytes += p.sealed.byteLength;
      }
    }
    for (const [name, value] of xattrs) batch.meta.push(name.byteLength, value.byteLength);
    batch.names.push(path, ...xattrs.flat());
    batch.xattrs += xattrs.length;
    const done = new Promise<string[] | undefined>((resolve, reject) => batch.files.push({ path, xattrNames: xattrs.map(([name]) => name), resolve, reject }));
    if (batch.bytes >= BATCH_BYTES || batch.files.length >= this.#batchFiles) this.#send();
    else this.#sendBatch();
    return done;
  }

  /**
   * Decodes a run of a big file's blobs and writes them at their positions in the open file `fd`.
   * Resolves with the bytes written, or undefined when a blob did not authenticate or the run could
   * not be read; rejects with the errno error of a failed write. `sealed` is the run's bytes (handed
   * over: its compressed blobs are decrypted in place), or where the writer reads them. `directFd`
   * is the same file opened with O_DIRECT, for the whole blocks of a file that is not sparse.
   */
  writeRun(fd: number, sealed: Buffer | PackRange, packKey: Buffer, blobs: RunBlob[], how: { sparse: boolean; directFd?: number }): Promise<number | undefined> {
    const places: number[] = [];
    for (const b of blobs) places.push(b.at, b.storedLength, b.offset, b.compression, b.rawLength, b.positions.length, ...b.positions);
    const ids = Buffer.concat(blobs.map((b) => b.blobId));
    const from: Uint8Array | [string, number, number] = sealed instanceof Uint8Array ? sealed : [sealed.path, sealed.offset, sealed.length];
    return this.#queue(async () => {
      const bytes = await this.#native.restoreWriteRun(fd, from, packKey, ids, new Float64Array(places), how.sparse, how.directFd ?? -1, this.#macKey).catch((err: unknown) => {
        throw nodeWorded(err, 'write');
      });
      return bytes < 0 ? undefined : bytes;
    });
  }

  /** Runs `job` once fewer than the limit are running; fails it instead once the writers are closed. */
  #queue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#slots.run(() => processBudget().onThread(async () => {
      if (this.#closed) throw new Error('the restore stopped before this file was written');
      return await job();
    }));
    this.#jobs.add(run);
    void run.then(
      () => this.#jobs.delete(run),
      () => this.#jobs.delete(run),
    );
    return run;
  }

  #send(): void {
    const batch = this.#batch;
    if (batch.files.length === 0) return;
    this.#batch = new Batch();
    const results = new Int32Array(this.#layout.result * batch.files.length);
    const xattrErrors = new Int32Array(batch.xattrs);
    const job = this.#queue(() =>
      this.#native.restoreWriteFiles(Buffer.concat(batch.content), new Float64Array(batch.meta), Buffer.concat(batch.names), Buffer.concat(batch.blobKeys), results, xattrErrors, this.#macKey),
    );
    job.then(
      () => settleFiles(batch.files, results, xattrErrors, this.#layout),
      (err: Error) => batch.files.forEach((f) => f.reject(err)),
    );
  }

  /**
   * Waits for the jobs running; those not started yet (only when the restore stopped early) fail.
   * Nothing of the restore's is left on the thread pool after it.
   */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#jobs]);
  }
}

function settleFiles(files: FileInBatch[], results: Int32Array, xattrErrors: Int32Array, layout: NativeLayout['restore']): void {
  let x = 0;
  files.forEach((file, i) => {
    const [status, errno, step, chownErrno] = results.subarray(layout.result * i, layout.result * (i + 1));
    const warnings: string[] = [];
    if (chownErrno) warnings.push(`cannot set owner: ${errnoMessage(chownErrno, 'fchown')}`);
    for (const name of file.xattrNames) {
      const err = xattrErrors[x++];
      if (err) warnings.push(`cannot set extended attribute ${name.toString()}: ${errnoMessage(err, 'fsetxattr')}`);
    }
    if (status === layout.damaged) file.resolve(undefined);
    else if (status === layout.failed) file.reject(errnoError(errno, STEP_SYSCALLS[step], step === 1 ? file.path : undefined));
    else file.resolve(warnings);
  });
}
