// New blobs on their way into the repository: the packs being filled (one per blob type), their
// uploads a few at a time, and the index files that list them once uploaded. A blob is pending
// from the moment it is claimed until its pack is uploaded and indexed, so that no second copy of
// it is stored meanwhile.
import { errnoCode } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import type { Backend } from '../storage/open.ts';
import type { BlobIndex } from './blob-index.ts';
import type { RepositoryKeys } from './crypto.ts';
import { encodeIndex, type IndexedPack } from './index-file.ts';
import { addPackToIndex } from './index-loader.ts';
import type { BlobType, PackEntry } from './pack.ts';
import { PackWriter } from './pack-writer.ts';

const UPLOADS_IN_FLIGHT = 2;
/** Write an index file every this many packs, so an interrupted backup keeps most of its work. */
const PACKS_PER_INDEX = 64;
/** ...or every this many blobs, so that packs of many tiny blobs do not pile up entries in memory. */
const ENTRIES_PER_INDEX = 50_000;

export class PackUploads {
  readonly #backend: Backend;
  readonly #keys: RepositoryKeys;
  readonly #index: () => BlobIndex;
  readonly #packTargetBytes: number;
  readonly #writers = new Map<BlobType, PackWriter>();
  readonly #pending = new Set<string>();
  readonly #uploads = new Limiter(UPLOADS_IN_FLIGHT);
  readonly #inFlight = new Set<Promise<void>>();
  #unindexed: IndexedPack[] = [];
  #unindexedEntries = 0;
  #uploadError: unknown;

  /** `index` is read at each use: the repository may load a new one. */
  constructor(backend: Backend, keys: RepositoryKeys, index: () => BlobIndex, packTargetBytes: number) {
    this.#backend = backend;
    this.#keys = keys;
    this.#index = index;
    this.#packTargetBytes = packTargetBytes;
  }

  isPending(id: Uint8Array | string): boolean {
    return this.#pending.size > 0 && this.#pending.has(typeof id === 'string' ? id : Buffer.from(id).toString('hex'));
  }

  /**
   * Claims a blob for storing; false when the repository has it or it is already on its way.
   * `rewrite`: claim it even though the index has it (prune moves blobs out of half-empty packs).
   */
  claim(id: Uint8Array, rewrite = false): boolean {
    this.throwUploadError();
    const hex = Buffer.from(id).toString('hex');
    if ((!rewrite && this.#index().has(id)) || this.#pending.has(hex)) return false;
    this.#pending.add(hex);
    return true;
  }

  /** Seals a claimed blob into its type's open pack, and uploads the pack once it is full. */
  async add(type: BlobType, id: Buffer, stored: Uint8Array, compression: number, rawLength: number): Promise<PackEntry> {
    let writer = this.#writers.get(type);
    if (!writer) this.#writers.set(type, (writer = new PackWriter(this.#keys, type, this.#backend.spool?.('packs'))));
    const entry = writer.add(id, stored, compression, rawLength);
    if (writer.sizeBytes >= this.#packTargetBytes) await this.#finishWriter(type);
    else if (writer.writesInFlight > 1) await writer.drained(1);
    return entry;
  }

  async #finishWriter(type: BlobType): Promise<void> {
    const writer = this.#writers.get(type);
    if (!writer || writer.entries.length === 0) return;
    this.#writers.delete(type);
    await this.#upload(writer);
  }

  /** Uploads a full pack and lists it for the next index file. Returns once the upload has started; flush() waits for it. */
  async #upload(writer: PackWriter): Promise<void> {
    const { salt, entries } = writer;
    await this.#uploads.acquire();
    const upload = (async () => {
      try {
        const name = await this.#store(writer);
        const id = Buffer.from(name, 'hex');
        addPackToIndex(this.#index(), id, salt, entries);
        for (const e of entries) this.#pending.delete(e.id.toString('hex'));
        this.adopt([{ id, salt, entries }]);
      } catch (err) {
        this.#uploadError ??= err;
      } finally {
        writer.release();
        this.#uploads.release();
      }
    })();
    this.#inFlight.add(upload);
    void upload.finally(() => this.#inFlight.delete(upload));
    if (this.#unindexed.length >= PACKS_PER_INDEX || this.#unindexedEntries >= ENTRIES_PER_INDEX) await this.#writeIndex();
  }

  /** Writes a finished pack to storage; returns its name. */
  async #store(writer: PackWriter): Promise<string> {
    const { spool } = writer;
    if (!spool) {
      const { name, parts } = writer.finishParts();
      await this.#backend.write('packs', name, parts).catch(unlessExisting);
      return name;
    }
    try {
      const name = await writer.finishSpooled();
      await spool.place(name).catch(unlessExisting);
      return name;
    } finally {
      await spool.discard(); // after place(), nothing is left to remove
    }
  }

  /** Packs to list in the next index file. */
  adopt(packs: IndexedPack[]): void {
    this.#unindexed.push(...packs);
    for (const p of packs) this.#unindexedEntries += p.entries.length;
  }

  /** Writes every open pack, waits for all uploads, then writes the index for them. */
  async flush(): Promise<void> {
    for (const type of [...this.#writers.keys()]) await this.#finishWriter(type);
    await Promise.all(this.#inFlight);
    this.throwUploadError();
    await this.#writeIndex();
  }

  /**
   * Drops the packs being filled, after a failure: their blobs are not in any index. (Packs being
   * uploaded finish on their own.)
   */
  async abandon(): Promise<void> {
    const writers = [...this.#writers.values()];
    this.#writers.clear();
    for (const writer of writers) {
      writer.release();
      await writer.spool?.discard();
    }
  }

  async #writeIndex(): Promise<void> {
    if (this.#unindexed.length === 0) return;
    const packs = this.#unindexed;
    this.#unindexed = [];
    this.#unindexedEntries = 0;
    await this.writeIndexFile(packs, []);
  }

  async writeIndexFile(packs: IndexedPack[], supersedes: string[]): Promise<void> {
    const { name, bytes } = encodeIndex(this.#keys, { packs, supersedes: supersedes.map((s) => Buffer.from(s, 'hex')) });
    await this.#backend.write('index', name, bytes);
  }

  throwUploadError(): void {
    if (this.#uploadError !== undefined) throw this.#uploadError;
  }
}

/** A pack whose name exists already holds the same bytes (its name is their SHA-256). */
function unlessExisting(err: unknown): void {
  if (errnoCode(err) !== 'EEXIST') throw err;
}
