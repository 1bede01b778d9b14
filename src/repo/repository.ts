// The repository's face: the engine speaks blobs, trees and snapshots here and never sees packs,
// keys or encryption. Writes are ordered packs → index → snapshot, so a crash at any point leaves
// a repository that passes check (at worst with unreferenced packs).
import { promisify } from 'node:util';
import { zstdDecompress } from 'node:zlib';
import { LifeboatError, errnoCode } from '../errors.ts';
import { compressBlob, decompressBlob, decompressOptions, worthCompressing, worthStoringCompressed } from '../lib/zstd.ts';
import type { Tree } from '../model/tree.ts';
import type { Backend } from '../storage/open.ts';
import type { BlobBatch, BlobRun } from './blob-batch.ts';
import { BlobIndex, type BlobLocation, type PackRef } from './blob-index.ts';
import { Chunker, gearTable, type ChunkerParams } from './chunker.ts';
import type { RepositoryConfig } from './config.ts';
import { blobIdOf, fileKeyBytes, AuthenticationError, type RepositoryKeys } from './crypto.ts';
import type { IndexedPack } from './index-file.ts';
import { indexUnlistedPacks, loadIndex, type IndexLoadResult } from './index-loader.ts';
import { createRepository, openWithPassword, type CreateOptions, type OpenedRepository } from './open-repository.ts';
import type { DerivedSlotKey } from './key-derivation.ts';
import { RepositoryLock } from './locks.ts';
import { openBlob, COMPRESSION_NONE, COMPRESSION_ZSTD, type BlobType } from './pack.ts';
import { PackUploads } from './pack-uploads.ts';
import { SnapshotStore } from './snapshots.ts';
import { decodeTree, type LoadedTree } from './tree-codec.ts';

export type { BlobType } from './pack.ts';
export type { RepositoryConfig } from './config.ts';
export type { BlobLocation } from './blob-index.ts';
export { Chunker, chunkerMasks, gearTable, type ChunkerParams } from './chunker.ts';
export { addIdPrefix, idPrefix } from './id-prefixes.ts';
export type { SnapshotFilter } from './snapshots.ts';
export { BlobBatch, planRuns, forEachBlobInRun, runMemory, type BlobRun } from './blob-batch.ts';
export type { DamagedEntry, LoadedTree } from './tree-codec.ts';

const decompress = promisify(zstdDecompress);
/** A rewritten index has bigger files (it is written in one go, not as a backup goes), within both limits. */
const REPLACEMENT_INDEX_PACKS = 4096;
const REPLACEMENT_INDEX_ENTRIES = 200_000;

export interface LockRequest {
  exclusive: boolean;
  /** What the lock is for, shown to whoever finds it: "backup", "prune". */
  purpose: string;
  /** How long to keep trying while another process holds a conflicting lock. */
  waitMs?: number;
  /** Go ahead despite damaged lock files (check: it only reads, and reports them). */
  tolerateDamaged?: boolean;
}

export interface OpenOptions {
  loadIndex?: boolean;
  lock?: LockRequest;
  /** A slot's wrapping key, derived while the program loaded (key-derivation.ts). */
  derivedAhead?: Promise<DerivedSlotKey | undefined>;
}

export interface SaveResult {
  id: Buffer;
  added: boolean;
  storedBytes: number;
}

/**
 * `backend`, `keys`, `index` and `indexLoad` are the format's own: code outside src/repo uses the
 * methods below (the architecture test holds it to that).
 */
export class Repository {
  readonly backend: Backend;
  readonly config: RepositoryConfig;
  readonly keys: RepositoryKeys;
  readonly keyId: string;
  readonly snapshots: SnapshotStore;
  index: BlobIndex = new BlobIndex();
  indexLoad: IndexLoadResult | undefined;
  readonly #master: Buffer;
  readonly #packs: PackUploads;
  readonly #idScratch = Buffer.alloc(32);
  /** Each pack's key, kept while its entry in the index lives. */
  readonly #packKeys = new WeakMap<PackRef, Buffer>();
  #lock: RepositoryLock | undefined;

  private constructor(backend: Backend, opened: OpenedRepository) {
    this.backend = backend;
    this.config = opened.config;
    this.keys = opened.keys;
    this.keyId = opened.keyId;
    this.#master = opened.master;
    this.snapshots = new SnapshotStore(backend, opened.keys);
    this.#packs = new PackUploads(backend, opened.keys, () => this.index, opened.config.packTargetBytes);
  }

  /** `chunker` overrides the default sizes (used by the chunk-size benchmark). */
  static async init(backend: Backend, password: string, options: CreateOptions = {}): Promise<Repository> {
    return new Repository(backend, await createRepository(backend, password, options));
  }

  /**
   * Opens the repository, takes a lock if asked (before reading the index, so that what it reads
   * cannot change under the lock's protection) and loads the index (skip with `loadIndex: false`).
   */
  static async open(backend: Backend, password: string, options: OpenOptions = {}): Promise<Repository> {
    const repo = new Repository(backend, await openWithPassword(backend, password, options.derivedAhead));
    const lock = options.lock;
    if (lock) repo.#lock = await RepositoryLock.acquire(backend, repo.keys, lock.exclusive, lock.purpose, lock.waitMs, lock.tolerateDamaged);
    try {
      if (options.loadIndex !== false) await repo.reloadIndex();
    } catch (err) {
      await repo.#lock?.release();
      throw err;
    }
    return repo;
  }

  async reloadIndex(): Promise<IndexLoadResult> {
    this.indexLoad = await loadIndex(this.backend, this.keys);
    this.index = this.indexLoad.index;
    return this.indexLoad;
  }

  /** The master key, only for adding a password slot. */
  get masterKey(): Buffer {
    return this.#master;
  }

  chunker(): Chunker {
    return new Chunker(this.gearTable(), this.config.chunker);
  }

  /** The chunker's table, for the addon's chunking lanes. */
  gearTable(): Uint32Array {
    return gearTable(this.keys.chunker);
  }

  /** The key that names blobs (their keyed MAC), for the addon's lanes and writers, which check ids. */
  get blobIdKey(): Uint8Array {
    return this.keys.blobId;
  }

  /** The indexed blobs' id prefixes (BlobIndex.idPrefixes), and how many more it may take at a load of a half. */
  knownIdPrefixes(room: number): { prefixes: BigUint64Array; free: number } {
    const prefixes = this.index.idPrefixes(room);
    return { prefixes, free: prefixes.length / 2 - this.index.size };
  }

  /** A blob's size before compression, or undefined when no index lists it. */
  blobSize(id: Uint8Array): number | undefined {
    return this.index.get(id)?.rawLength;
  }

  /**
   * A run's sealed bytes: on this machine, where they lie (for a writer thread to read itself),
   * otherwise read; undefined when they cannot be read (the caller goes blob by blob, which names the fault).
   */
  async sealedRun(run: BlobRun): Promise<{ path: string; offset: number; length: number } | Buffer | undefined> {
    const pack = run.pack.id.toString('hex');
    const range = { offset: run.start, length: run.end - run.start };
    if (this.backend.localPath) return { path: this.backend.localPath('packs', pack), ...range };
    return await this.backend.read('packs', pack, range).catch(() => undefined);
  }

  /** The names of the index files this session loaded. */
  get loadedIndexFiles(): readonly string[] {
    return this.indexLoad?.indexFiles ?? [];
  }

  /** Index files that could not be read, and how many packs were indexed from their headers instead. */
  get indexDamage(): { damagedFiles: Array<{ name: string; problem: string }>; recoveredPacks: number } {
    return { damagedFiles: this.indexLoad?.damagedIndexFiles ?? [], recoveredPacks: this.indexLoad?.recoveredPacks.length ?? 0 };
  }

  /** The index files in storage now (written by this or another session). */
  async listIndexFiles(): Promise<string[]> {
    const names: string[] = [];
    for await (const f of this.backend.list('index')) if (/^[0-9a-f]{64}$/.test(f.name)) names.push(f.name);
    return names;
  }

  blobId(data: Uint8Array): Buffer {
    return blobIdOf(this.keys, data);
  }

  hasBlob(id: Uint8Array): boolean {
    return this.index.has(id) || this.#packs.isPending(id);
  }

  /** hasBlob for an id in hex, as trees hold them, without allocating a Buffer for each. */
  hasBlobHex(hex: string): boolean {
    return (this.#idScratch.write(hex, 'hex') === 32 && this.index.has(this.#idScratch)) || this.#packs.isPending(hex);
  }

  /** Stores a blob unless the repository already has it. */
  async saveBlob(type: BlobType, data: Uint8Array): Promise<SaveResult> {
    const blob = this.prepareBlob(data);
    return await this.saveStoredBlob(type, blob.id, blob.stored, blob.compression, blob.rawLength);
  }

  /**
   * Names a blob and compresses it at zstd `level` (0: not at all) when that pays, for
   * saveStoredBlob; a blob the repository has already is left as it is, since it will not be stored.
   */
  prepareBlob(data: Uint8Array, level?: number): { id: Buffer; stored: Uint8Array; compression: number; rawLength: number } {
    const id = this.blobId(data);
    const plain = { id, stored: data, compression: COMPRESSION_NONE, rawLength: data.byteLength };
    if (this.hasBlob(id) || level === 0 || !worthCompressing(data.byteLength)) return plain;
    const packed = compressBlob(data, level);
    return worthStoringCompressed(data.byteLength, packed.byteLength) ? { ...plain, stored: packed, compression: COMPRESSION_ZSTD } : plain;
  }

  /**
   * Stores a blob that was already named and compressed (by a chunking lane) unless the
   * repository already has it. `stored` is zstd data when `compression` is COMPRESSION_ZSTD.
   * `rewrite`: store it even though the index has it (prune moves blobs out of half-empty packs).
   */
  async saveStoredBlob(type: BlobType, id: Buffer, stored: Uint8Array, compression: number, rawLength: number, rewrite = false): Promise<SaveResult> {
    if (!this.#packs.claim(id, rewrite)) return { id, added: false, storedBytes: 0 };
    const entry = await this.#packs.add(type, id, stored, compression, rawLength);
    return { id, added: true, storedBytes: entry.storedLength };
  }

  async loadBlob(id: Uint8Array): Promise<Buffer> {
    const loc = this.index.get(id);
    if (!loc) {
      throw new LifeboatError('REPO_CORRUPT', `Blob ${Buffer.from(id).toString('hex')} is not in the index`, {
        hint: 'Run "lifeboat check" to see what is damaged.',
      });
    }
    return await this.loadBlobAt(Buffer.from(id), loc);
  }

  async loadBlobAt(id: Buffer, loc: BlobLocation): Promise<Buffer> {
    const packName = loc.pack.id.toString('hex');
    let sealed: Buffer;
    try {
      sealed = await this.backend.read('packs', packName, { offset: loc.offset, length: loc.storedLength });
    } catch (err) {
      const code = errnoCode(err);
      const what = code === 'ENOENT' ? 'is missing' : code === 'ESHORT' ? 'is truncated' : `cannot be read (${(err as Error).message})`;
      throw new LifeboatError(code === 'ENOENT' || code === 'ESHORT' ? 'REPO_CORRUPT' : 'IO', `Pack ${packName} ${what}; blob ${id.toString('hex').slice(0, 16)} is lost`, {
        hint: 'Run "lifeboat check" to see which snapshots and files this touches.',
        cause: err,
      });
    }
    return await this.decodeBlob(id, loc, sealed);
  }

  /** Decrypts and decompresses a blob from its sealed bytes (read alone or as part of a run). */
  async decodeBlob(id: Buffer, loc: BlobLocation, sealed: Buffer): Promise<Buffer> {
    const stored = this.openStoredBlob(id, loc, sealed);
    let plain = stored;
    try {
      // The thread pool pays off for big blobs; for small ones its overhead exceeds the work.
      if (loc.compression === COMPRESSION_ZSTD) {
        plain = stored.byteLength > 256 * 1024 ? await decompress(stored, { ...decompressOptions(loc.rawLength), maxOutputLength: loc.rawLength }) : decompressBlob(stored, loc.rawLength);
      }
    } catch (err) {
      throw this.#damaged(id, loc, `it cannot be decompressed (${(err as Error).message})`);
    }
    if (plain.byteLength !== loc.rawLength) throw this.#damaged(id, loc, `it holds ${plain.byteLength} bytes, not the ${loc.rawLength} its index promises`);
    // Another machine holding the key can seal any bytes under any id: the id must be their MAC.
    if (!this.blobId(plain).equals(id)) throw this.#damaged(id, loc, 'its content does not match its id');
    return plain;
  }

  #damaged(id: Buffer, loc: BlobLocation, why: string): LifeboatError {
    return new LifeboatError('REPO_CORRUPT', `Blob ${id.toString('hex').slice(0, 16)} in pack ${loc.pack.id.toString('hex')} is damaged: ${why}`, {
      hint: 'Run "lifeboat check --read-data" to see which snapshots and files this touches.',
    });
  }

  /** Decrypts a blob's sealed bytes to its stored form (compressed as it was): what repacking moves. */
  openStoredBlob(id: Buffer, loc: BlobLocation, sealed: Buffer): Buffer {
    try {
      return openBlob(this.packKey(loc.pack), id, loc.offset, sealed);
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      throw new LifeboatError('REPO_CORRUPT', `Blob ${id.toString('hex').slice(0, 16)} in pack ${loc.pack.id.toString('hex')} is damaged`, {
        hint: 'Run "lifeboat check --read-data" to see which snapshots and files this touches.',
      });
    }
  }

  /**
   * Writes a new index (prune's and repair's rewrite) as packs are added, in files of bounded size,
   * so memory holds one file's worth; `finish` writes the last one, which names `old` as
   * superseded: until then the old files still count, and from then on readers skip them.
   * Deleting the old files is the caller's next step.
   */
  indexReplacement(old: string[]): { add(pack: IndexedPack): Promise<void>; finish(): Promise<void> } {
    let slice: IndexedPack[] = [];
    let entries = 0;
    return {
      add: async (pack) => {
        slice.push(pack);
        entries += pack.entries.length;
        if (slice.length < REPLACEMENT_INDEX_PACKS && entries < REPLACEMENT_INDEX_ENTRIES) return;
        const full = slice;
        slice = [];
        entries = 0;
        await this.#packs.writeIndexFile(full, []);
      },
      finish: () => this.#packs.writeIndexFile(slice, old),
    };
  }

  async replaceIndex(packs: Iterable<IndexedPack>, old: string[]): Promise<void> {
    const replacement = this.indexReplacement(old);
    for (const pack of packs) await replacement.add(pack);
    await replacement.finish();
  }

  /** A pack's key as bytes (what the native addon needs to decode its blobs), derived once per pack. */
  packKey(pack: PackRef): Buffer {
    let key = this.#packKeys.get(pack);
    if (!key) this.#packKeys.set(pack, (key = fileKeyBytes(this.keys, pack.salt)));
    return key;
  }

  async saveTree(tree: Tree): Promise<string> {
    const { id } = await this.saveBlob('tree', Buffer.from(JSON.stringify(tree)));
    return id.toString('hex');
  }

  /** A tree, from `batch` when its read was planned with its neighbours'. */
  async loadTree(idHex: string, batch?: BlobBatch): Promise<LoadedTree> {
    const id = Buffer.from(idHex, 'hex');
    const bytes = batch ? await batch.get(id) : await this.loadBlob(id);
    try {
      return decodeTree(bytes);
    } catch (err) {
      throw new LifeboatError('REPO_CORRUPT', `Tree ${idHex.slice(0, 16)} is not a valid folder listing: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Takes in the packs no index file lists (left by an interrupted backup or copy, or being
   * written by another client right now): they are indexed from their own headers and listed in
   * this session's next index file, so their blobs are reused instead of uploaded again. A pack
   * whose header cannot be read is left alone for check and prune. Returns how many were taken.
   */
  async adoptUnindexedPacks(): Promise<number> {
    const { indexed } = await indexUnlistedPacks(this.backend, this.keys, this.index);
    this.#packs.adopt(indexed);
    return indexed.length;
  }

  /** Writes every open pack, waits for all uploads, then writes the index for them. */
  async flush(): Promise<void> {
    await this.#packs.flush();
  }

  /** See RepositoryLock.assertHeld; a repository opened without a lock (--no-lock) passes. */
  async assertLockHeld(): Promise<void> {
    await this.#lock?.assertHeld();
  }

  async close(): Promise<void> {
    await this.#packs.abandon(); // nothing to drop after flush()
    await this.#lock?.release();
    await this.backend.close();
  }
}
