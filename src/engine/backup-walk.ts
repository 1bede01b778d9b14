// The backup walk: depth-first over a Source's folders, submitting changed files to the chunk pool
// (or a stream to stream-chunks.ts). It waits for a free file slot before submitting, so the files
// (and bytes) in flight are bounded; a folder's tree is saved as soon as all of its entries are done.
import { later, now, type Later } from '../lib/later.ts';
import { Limiter } from '../lib/limiter.ts';
import type { OperationEvents, WarningCode } from '../model/events.ts';
import type { BackupSummary } from '../model/snapshot.ts';
import { nameKey, nodeNameKey, sameNodes, type Tree, type TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import type { EntryStats, FolderListing, ScannedEntry } from '../sources/dir-scan.ts';
import { joinPath } from '../sources/files.ts';
import type { Source } from '../sources/source.ts';
import type { ChunkPool, PreparedChunk } from './chunk-pool.ts';
import type { FolderCache, FolderRecord, SeenFolder } from './folder-cache.ts';
import { BackupReports } from './backup-reports.ts';
import { FolderPrefetch, type FolderAhead } from './folder-prefetch.ts';
import { PathMatcher } from './excludes.ts';
import { chunkStream } from './stream-chunks.ts';

export interface WalkOptions {
  excludes?: string[];
  excludeIfPresent?: string[];
  excludeCaches?: boolean;
  oneFileSystem?: boolean;
  excludeLargerThanBytes?: number;
  /** zstd's level for new blobs (0: stored raw; default lib/zstd.ts's BLOB_LEVEL). */
  compressionLevel?: number;
  dryRun?: boolean;
  /** Stops the backup: nothing more is read, no snapshot is saved, and it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Per-entry problems (unreadable: the snapshot is incomplete) and warnings, and progress. */
  events?: OperationEvents;
}

// Enough to keep every chunking lane's queue full of small files: four runs' worth (chunk-pool.ts).
const FILES_IN_FLIGHT = 256;

export class TreeWalker {
  readonly reports: BackupReports;
  /** Folders that kept their parent-snapshot tree by the folder cache, unread. */
  foldersFromCache = 0;
  readonly #repo: Repository;
  readonly #source: Source;
  readonly #pool: ChunkPool;
  readonly #summary: BackupSummary;
  readonly #options: WalkOptions;
  readonly #excludes: PathMatcher;
  readonly #fileSlots = new Limiter(FILES_IN_FLIGHT);
  readonly #folders: FolderCache | undefined;
  #fatal: unknown;
  #rootDevice: bigint | undefined;
  #progress = { files: 0, bytes: 0 };
  #filesToRead = 0; // files handed to the chunk pool so far

  constructor(repo: Repository, source: Source, pool: ChunkPool, summary: BackupSummary, options: WalkOptions, folders?: FolderCache) {
    this.#repo = repo;
    this.#source = source;
    this.#folders = folders;
    this.#pool = pool;
    this.#summary = summary;
    this.#options = options;
    this.#excludes = new PathMatcher(options.excludes ?? []);
    this.reports = new BackupReports(options.events);
  }

  /** The parent snapshot's tree of the folder at `path`; undefined (and a warning) when it is unreadable. */
  async loadTreeOrEmpty(id: string, path: Buffer | string): Promise<Tree | undefined> {
    try {
      return await this.#repo.loadTree(id);
    } catch (err) {
      const message = `the parent snapshot's listing (tree ${id.slice(0, 12)}) is unreadable, files below are read again: ${(err as Error).message}`;
      this.reports.warning(path, message, 'REREAD');
      return undefined;
    }
  }

  async saveTree(tree: Tree): Promise<string> {
    if (this.#options.dryRun) return this.#repo.blobId(Buffer.from(JSON.stringify(tree))).toString('hex');
    return await this.#repo.saveTree(tree);
  }

  /** An intermediate directory above a backed-up path: its metadata only. */
  async bareDirectory(path: Buffer, name: Buffer): Promise<TreeNode | undefined> {
    try {
      const { node, problems } = await this.#source.describe(path, name, await this.#source.stat(path));
      for (const p of problems) this.#warn(path, p);
      return node;
    } catch (err) {
      this.#error(path, err);
      return undefined;
    }
  }

  /** One path given on the command line, backed up in full. */
  async topLevelEntry(path: Buffer, previous: TreeNode | undefined): Promise<TreeNode | undefined> {
    const name = path.subarray(path.lastIndexOf(0x2f) + 1);
    let st: EntryStats;
    try {
      st = await this.#source.stat(path);
    } catch (err) {
      this.#error(path, err);
      return undefined;
    }
    this.#rootDevice = st.dev;
    const pending = await this.#entry(path, name, st, previous);
    return pending ? await pending.later : undefined;
  }

  /** Walks a directory; returns once every entry is submitted, with a promise of its tree id. */
  async directoryTree(path: Buffer, previousTree: Tree | undefined): Promise<string> {
    this.#rootDevice ??= (await this.#source.stat(path)).dev;
    return await (await this.#walkDirectory(path, previousTree && { tree: previousTree })).later;
  }

  /**
   * Resolves once every entry is submitted; `later` resolves with the saved tree's id. `ahead` is
   * what the walk of the parent folder started for this one.
   */
  async #walkDirectory(path: Buffer, previous: PreviousTree | undefined, ahead: FolderAhead = {}): Promise<Later<string>> {
    this.#stopIfAborted();
    let listing: FolderListing;
    try {
      listing = await (ahead.scan ?? this.#source.list(path));
    } catch (err) {
      this.#error(path, err);
      return now(await this.saveTree({ nodes: [] }));
    }
    const key = ahead.key ?? this.#folders?.keyOf(path);
    const seen = key && { key, digest: listing.digest(key), path: path.toString('latin1') };
    const record = seen && previous?.id ? this.#cachedUnchanged(seen.key, listing, previous.id, ahead.key ? ahead.record : undefined) : undefined;
    if (seen && record) return await this.#unchangedFolder(path, listing, record, seen);
    const previousTree = previous && (previous.tree ?? (await (ahead.previousTree ?? this.loadTreeOrEmpty(previous.id!, path))));
    return await this.#changedFolder(path, listing.entries, previousTree && { id: previous!.id, tree: previousTree }, seen);
  }

  /** A folder whose listing is not the parent snapshot's: every entry is described and compared. */
  async #changedFolder(path: Buffer, entries: ScannedEntry[], previous: { id?: string; tree: Tree } | undefined, seen: SeenFolder | undefined): Promise<Later<string>> {
    const previousTree = previous?.tree;
    const byName = new Map<string, TreeNode>();
    for (const n of previousTree?.nodes ?? []) byName.set(nodeNameKey(n), n);
    const markers = new Set(entries.map((e) => e.name.toString('utf8')));
    if ((this.#options.excludeIfPresent ?? []).some((m) => markers.has(m))) return now(await this.saveTree({ nodes: [] }));
    if (this.#options.excludeCaches && markers.has('CACHEDIR.TAG') && (await this.#source.isCacheDir(path))) {
      entries = entries.filter((e) => e.name.toString('latin1') === 'CACHEDIR.TAG');
      seen = undefined; // its tree does not list its subfolders, which the folder cache's path would walk
    }
    const folders = new FolderPrefetch(
      entries.filter((e) => e.stats?.isDirectory()),
      (folder) => this.#startFolder(path, { name: folder.name, dev: folder.stats?.dev }, () => byName.get(nameKey(folder.name))?.subtree),
    );
    const pending: Array<Promise<TreeNode | undefined>> = [];
    const readsBefore = this.#filesToRead;
    for (const { name, stats, error } of entries) {
      const child = joinPath(path, name);
      if (error || !stats) {
        this.#error(child, error);
        continue;
      }
      if (!this.#excludes.empty && this.#excludes.matches(child.toString('utf8'), stats.isDirectory())) continue;
      const ahead = stats.isDirectory() ? folders.take(name) : undefined;
      const p = await this.#entry(child, name, stats, byName.get(nameKey(name)), ahead);
      if (p) pending.push(p.later);
    }
    // The parent snapshot's tree is held until the folder is done only while it may still be kept:
    // not when a file in or below the folder is being read (its node will differ), for folders wait
    // for such reads.
    const keep = previous?.id && previous.tree.nodes.length === pending.length && this.#filesToRead === readsBefore ? { id: previous.id, nodes: previous.tree.nodes } : undefined;
    return this.#folderTree(pending, keep, seen);
  }

  /**
   * A folder whose listing is the one the folder cache holds for the parent snapshot's tree: its
   * entries are the same, so that tree stands, with new trees for subfolders that changed below.
   */
  async #unchangedFolder(path: Buffer, listing: FolderListing, record: FolderRecord, seen: SeenFolder): Promise<Later<string>> {
    this.foldersFromCache++;
    this.#summary.totalFiles += record.files;
    this.#summary.totalBytes += record.bytes;
    this.#summary.filesUnchanged += record.files;
    this.#tick(record.bytes, undefined, record.files);
    let parentTree: Promise<Tree | undefined> | undefined;
    const previousTree = (): Promise<Tree | undefined> => (parentTree ??= this.loadTreeOrEmpty(record.treeId, path));
    const subfolders = listing.directories();
    // A subfolder's tree in the parent snapshot: from its own record in the folder cache.
    const folders = new FolderPrefetch(subfolders, (folder) => this.#startFolder(path, folder, (cached) => cached?.treeId));
    const pending: Array<Promise<{ name: Buffer; id: string; previousId?: string }>> = [];
    for (const { name } of subfolders) {
      const ahead = folders.take(name) ?? {};
      if (!ahead.scan) continue; // excluded, or on another filesystem: its node in the tree stays as it was
      const child = joinPath(path, name);
      // A subfolder without a record finds it in this folder's tree in the parent snapshot.
      const previousId = ahead.previousId ?? (await previousTree())?.nodes.find((n) => n.type === 'dir' && nodeNameKey(n) === nameKey(name))?.subtree;
      const subtree = await this.#walkDirectory(child, previousId ? { id: previousId } : undefined, ahead);
      pending.push(subtree.later.then((id) => ({ name, id, previousId })));
    }
    return later(
      Promise.all(pending).then(async (subtrees) => {
        let id = record.treeId;
        if (subtrees.some((s) => s.id !== s.previousId)) {
          const tree = await previousTree();
          if (!tree) {
            // Unreadable after all (loadTreeOrEmpty warned): this folder is backed up in full instead.
            this.#summary.totalFiles -= record.files;
            this.#summary.totalBytes -= record.bytes;
            this.#summary.filesUnchanged -= record.files;
            return await (await this.#changedFolder(path, listing.entries, undefined, undefined)).later;
          }
          const replaced = new Map(subtrees.map((s) => [nameKey(s.name), s.id]));
          id = await this.saveTree({ nodes: tree.nodes.map((n) => (n.type === 'dir' && replaced.has(nodeNameKey(n)) ? { ...n, subtree: replaced.get(nodeNameKey(n)) } : n)) });
        }
        for (const { id, previousId } of subtrees) this.#summary[previousId === id ? 'dirsUnchanged' : previousId ? 'dirsChanged' : 'dirsNew']++;
        this.#folders!.remember(seen, id, record.files, record.bytes);
        return id;
      }),
    );
  }

  /**
   * The folder cache's record of a folder when the folder can keep its parent-snapshot tree
   * unread: recorded for that very tree, with the same listing, and the tree still indexed.
   */
  #cachedUnchanged(key: Buffer, listing: FolderListing, previousId: string, record = this.#folders!.lookup(key)): FolderRecord | undefined {
    if (!record || record.treeId !== previousId || !record.digest.equals(listing.digest(key).subarray(0, record.digest.length))) return undefined;
    return this.#repo.hasBlobHex(previousId) ? record : undefined;
  }

  /** Whether the walk goes into a subfolder: it is not excluded, and on the same filesystem when it must be. */
  #descends(path: Buffer, dev: bigint | undefined): boolean {
    if (!this.#excludes.empty && this.#excludes.matches(path.toString('utf8'), true)) return false;
    return !(this.#options.oneFileSystem && dev !== this.#rootDevice);
  }

  #warn(path: Buffer, message: string, code?: WarningCode): void {
    this.#folders?.problemAt(path);
    this.reports.warning(path, message, code);
  }

  /**
   * The folder's tree id once all its entries are done. A method of its own, so that the promise
   * holds only the entries and `keep`, not the walk's locals (the parent tree's map of names).
   */
  #folderTree(pending: Array<Promise<TreeNode | undefined>>, keep: { id: string; nodes: TreeNode[] } | undefined, seen: SeenFolder | undefined): Later<string> {
    return later(
      Promise.all(pending).then(async (nodes) => {
        // In the scan's order, which is the order of name bytes that trees keep (compareNodes).
        const tree = { nodes: nodes.filter((n): n is TreeNode => n !== undefined) };
        const id = keep && sameNodes(tree.nodes, keep.nodes) ? keep.id : await this.saveTree(tree);
        if (seen) {
          const files = tree.nodes.filter((n) => n.type === 'file');
          this.#folders!.remember(seen, id, files.length, files.reduce((sum, n) => sum + n.size, 0));
        }
        return id;
      }),
    );
  }

  /**
   * Starts reading a subfolder and loading its parent-snapshot tree, ahead of walking it. With the
   * folder cache, the tree is loaded once the listing shows that the folder changed: most will not.
   * `previousIdOf` names that tree, given the folder's record in the folder cache.
   */
  #startFolder(parent: Buffer, folder: { name: Buffer; dev?: bigint }, previousIdOf: (cached: FolderRecord | undefined) => string | undefined): FolderAhead {
    const path = joinPath(parent, folder.name);
    if (!this.#descends(path, folder.dev)) return {};
    const scan = this.#source.list(path);
    scan.catch(() => {}); // observed by the walk of that folder
    const key = this.#folders?.keyOf(path);
    const record = key && this.#folders!.lookup(key);
    const previousId = previousIdOf(record);
    if (!previousId) return { scan, key, record };
    const load = (): Promise<Tree | undefined> => this.loadTreeOrEmpty(previousId, path);
    const previousTree = key ? scan.then((listing) => (this.#cachedUnchanged(key, listing, previousId, record) ? undefined : load())) : load();
    previousTree.catch(() => {}); // a failed scan: the walk of that folder reports it
    return { scan, previousTree, key, record, previousId };
  }

  async #entry(
    path: Buffer,
    name: Buffer,
    st: EntryStats,
    previous: TreeNode | undefined,
    ahead: FolderAhead = {},
  ): Promise<Later<TreeNode | undefined> | undefined> {
    let described;
    try {
      described = await this.#source.describe(path, name, st, previous);
    } catch (err) {
      this.#error(path, err);
      return undefined;
    }
    const { node, problems } = described;
    for (const p of problems) this.#warn(path, p);
    if (node.type === 'dir') {
      if (this.#options.oneFileSystem && st.dev !== this.#rootDevice) {
        node.subtree = await this.saveTree({ nodes: [] });
        return now(node);
      }
      const previousId = previous?.type === 'dir' ? previous.subtree : undefined;
      const subtree = await this.#walkDirectory(path, previousId ? { id: previousId } : undefined, ahead);
      return later(
        subtree.later.then((id) => {
          node.subtree = id;
          const counter = previous?.subtree === id ? 'dirsUnchanged' : previous ? 'dirsChanged' : 'dirsNew';
          this.#summary[counter]++;
          return node;
        }),
      );
    }
    if (node.type !== 'file') return now(node);
    if (this.#options.excludeLargerThanBytes !== undefined && node.size > this.#options.excludeLargerThanBytes) return undefined;
    this.#summary.totalFiles++;
    this.#summary.totalBytes += node.size;
    if (this.#source.unchanged(previous, node) && previous!.content!.every((id) => this.#repo.hasBlobHex(id))) {
      node.content = previous!.content;
      this.#summary.filesUnchanged++;
      this.#tick(node.size);
      return now(node);
    }
    this.#filesToRead++;
    await this.#fileSlots.acquire();
    return later(this.#readFile(path, node, previous).finally(() => this.#fileSlots.release()));
  }

  async #readFile(path: Buffer, node: TreeNode, previous: TreeNode | undefined): Promise<TreeNode | undefined> {
    const content: string[] = [];
    const onChunk = async (chunk: PreparedChunk): Promise<void> => {
      content[chunk.index] = chunk.id.toString('hex');
      this.#summary.bytesRead += chunk.rawLength;
      this.#stopIfAborted();
      if (this.#fatal) throw this.#fatal;
      await this.#storeChunk(chunk).catch((err: unknown) => Promise.reject((this.#fatal ??= err)));
    };
    const from = this.#source.content(path, node);
    try {
      const result = 'path' in from ? await this.#pool.chunkFile(from.path, node.size, onChunk) : await chunkStream(this.#repo, from.stream, onChunk, this.#options.signal, this.#options.compressionLevel);
      if (!('path' in from)) this.#summary.totalBytes += result.bytesRead; // known only now
      node.content = content;
      node.size = result.bytesRead;
      if (result.changed) {
        node.changedWhileRead = true;
        this.#warn(path, 'changed while it was read; the stored copy may be inconsistent', 'CHANGED');
      }
      this.#summary[previous?.type === 'file' ? 'filesChanged' : 'filesNew']++;
      this.#tick(node.size, path);
      return node;
    } catch (err) {
      if (this.#fatal) throw this.#fatal;
      if (!('path' in from)) throw err; // a stream cannot be read again, and is the whole backup
      this.#error(path, err);
      return undefined;
    } finally {
      if ('path' in from) from.release?.();
    }
  }

  async #storeChunk(chunk: PreparedChunk): Promise<void> {
    if (this.#options.dryRun) {
      if (!this.#repo.hasBlob(chunk.id)) {
        this.#summary.blobsAdded++;
        this.#summary.bytesAdded += chunk.rawLength;
      }
      return;
    }
    const saved = await this.#repo.saveStoredBlob('data', chunk.id, chunk.stored, chunk.compression, chunk.rawLength);
    if (saved.added) {
      this.#pool.stored(chunk.id);
      this.#summary.blobsAdded++;
      this.#summary.bytesAdded += chunk.rawLength;
      this.#summary.bytesAddedStored += saved.storedBytes;
    }
  }

  #tick(bytes: number, path?: Buffer, files = 1): void {
    this.#progress.files += files;
    this.#progress.bytes += bytes;
    this.#options.events?.progress?.({ ...this.#progress, current: path?.toString('utf8') });
  }

  /** A cancelled backup stops like a failed one: the reason is fatal, not one entry's problem. */
  #stopIfAborted(): void {
    if (this.#options.signal?.aborted) throw (this.#fatal ??= this.#options.signal.reason);
  }

  #error(path: Buffer, err: unknown): void {
    if (this.#fatal) throw this.#fatal;
    this.#folders?.problemAt(path);
    this.reports.problem(path, err);
  }
}

/** A folder's tree in the parent snapshot: its id, or the tree itself when it has none (the root). */
type PreviousTree = { id: string; tree?: Tree } | { id?: undefined; tree: Tree };
