// Reading blobs in batches. One request per blob is fine on a local disk but latency-bound on
// remote storage: a directory of small files, or a big file, lives in a few neighbouring stretches
// of a few packs, and S3 answers one 8 MiB range about as fast as one 8 KiB range. A batch is told
// up front which blobs will be wanted, groups them into runs (one pack, ascending offsets, small
// gaps) and reads each run with one request the first time one of its blobs is asked for. A run's
// bytes are dropped as soon as every blob in it has been taken (or skipped), so memory is bounded
// by the runs being consumed at once, not by the batch.
import type { Backend } from '../storage/open.ts';
import type { BlobIndex, BlobLocation } from './blob-index.ts';

/** What reading in batches needs of the repository (Repository provides it). */
export interface BlobSource {
  readonly index: BlobIndex;
  readonly backend: Pick<Backend, 'read'>;
  loadBlob(id: Uint8Array): Promise<Buffer>;
  loadBlobAt(id: Buffer, loc: BlobLocation): Promise<Buffer>;
  decodeBlob(id: Buffer, loc: BlobLocation, sealed: Buffer): Promise<Buffer>;
}

/** Read the bytes between two wanted blobs rather than issue a second request, up to this gap. */
const MAX_GAP_BYTES = 256 * 1024;
/** One request reads at most this much (half a default pack). */
export const MAX_RUN_BYTES = 8 * 1024 * 1024;

export interface BlobRun {
  pack: BlobLocation['pack'];
  start: number;
  end: number;
  blobs: Array<{ id: Buffer; loc: BlobLocation }>;
}

interface PendingRun extends BlobRun {
  /** Takes (or skips) still to come before the bytes can go. */
  remaining: number;
  bytes?: Promise<Buffer | undefined>;
}

/**
 * Groups blobs into runs. Blobs the index does not know are left out (reading them one by one
 * gives the precise error); duplicates are read once.
 */
export function planRuns(repo: BlobSource, ids: Iterable<Buffer>, maxRun = MAX_RUN_BYTES): BlobRun[] {
  // Keyed by numbers (the blob's position in the index, the pack's number): not two hex strings
  // made and hashed per blob.
  const byPack = new Map<number, Array<{ id: Buffer; loc: BlobLocation }>>();
  const seen = new Set<number>();
  for (const id of ids) {
    const loc = repo.index.get(id);
    if (!loc || seen.has(loc.position)) continue;
    seen.add(loc.position);
    let list = byPack.get(loc.packIndex);
    if (!list) byPack.set(loc.packIndex, (list = []));
    list.push({ id, loc });
  }
  const runs: BlobRun[] = [];
  for (const list of byPack.values()) {
    list.sort((a, b) => a.loc.offset - b.loc.offset);
    let run: BlobRun | undefined;
    for (const blob of list) {
      const end = blob.loc.offset + blob.loc.storedLength;
      if (run && blob.loc.offset - run.end <= MAX_GAP_BYTES && end - run.start <= maxRun) {
        run.blobs.push(blob);
        run.end = end;
      } else {
        runs.push((run = { pack: blob.loc.pack, start: blob.loc.offset, end, blobs: [blob] }));
      }
    }
  }
  return runs;
}

/**
 * Reads a run with one request and hands its blobs' plaintext to `each` one at a time, in the
 * run's order: memory holds the run's stored bytes and one blob's plaintext.
 */
export async function forEachBlobInRun(repo: BlobSource, run: BlobRun, each: (id: Buffer, data: Buffer) => Promise<void>): Promise<void> {
  const bytes = await readRun(repo, run);
  for (const { id, loc } of run.blobs) await each(id, bytes ? await repo.decodeBlob(id, loc, slice(bytes, run, loc)) : await repo.loadBlobAt(id, loc));
}

/** What reading a run holds in memory at most: its stored bytes and its biggest blob's plaintext. */
export function runMemory(run: BlobRun): number {
  return run.end - run.start + Math.max(...run.blobs.map((b) => b.loc.rawLength));
}

export class BlobBatch {
  readonly #repo: BlobSource;
  readonly #runs = new Map<string, { run: PendingRun; loc: BlobLocation }>();
  readonly #order: PendingRun[] = [];
  /** How many more times each blob will be asked for (identical files share blobs). */
  readonly #demand = new Map<string, number>();

  constructor(repo: BlobSource, ids: Buffer[], maxRun = MAX_RUN_BYTES) {
    this.#repo = repo;
    for (const id of ids) {
      const hex = id.toString('hex');
      this.#demand.set(hex, (this.#demand.get(hex) ?? 0) + 1);
    }
    for (const run of planRuns(repo, ids, maxRun)) {
      const pending: PendingRun = { ...run, remaining: 0 };
      this.#order.push(pending);
      for (const { id, loc } of run.blobs) {
        const hex = id.toString('hex');
        pending.remaining += this.#demand.get(hex)!;
        this.#runs.set(hex, { run: pending, loc });
      }
    }
  }

  /**
   * Starts reading the first runs, up to `budgetBytes`, before anyone asks: the requests' latency
   * then overlaps other work (the directory before this one is still being written).
   */
  prefetch(budgetBytes: number): void {
    for (const run of this.#order) {
      if (budgetBytes <= 0) break;
      if (run.remaining === 0) continue;
      run.bytes ??= readRun(this.#repo, run);
      budgetBytes -= run.end - run.start;
    }
  }

  /** The blob's plaintext; a blob the batch was not told about is read on its own. */
  async get(id: Buffer): Promise<Buffer> {
    const hex = id.toString('hex');
    const planned = this.#runs.get(hex);
    if (!planned) return await this.#repo.loadBlob(id);
    const { run, loc } = planned;
    const reading = (run.bytes ??= readRun(this.#repo, run));
    this.#taken(hex, run); // before waiting: a caller that asked is accounted for even if it fails later
    const bytes = await reading;
    // A failed run read falls back to reading the blob alone, whose error names the blob.
    return bytes ? await this.#repo.decodeBlob(id, loc, slice(bytes, run, loc)) : await this.#repo.loadBlobAt(id, loc);
  }

  /**
   * The blob's sealed bytes (a view into its run's) and location, for restore's writers to decode;
   * undefined when it was not planned or its run could not be read (get() then names the fault).
   */
  async getSealed(id: Buffer): Promise<{ sealed: Buffer; loc: BlobLocation } | undefined> {
    const hex = id.toString('hex');
    const planned = this.#runs.get(hex);
    if (!planned || planned.run.blobs.length === 1) return undefined;
    const { run, loc } = planned;
    const reading = (run.bytes ??= readRun(this.#repo, run));
    const bytes = await reading;
    if (!bytes) return undefined;
    this.#taken(hex, run);
    return { sealed: slice(bytes, run, loc), loc };
  }

  /** These blobs will not be asked for after all (the file was skipped): frees their runs sooner. */
  skip(ids: Iterable<Buffer>): void {
    for (const id of ids) {
      const hex = id.toString('hex');
      const planned = this.#runs.get(hex);
      if (planned) this.#taken(hex, planned.run);
    }
  }

  #taken(hex: string, run: PendingRun): void {
    const left = this.#demand.get(hex)! - 1;
    if (left > 0) this.#demand.set(hex, left);
    else {
      this.#demand.delete(hex);
      this.#runs.delete(hex);
    }
    if (--run.remaining === 0) run.bytes = undefined;
  }
}

/** The run's bytes, or undefined when the read failed (each blob is then read on its own). */
async function readRun(repo: BlobSource, run: BlobRun): Promise<Buffer | undefined> {
  if (run.blobs.length === 1) return undefined; // nothing to share: the single read names the blob in its errors
  try {
    return await repo.backend.read('packs', run.pack.id.toString('hex'), { offset: run.start, length: run.end - run.start });
  } catch {
    return undefined;
  }
}

function slice(bytes: Buffer, run: BlobRun, loc: BlobLocation): Buffer {
  return bytes.subarray(loc.offset - run.start, loc.offset - run.start + loc.storedLength);
}
