// Restore: hands a snapshot (or one folder or file of it) to a Target (sources/target.ts), which
// puts each entry in place: a folder on this machine, a tar stream, later a database server. One
// pipeline for every target: the walk with include and exclude patterns, tree and small-file
// reads planned per folder, big files' blobs read in runs, hard links recognised, problems with
// one entry reported and the rest restored. A target that takes entries in parallel gets folders
// and files concurrently; an ordered one gets them one at a time, depth first.
import { availableParallelism } from 'node:os';
import { describeError, entryErrorCode, LifeboatError } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import type { OperationContext, OperationEvents } from '../model/events.ts';
import type { SnapshotRecord } from '../model/snapshot.ts';
import { nodeNameBytes, type TreeNode } from '../model/tree.ts';
import { BlobBatch, type Repository } from '../repo/repository.ts';
import { childOf, TargetStopped, type Outcome, type Place, type Target } from '../sources/target.ts';
import { PathMatcher } from './excludes.ts';
import { ContentWriter, contentIds, isSmall, type SmallFileContent } from './restore-content.ts';
import { RestoreWriters } from './restore-writers.ts';
import { findNode } from './tree-path.ts';

export interface RestoreOptions extends OperationContext {
  /** A folder or file inside the snapshot, e.g. "/home/ann/docs". */
  subfolder?: string;
  include?: string[];
  exclude?: string[];
}

/** Entries the target put in place (a hard link counts as a file), and content bytes read. */
export interface RestoreResult {
  files: number;
  dirs: number;
  other: number;
  bytes: number;
  /** Files the target already held, identical. */
  skippedIdentical: number;
  /** Entries that could not be restored (each reported to events.problem). */
  problems: number;
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
/**
 * Small files and listings of a directory read ahead as soon as its own listing is in. An ordered
 * target holds every folder from the top down to the current one open, each with what it read
 * ahead: less each, so that memory grows slowly with depth.
 */
const PREFETCH_BYTES_PER_DIR = 8 * 1024 * 1024;
const PREFETCH_BYTES_PER_ORDERED_DIR = 1024 * 1024;
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

export async function restoreSnapshot(
  repo: Repository, snapshot: SnapshotRecord, target: Target, options: RestoreOptions = {},
): Promise<RestoreResult> {
  const restorer = new Restorer(repo, target, options);
  await restorer.run(snapshot);
  return restorer.result;
}

class Restorer {
  readonly result: RestoreResult = { files: 0, dirs: 0, other: 0, bytes: 0, skippedIdentical: 0, problems: 0 };
  readonly #repo: Repository;
  readonly #target: Target;
  readonly #options: RestoreOptions;
  readonly #events: OperationEvents;
  readonly #include: PathMatcher;
  readonly #exclude: PathMatcher;
  readonly #files: Limiter;
  readonly #openDirs: Limiter | undefined;
  readonly #tasks = new Set<Promise<void>>();
  readonly #hardLinks = new Map<string, Promise<Place | undefined>>();
  #writers: RestoreWriters | undefined;
  #content: ContentWriter | undefined;
  /** What stops the whole restore (the target cannot go on); per-entry problems go to events. */
  #fatal: unknown;

  constructor(repo: Repository, target: Target, options: RestoreOptions) {
    this.#repo = repo;
    this.#target = target;
    this.#options = options;
    this.#include = new PathMatcher(options.include ?? []);
    this.#exclude = new PathMatcher(options.exclude ?? []);
    // An ordered target takes one entry at a time; the walk then goes depth first, in order.
    this.#files = new Limiter(target.ordered ? 1 : FILE_SLOTS);
    this.#openDirs = target.ordered ? undefined : new Limiter(OPEN_DIRS);
    this.#events = {
      ...options.events,
      problem: (p) => {
        this.result.problems++;
        options.events?.problem?.(p);
      },
    };
  }

  async run(snapshot: SnapshotRecord): Promise<void> {
    await this.#target.open(this.#events);
    this.#writers = new RestoreWriters(WRITER_JOBS, FILE_SLOTS / 4, this.#repo.blobIdKey);
    this.#content = new ContentWriter(this.#repo, this.#writers);
    let complete = false;
    try {
      try {
        await this.#restoreSelection(snapshot);
        await this.#drain();
      } finally {
        await Promise.allSettled(this.#tasks);
        await this.#writers.close();
      }
      complete = true;
    } finally {
      await this.#target.close(complete);
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

  #problem(path: string, err: unknown, what = ''): void {
    if (err instanceof TargetStopped) {
      this.#fatal ??= err.cause;
      throw err.cause;
    }
    this.#events.problem!({ path: path || '/', code: entryErrorCode(err), message: what + describeError(err) });
  }

  /**
   * Restores a directory's entries; its subdirectories proceed concurrently, so that the latency of
   * reading their listings and small files overlaps (on remote storage, what restore waits for).
   * A directory holds one of OPEN_DIRS slots from reading its listing until all its files have
   * started, never while waiting for its subdirectories: that bounds memory without deadlock.
   * `trees` holds this tree's read when it was planned together with its siblings'. Once
   * everything below is done, the target finishes the folder at `place`.
   */
  async #restoreTree(
    treeId: string, folder: string, snapshotPath: string, trees?: BlobBatch, begun?: { place: Place; node: TreeNode },
  ): Promise<void> {
    const children: Array<Promise<void>> = [];
    await this.#openDirs?.acquire();
    try {
      await this.#restoreTreeEntries(treeId, folder, snapshotPath, trees, children);
    } finally {
      this.#openDirs?.release();
    }
    await Promise.all(children);
    if (!begun) return;
    try {
      await this.#target.finishFolder(begun.place, begun.node, snapshotPath);
    } catch (err) {
      this.#problem(snapshotPath, err, 'cannot set metadata: ');
    }
  }

  async #restoreTreeEntries(
    treeId: string, folder: string, snapshotPath: string, trees: BlobBatch | undefined, children: Array<Promise<void>>,
  ): Promise<void> {
    let tree;
    try {
      tree = await this.#repo.loadTree(treeId, trees);
    } catch (err) {
      this.#problem(snapshotPath, err, "cannot read this directory's listing from the repository: ");
      return;
    }
    for (const d of tree.damaged) {
      const path = `${snapshotPath}/${d.name}`;
      this.#events.problem!({ path, code: 'REPO_CORRUPT', message: `refused: ${d.problem}` });
    }
    // Subdirectory listings and the small files here are read a few requests at a time, not one
    // request each: what makes restoring from remote storage fast.
    const subtrees: Buffer[] = [];
    const small: Buffer[] = [];
    for (const node of tree.nodes) {
      const path = `${snapshotPath}/${node.name}`;
      if (!this.#wanted(path, node.type === 'dir')) continue;
      if (node.subtree) subtrees.push(Buffer.from(node.subtree, 'hex'));
      else if (isSmall(node) && (this.#include.empty || this.#include.matches(path, false))) {
        small.push(...contentIds(node));
      }
    }
    const batches = { trees: new BlobBatch(this.#repo, subtrees), files: new BlobBatch(this.#repo, small) };
    const ahead = this.#target.ordered ? PREFETCH_BYTES_PER_ORDERED_DIR : PREFETCH_BYTES_PER_DIR;
    batches.files.prefetch(ahead);
    batches.trees.prefetch(ahead);
    for (const node of tree.nodes) await this.#restoreEntry(node, folder, snapshotPath, children, batches);
  }

  #wanted(path: string, isDir: boolean): boolean {
    return this.#exclude.empty || !this.#exclude.matches(path, isDir);
  }

  /**
   * Nothing is waited for: subdirectories' restores and files' tasks are added to `children`,
   * except for an ordered target, which gets each entry done before the next.
   */
  async #restoreEntry(
    node: TreeNode, folder: string, parentPath: string, children: Array<Promise<void>>, batches?: Batches,
  ): Promise<void> {
    this.#options.signal?.throwIfAborted();
    const snapshotPath = `${parentPath}/${node.name}`;
    const isDir = node.type === 'dir';
    if (!this.#wanted(snapshotPath, isDir)) return;
    const place = { folder, name: nodeNameBytes(node) };
    const ordered = this.#target.ordered;
    if (isDir) {
      const below = childOf(folder, place.name);
      let begun;
      if (this.#include.empty || this.#include.matches(snapshotPath, true)) {
        try {
          if (!(await this.#target.beginFolder(place, node, snapshotPath))) return;
        } catch (err) {
          this.#problem(snapshotPath, err);
          return;
        }
        this.result.dirs++;
        begun = { place, node };
      } // else not included itself: descend only to find included entries below
      if (!node.subtree) return;
      const child = this.#restoreTree(node.subtree, below, snapshotPath, batches?.trees, begun);
      if (ordered) return await child;
      child.catch(() => {}); // awaited with its siblings; this only keeps an early failure from counting as unhandled
      children.push(child);
      return;
    }
    const files = batches?.files ?? new BlobBatch(this.#repo, []);
    if (!this.#include.empty && !this.#include.matches(snapshotPath, false)) return;
    const slots = isSmall(node) && !ordered ? Math.max(1, Math.ceil(node.size / SMALL_FILE_BYTES_PER_SLOT)) : 1;
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
    if (ordered) {
      await task;
      if (this.#fatal) throw this.#fatal;
    } else children.push(task);
  }

  async #restoreLeaf(place: Place, node: TreeNode, snapshotPath: string, files: BlobBatch): Promise<void> {
    const small: SmallFileContent = { batch: files, taken: false };
    try {
      // Looked up and claimed in one turn: another name of the same file, started meanwhile,
      // must find this one's claim and link to it, not write a second copy.
      const linkKey = node.links > 1 ? `${node.device}:${node.inode}` : undefined;
      const first = linkKey ? this.#hardLinks.get(linkKey) : undefined;
      let settle: ((p: Place | undefined) => void) | undefined;
      if (linkKey && !first) this.#hardLinks.set(linkKey, new Promise((resolve) => (settle = resolve)));
      const firstPlace = first && (await first);
      if (firstPlace) {
        this.#count(await this.#target.linkTo(place, node, firstPlace, snapshotPath), 'files');
        return;
      }
      try {
        const done = await this.#putLeaf(place, node, snapshotPath, small);
        settle?.(done ? place : undefined);
      } catch (err) {
        settle?.(undefined);
        throw err;
      }
    } catch (err) {
      this.#problem(snapshotPath, err);
    } finally {
      if (!small.taken && isSmall(node)) files.skip(contentIds(node)); // its runs need not wait for it
    }
  }

  /** Hands a file, link or special file to the target; true when it is in place. */
  async #putLeaf(place: Place, node: TreeNode, snapshotPath: string, small: SmallFileContent): Promise<boolean> {
    if (node.type !== 'file') return this.#count(await this.#target.makeSpecial(place, node, snapshotPath), 'other');
    const content = this.#content!.contentOf(node, small);
    const outcome = await this.#target.writeFile(place, node, content, snapshotPath);
    this.result.bytes = this.#content!.bytes;
    const done = this.#count(outcome, 'files');
    if (outcome === 'written') this.#events.progress?.({ files: this.result.files, bytes: this.result.bytes });
    return done;
  }

  #count(outcome: Outcome, kind: 'files' | 'other'): boolean {
    if (outcome === 'written') this.result[kind]++;
    else if (outcome === 'identical') this.result.skippedIdentical++;
    return outcome !== 'skipped';
  }
}

interface Batches {
  trees: BlobBatch;
  files: BlobBatch;
}
