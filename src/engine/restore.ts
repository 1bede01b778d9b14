// Restore: rebuilds a snapshot (or one folder or file of it) under a target directory, exactly:
// content (sparse where the original was), hard links as hard links, special files, owners,
// modes, xattrs and nanosecond times. Files are written in parallel; a folder's metadata is
// applied once everything in it is restored, so writing into it does not change its recorded
// mtime. An error on one entry is reported and the rest is restored. The snapshot may be hostile
// and the target shared: entries are created relative to folders held by descriptor, never
// through a link (sources/files-target.ts), and what grants privileges is held back unless asked.
import type { Stats } from 'node:fs';
import { availableParallelism } from 'node:os';
import { LifeboatError, describeError } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import type { SnapshotRecord } from '../model/snapshot.ts';
import { nodeNameBytes, type TreeNode } from '../model/tree.ts';
import { BlobBatch, type Repository } from '../repo/repository.ts';
import {
  applyDirectoryMetadata, applyExistingFileMetadata, applyMetadataAt, createDirectoryAt, createHardLinkAt, createSpecialAt, createSymlinkAt, entryPath,
  ordinaryMetadata, removeEntryAt,
} from '../sources/files-target.ts';
import { childOf, TargetDirs } from '../sources/target-dirs.ts';
import { PathMatcher } from './excludes.ts';
import { ContentWriter, contentIds, isSmall, type SmallFileContent } from './restore-content.ts';
import { findNode } from './tree-path.ts';
import { verifyFile } from './restore-verify.ts';
import { RestoreWriters } from './restore-writers.ts';

export const EXISTING_POLICIES = ['skip-identical', 'overwrite', 'fail'] as const;
export type ExistingPolicy = (typeof EXISTING_POLICIES)[number];

export interface RestoreOptions {
  target: string;
  /** A folder or file inside the snapshot, e.g. "/home/ann/docs". */
  subfolder?: string;
  include?: string[];
  exclude?: string[];
  existing?: ExistingPolicy;
  verify?: boolean;
  /** Also setuid/setgid bits, security.* and trusted.* attributes and device nodes (held back by default). */
  restorePrivileged?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { files: number; bytes: number }) => void;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  other: number;
  bytes: number;
  skippedIdentical: number;
  verified: number;
  errors: string[];
  warnings: string[];
}

/**
 * Files being restored at once, counted in slots: a file takes one, a small file one per 256 KiB
 * of its content, so that small files hold at most 64 MiB (big files' runs have their own bound).
 * 64 files at once kept the main thread and the writer threads waiting on each other's batches.
 * Restore of the bench corpus with bench/ab.sh, six pairs each: 256 slots against 64, time ratio
 * 0.80 (0.76-0.92); 1,024 against 256, 0.98 (0.84-1.04) for 68 MiB more.
 */
const FILE_SLOTS = 256;
const SMALL_FILE_BYTES_PER_SLOT = 256 * 1024;
/** Directories whose listings are being read or whose files are being started, at once. */
const OPEN_DIRS = 8;
/** Small files and listings of a directory read ahead as soon as its own listing is in. */
const PREFETCH_BYTES_PER_DIR = 8 * 1024 * 1024;
/**
 * Writing jobs (restore-writers.ts) on the thread pool at once: one more than the cores. Since each
 * job also checks every blob's MAC, three on two cores take 0.94x the time of two (eight pairs, six
 * in favour) for 17 MiB more; before that check, 0.97x for 28 MiB more. A batch of small files holds at most a quarter of the files in flight: with
 * no such limit, all 256 went into one batch, and while one job wrote them the main thread had no
 * file to prepare, then the other way round (the small files' half of a restore ran at 0.9 of the
 * two cores). Restore of the bench corpus into tmpfs, four pairs: 0.87x (0.81-0.92); a batch of
 * 32 files 1.01-1.09x, of 128 0.89-1.10x against 64.
 */
const WRITER_JOBS = Math.max(3, Math.min(4, availableParallelism() + 1));

export async function restoreSnapshot(repo: Repository, snapshot: SnapshotRecord, options: RestoreOptions): Promise<RestoreResult> {
  const restorer = new Restorer(repo, options);
  await restorer.run(snapshot);
  return restorer.result;
}

/** An entry inside a folder of the target: the folder's path below the target, and its own name. */
interface Place {
  rel: string;
  name: Buffer;
}

class Restorer {
  readonly result: RestoreResult = { files: 0, dirs: 0, other: 0, bytes: 0, skippedIdentical: 0, verified: 0, errors: [], warnings: [] };
  readonly #repo: Repository;
  readonly #options: RestoreOptions;
  readonly #include: PathMatcher;
  readonly #exclude: PathMatcher;
  readonly #files = new Limiter(FILE_SLOTS);
  readonly #openDirs = new Limiter(OPEN_DIRS);
  readonly #tasks = new Set<Promise<void>>();
  readonly #hardLinks = new Map<string, Promise<Place | undefined>>();
  readonly #written: Array<Place & { node: TreeNode; shown: string }> = [];
  #dirs: TargetDirs | undefined;
  #writers: RestoreWriters | undefined;
  #content: ContentWriter | undefined;
  /** An error that stops the whole restore (--existing fail); per-entry errors go to result.errors. */
  #fatal: unknown;

  constructor(repo: Repository, options: RestoreOptions) {
    this.#repo = repo;
    this.#options = options;
    this.#include = new PathMatcher(options.include ?? []);
    this.#exclude = new PathMatcher(options.exclude ?? []);
  }

  async run(snapshot: SnapshotRecord): Promise<void> {
    try {
      this.#dirs = TargetDirs.open(this.#options.target);
    } catch (err) {
      throw new LifeboatError('TARGET_NOT_WRITABLE', `Cannot restore into "${this.#options.target}": ${describeError(err)}`, {
        hint: 'Choose a target directory you can write to.',
        cause: err,
      });
    }
    this.#writers = new RestoreWriters(WRITER_JOBS, FILE_SLOTS / 4, this.#repo.blobIdKey);
    this.#content = new ContentWriter(this.#repo, this.#writers);
    try {
      try {
        await this.#restoreSelection(snapshot);
        await this.#drain();
      } finally {
        await Promise.allSettled(this.#tasks);
        await this.#writers.close();
        this.result.warnings.push(...this.#content.warnings);
      }
      if (this.#options.verify) await this.#verify();
    } finally {
      this.#dirs.close();
    }
  }

  async #restoreSelection(snapshot: SnapshotRecord): Promise<void> {
    const sub = this.#options.subfolder?.replace(/\/+$/, '');
    if (!sub) return await this.#restoreTree(snapshot.tree, '', '');
    const found = await findNode(this.#repo, snapshot.tree, sub);
    if (!found) throw new LifeboatError('SNAPSHOT_NOT_FOUND', `The snapshot ${snapshot.id.slice(0, 8)} has no "${sub}"`, { hint: `Run "lifeboat ls ${snapshot.id.slice(0, 8)}" to see what it holds.` });
    if (found.type === 'dir') return await this.#restoreTree(found.subtree!, '', sub);
    const children: Array<Promise<void>> = [];
    await this.#restoreEntry(found, '', sub.slice(0, sub.lastIndexOf('/')), children);
    await Promise.all(children);
  }

  async #drain(): Promise<void> {
    while (this.#tasks.size) await Promise.all([...this.#tasks]);
    if (this.#fatal) throw this.#fatal;
  }

  #wanted(path: string, isDir: boolean): boolean {
    if (!this.#exclude.empty && this.#exclude.matches(path, isDir)) return false;
    return true;
  }

  /**
   * Restores a directory's entries; its subdirectories proceed concurrently, so that the latency of
   * reading their listings and small files overlaps (on remote storage, what restore waits for).
   * A directory holds one of OPEN_DIRS slots from reading its listing until all its files have
   * started, never while waiting for its subdirectories: that bounds memory without deadlock.
   * `trees` holds this tree's read when it was planned together with its siblings'. Once
   * everything below is done, the folder gets `node`'s metadata.
   */
  async #restoreTree(treeId: string, rel: string, snapshotPath: string, trees?: BlobBatch, node?: TreeNode): Promise<void> {
    const children: Array<Promise<void>> = [];
    await this.#openDirs.acquire();
    try {
      await this.#restoreTreeEntries(treeId, rel, snapshotPath, trees, children);
    } finally {
      this.#openDirs.release();
    }
    await Promise.all(children);
    if (node) await this.#directoryMetadata(rel, node, snapshotPath);
  }

  async #restoreTreeEntries(treeId: string, rel: string, snapshotPath: string, trees: BlobBatch | undefined, children: Array<Promise<void>>): Promise<void> {
    let tree;
    try {
      tree = await this.#repo.loadTree(treeId, trees);
    } catch (err) {
      this.result.errors.push(`${snapshotPath || '/'}: cannot read this directory's listing from the repository: ${describeError(err)}`);
      return;
    }
    for (const d of tree.damaged) this.result.errors.push(`${snapshotPath}/${d.name}: refused: ${d.problem}`);
    // Subdirectory listings and the small files here are read a few requests at a time, not one
    // request each: what makes restoring from remote storage fast.
    const subtrees: Buffer[] = [];
    const small: Buffer[] = [];
    for (const node of tree.nodes) {
      const path = `${snapshotPath}/${node.name}`;
      if (!this.#wanted(path, node.type === 'dir')) continue;
      if (node.subtree) subtrees.push(Buffer.from(node.subtree, 'hex'));
      else if (isSmall(node) && (this.#include.empty || this.#include.matches(path, false))) small.push(...contentIds(node));
    }
    const batches = { trees: new BlobBatch(this.#repo, subtrees), files: new BlobBatch(this.#repo, small) };
    batches.files.prefetch(PREFETCH_BYTES_PER_DIR);
    batches.trees.prefetch(PREFETCH_BYTES_PER_DIR);
    for (const node of tree.nodes) await this.#restoreEntry(node, rel, snapshotPath, children, batches);
  }

  /** Nothing is waited for: subdirectories' restores and files' tasks are added to `children`. */
  async #restoreEntry(node: TreeNode, rel: string, parentPath: string, children: Array<Promise<void>>, batches?: Batches): Promise<void> {
    this.#options.signal?.throwIfAborted();
    const snapshotPath = `${parentPath}/${node.name}`;
    const isDir = node.type === 'dir';
    if (!this.#wanted(snapshotPath, isDir)) return;
    const place = { rel, name: nodeNameBytes(node) };
    if (isDir) {
      const below = childOf(rel, place.name);
      if (!this.#include.empty && !this.#include.matches(snapshotPath, true)) {
        // Not included itself: descend only to find included entries below (created when one is).
        if (node.subtree) children.push(this.#descend(node.subtree, below, snapshotPath, batches?.trees));
        return;
      }
      try {
        if (!(await this.#prepare(place, node, snapshotPath))) return;
      } catch (err) {
        if (err instanceof LifeboatError && err.code === 'TARGET_EXISTS') throw err;
        this.result.errors.push(`${snapshotPath}: ${describeError(err)}`);
        return;
      }
      this.result.dirs++;
      if (node.subtree) children.push(this.#descend(node.subtree, below, snapshotPath, batches?.trees, node));
      return;
    }
    const files = batches?.files ?? new BlobBatch(this.#repo, []);
    if (!this.#include.empty && !this.#include.matches(snapshotPath, false)) return;
    const slots = isSmall(node) ? Math.max(1, Math.ceil(node.size / SMALL_FILE_BYTES_PER_SLOT)) : 1;
    await this.#files.acquire(slots);
    if (this.#fatal) throw this.#fatal;
    const task: Promise<void> = this.#restoreLeaf(place, node, snapshotPath, files)
      .catch((err) => {
        this.#fatal ??= err;
      })
      .finally(() => {
        this.#files.release(slots);
        this.#tasks.delete(task);
      });
    this.#tasks.add(task);
    children.push(task);
  }

  #descend(treeId: string, rel: string, snapshotPath: string, trees?: BlobBatch, node?: TreeNode): Promise<void> {
    const child = this.#restoreTree(treeId, rel, snapshotPath, trees, node);
    child.catch(() => {}); // awaited with its siblings; this only keeps an early failure from counting as unhandled
    return child;
  }

  async #restoreLeaf(place: Place, node: TreeNode, snapshotPath: string, files: BlobBatch): Promise<void> {
    const content: SmallFileContent = { batch: files, taken: false };
    const dirs = this.#dirs!;
    let fd: number | undefined;
    try {
      fd = dirs.acquireCreating(place.rel);
      const linkKey = node.type !== 'dir' && node.links > 1 ? `${node.device}:${node.inode}` : undefined;
      const first = linkKey ? this.#hardLinks.get(linkKey) : undefined;
      if (first) {
        const existing = await first;
        if (existing) {
          if (!(await this.#prepare(place, node, snapshotPath))) return;
          await dirs.with(existing.rel, (existingFd) => createHardLinkAt(existingFd, existing.name, fd!, place.name));
          this.result.files++;
          return;
        }
      }
      let settle!: (p: Place | undefined) => void;
      if (linkKey && !first) this.#hardLinks.set(linkKey, new Promise((resolve) => (settle = resolve)));
      try {
        const done = await this.#createLeaf(fd, place, node, snapshotPath, content);
        settle?.(done ? place : undefined);
      } catch (err) {
        settle?.(undefined);
        throw err;
      }
    } catch (err) {
      if (err instanceof LifeboatError && err.code === 'TARGET_EXISTS') throw err;
      this.result.errors.push(`${snapshotPath}: ${describeError(err)}`);
    } finally {
      if (fd !== undefined) dirs.release(place.rel);
      if (!content.taken && isSmall(node)) files.skip(contentIds(node)); // its runs need not wait for it
    }
  }

  /** Creates a file, symlink or special file in the held folder `fd`; false when it was skipped. */
  async #createLeaf(fd: number, place: Place, original: TreeNode, snapshotPath: string, content: SmallFileContent): Promise<boolean> {
    const { node, heldBack } = ordinaryMetadata(original, this.#options.restorePrivileged === true);
    if (heldBack.length) this.result.warnings.push(`${snapshotPath}: held back ${heldBack.join(', ')} (--restore-privileged restores them)`);
    const dest = entryPath(fd, place.name);
    if (node.type === 'file') {
      const st = this.#dirs!.lstat(fd, place.rel, place.name);
      if (st?.isFile() && (this.#options.existing ?? 'skip-identical') === 'skip-identical' && st.size === node.size && (await verifyFile(this.#repo, dest, node)) === undefined) {
        this.result.skippedIdentical++;
        await this.#metadata(snapshotPath, () => applyExistingFileMetadata(dest, node)); // an identical file left in place
        return true;
      }
      if (!(await this.#prepare(place, node, snapshotPath, st))) return false;
      await this.#content!.write(dest, node, content, snapshotPath);
      this.result.bytes = this.#content!.bytes;
      this.result.files++;
      if (this.#options.verify) this.#written.push({ ...place, node, shown: snapshotPath });
      this.#options.onProgress?.({ files: this.result.files, bytes: this.result.bytes });
      return true;
    }
    if (heldBack.includes('device node')) return false;
    if (!(await this.#prepare(place, node, snapshotPath))) return false;
    if (node.type === 'symlink') createSymlinkAt(fd, place.name, node);
    else if (createSpecialAt(fd, place.name, node) === 'skipped') {
      this.result.warnings.push(`${snapshotPath}: ${node.type} not restored (only root can create device nodes and sockets)`);
      return false;
    }
    await this.#metadata(snapshotPath, () => applyMetadataAt(fd, place.name, node));
    this.result.other++;
    return true;
  }

  /**
   * Makes room for `node` at `place` according to the existing-file policy; false to skip it.
   * `st` is what is there now, when the caller already looked (throwIfNoEntry: an exception
   * per new file would cost more than the rest of the restore).
   */
  async #prepare(place: Place, node: TreeNode, snapshotPath: string, st?: Stats): Promise<boolean> {
    const dirs = this.#dirs!;
    return await dirs.with(place.rel, async (fd) => {
      const there = st ?? dirs.lstat(fd, place.rel, place.name);
      const below = childOf(place.rel, place.name);
      if (there && node.type === 'dir' && there.isDirectory()) return true;
      if (there) {
        if (this.#options.existing === 'fail') {
          throw new LifeboatError('TARGET_EXISTS', `Cannot restore "${snapshotPath}": it already exists in the target`, {
            hint: 'Restore into an empty directory, or use --existing skip-identical or --existing overwrite.',
          });
        }
        removeEntryAt(fd, place.name); // never through a link: one in the way is removed itself
      }
      if (node.type === 'dir') {
        await createDirectoryAt(fd, place.name);
        dirs.markFresh(below);
      }
      return true;
    });
  }

  async #directoryMetadata(rel: string, original: TreeNode, snapshotPath: string): Promise<void> {
    const { node, heldBack } = ordinaryMetadata(original, this.#options.restorePrivileged === true);
    if (heldBack.length) this.result.warnings.push(`${snapshotPath}: held back ${heldBack.join(', ')} (--restore-privileged restores them)`);
    await this.#metadata(snapshotPath, () => this.#dirs!.with(rel, (fd) => applyDirectoryMetadata(fd, node)));
  }

  /** Problems that did not stop `apply` are warnings; its failure is the entry's error. */
  async #metadata(snapshotPath: string, apply: () => string[] | Promise<string[]>): Promise<void> {
    try {
      for (const p of await apply()) this.result.warnings.push(`${snapshotPath}: ${p}`);
    } catch (err) {
      this.result.errors.push(`${snapshotPath}: cannot set metadata: ${describeError(err)}`);
    }
  }

  async #verify(): Promise<void> {
    const limiter = new Limiter(4);
    await Promise.all(
      this.#written.map(({ rel, name, node, shown }) =>
        limiter.run(async () => {
          const problem = await this.#dirs!.with(rel, (fd) => verifyFile(this.#repo, entryPath(fd, name), node)).catch((err) => describeError(err));
          if (problem) this.result.errors.push(`${shown}: verification failed: ${problem}`);
          else this.result.verified++;
        }),
      ),
    );
  }
}

interface Batches {
  trees: BlobBatch;
  files: BlobBatch;
}
