// Writing one restored file's content. Small files go whole to the writers, their blobs read
// with their directory's (restore.ts plans those batches). A big file's blobs are read in runs,
// a few runs at once, and written at their offsets, leaving holes where the original had them.
import { constants, ftruncateSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { LifeboatError } from '../errors.ts';
import { processBudget } from '../lib/budget.ts';
import { directWritesSuit } from '../lib/direct-io.ts';
import { Limiter } from '../lib/limiter.ts';
import type { TreeNode } from '../model/tree.ts';
import { forEachBlobInRun, planRuns, runMemory, type BlobBatch, type BlobRun, type Repository } from '../repo/repository.ts';
import { applyFileMetadata } from '../sources/files-at.ts';
import type { FileContent } from '../sources/target.ts';
import { writeFullyAsync, writeSkippingZeros } from './file-writes.ts';
import { verifyFile } from './restore-verify.ts';
import type { RestoreWriters } from './restore-writers.ts';

/** Files up to this size are written whole by the writers (restore-writers.ts), in batches. */
const SMALL_FILE_BYTES = 1024 * 1024;
/** Runs (neighbouring blobs read with one request) of one big file read at once. */
const RUNS_IN_FLIGHT_PER_FILE = 2;
/** Run bytes held at once across all big files: what bounds restore's memory. */
const RUN_BYTES_IN_FLIGHT = 64 * 1024 * 1024;

/** Where a small file's blobs come from, and whether it has asked for them yet. */
export interface SmallFileContent {
  batch: BlobBatch;
  taken: boolean;
}

export class ContentWriter {
  /** Content bytes written so far. */
  bytes = 0;
  readonly #repo: Repository;
  readonly #writers: RestoreWriters;
  readonly #runBytes = new Limiter(RUN_BYTES_IN_FLIGHT);

  constructor(repo: Repository, writers: RestoreWriters) {
    this.#repo = repo;
    this.#writers = writers;
  }

  /** The file's content as a target asks for it (sources/target.ts). */
  contentOf(node: TreeNode, small: SmallFileContent): FileContent {
    return {
      chunks: () => this.#chunks(node, small),
      writeLocalFile: (dest, metadata) => this.#write(dest, node, metadata, small),
      differsFrom: verifierOf(this.#repo, node),
    };
  }

  /** One blob at a time, in order: a small file's from its folder's batch. */
  async *#chunks(node: TreeNode, small: SmallFileContent): AsyncIterable<Uint8Array> {
    if (isSmall(node)) small.taken = true;
    for (const id of contentIds(node)) {
      const data = isSmall(node) ? await small.batch.get(id) : await this.#repo.loadBlob(id);
      this.bytes += data.byteLength;
      yield data;
    }
  }

  /**
   * Writes the file's content, then `metadata` (the node as restored), through its descriptor.
   * `dest` never leads through a link (the target holds its folder); a link at its last component
   * is refused (O_NOFOLLOW). Resolves with problems that did not stop it.
   */
  async #write(dest: Buffer, node: TreeNode, metadata: TreeNode, content: SmallFileContent): Promise<string[]> {
    if (isSmall(node)) return await this.#writeSmallFile(dest, node, metadata, content);
    // Creating a file can cost half a millisecond of journal work; on the thread pool several
    // creations proceed at once instead of stalling the main thread one by one.
    const fh = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
    const fd = fh.fd;
    const self = `/proc/self/fd/${fd}`; // the file just opened, whatever its name becomes
    let direct: FileHandle | undefined;
    let complete = false;
    try {
      // The file's whole blocks are written past the page cache where that suits the filesystem
      // (lib/direct-io.ts); where the open fails, through it.
      if (!node.sparse && directWritesSuit(self)) direct = await open(self, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined);
      const blobs = this.#contentBlobs(node);
      // A blob can occur more than once in a file (runs of zeros): it is read once, written at each place.
      const offsets = new Map<string, number[]>();
      for (const { id, offset } of blobs) {
        const hex = id.toString('hex');
        offsets.get(hex)?.push(offset) ?? offsets.set(hex, [offset]);
      }
      const window = new Limiter(RUNS_IN_FLIGHT_PER_FILE);
      await Promise.all(
        planRuns(this.#repo, blobs.map((b) => b.id)).map((run) =>
          window.run(() => {
            const bytes = Math.min(runMemory(run), RUN_BYTES_IN_FLIGHT);
            return this.#runBytes.run(() => processBudget().memory.run(() => this.#writeRun(fh, direct, node, run, offsets), bytes), bytes);
          }),
        ),
      );
      if (node.sparse) ftruncateSync(fd, blobs.reduce((n, b) => n + b.size, 0));
      // Metadata through the open descriptor, times last: no more writes follow.
      const problems = await applyFileMetadata(fh, metadata);
      complete = true;
      return problems;
    } finally {
      await direct?.close();
      await fh.close();
      if (!complete) rmSync(dest, { force: true }); // a failed file is reported, not left half-written
    }
  }

  /**
   * Writes one run of a big file's blobs. The writers decrypt, decompress and write them:
   * on the main thread, that work kept the writers idle most of a restore. When the run cannot be
   * read whole or a blob in it does not authenticate, the run is done again here, blob by blob,
   * which names the pack or blob at fault.
   */
  async #writeRun(fh: FileHandle, direct: FileHandle | undefined, node: TreeNode, run: BlobRun, offsets: Map<string, number[]>): Promise<void> {
    // A pack on this machine is read by the writer itself, into a buffer it keeps.
    const sealed = await this.#repo.sealedRun(run);
    if (sealed) {
      const places = run.blobs.map(({ id, loc }) => ({
        blobId: id, at: loc.offset - run.start, offset: loc.offset, storedLength: loc.storedLength, compression: loc.compression, rawLength: loc.rawLength, positions: offsets.get(id.toString('hex'))!,
      }));
      const written = await this.#writers.writeRun(fh.fd, sealed, this.#repo.packKey(run.pack), places, { sparse: node.sparse === true, directFd: direct?.fd });
      if (written !== undefined) {
        this.bytes += written;
        return;
      }
    }
    await forEachBlobInRun(this.#repo, run, async (id, data) => {
      for (const at of offsets.get(id.toString('hex'))!) {
        if (node.sparse) writeSkippingZeros(fh.fd, data, at);
        else await writeFullyAsync(fh, data, at);
        this.bytes += data.byteLength;
      }
    });
  }

  /** The file's blobs with their offsets in it; fails before anything is written if one is missing. */
  #contentBlobs(node: TreeNode): Array<{ id: Buffer; offset: number; size: number }> {
    const blobs: Array<{ id: Buffer; offset: number; size: number }> = [];
    let offset = 0;
    for (const hex of node.content ?? []) {
      const id = Buffer.from(hex, 'hex');
      const size = this.#repo.blobSize(id);
      if (size === undefined) throw new LifeboatError('REPO_CORRUPT', `blob ${hex.slice(0, 16)} of this file is missing from the repository`);
      blobs.push({ id, offset, size });
      offset += size;
    }
    return blobs;
  }

  /**
   * A small file goes to the writers whole: one job for a batch instead of a round trip per call. Its
   * blobs go sealed, for the writer to decode: the main thread is what limits a restore of many
   * small files, and the writers wait for it. A blob whose run could not be read is decoded here,
   * and a file with a blob the writer could not decode is done again here, whose errors name it.
   */
  async #writeSmallFile(dest: Buffer, node: TreeNode, metadata: TreeNode, content: SmallFileContent): Promise<string[]> {
    const blobs = this.#contentBlobs(node);
    content.taken = true;
    const parts = await Promise.all(
      blobs.map(async ({ id }) => {
        const got = await content.batch.getSealed(id);
        if (!got) return await content.batch.get(id);
        const { offset, compression, rawLength, pack } = got.loc;
        return { sealed: got.sealed, blob: { blobId: id, packKey: this.#repo.packKey(pack), offset, compression, rawLength } };
      }),
    );
    const warnings =
      (await this.#writers.write(dest, parts, metadata)) ??
      (await this.#writers.write(dest, await Promise.all(blobs.map(({ id }) => this.#repo.loadBlob(id))), metadata));
    this.bytes += blobs.reduce((n, b) => n + b.size, 0);
    return warnings ?? [];
  }
}

/** Small files are written whole by a writer thread, their blobs read with their directory's. */
export function isSmall(node: TreeNode): boolean {
  return node.type === 'file' && !node.sparse && node.size <= SMALL_FILE_BYTES;
}

/** Created apart from the content's other closures, so that a verifier kept for later holds only these two. */
function verifierOf(repo: Repository, node: TreeNode): FileContent['differsFrom'] {
  return (path) => verifyFile(repo, path, node);
}

export function contentIds(node: TreeNode): Buffer[] {
  return (node.content ?? []).map((hex) => Buffer.from(hex, 'hex'));
}
