// The backup pipeline, one for every Source (sources/source.ts): walks the source's paths, reuses
// the parent snapshot's record of every unchanged file (for files: same size, mtime, ctime, inode;
// never read again), chunks changed files in native lanes (chunk-pool.ts) and streams on the main
// thread, stores new blobs, and writes trees bottom-up, then the snapshot once the source vouches
// for what it gave.
import { hostname, userInfo } from 'node:os';
import { monotonicMs, nowLocalIso } from '../lib/clock.ts';
import type { BackupSummary, Snapshot, SnapshotRecord } from '../model/snapshot.ts';
import { compareNodes, type Tree, type TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import type { Source } from '../sources/source.ts';
import { ChunkPool } from './chunk-pool.ts';
import { TreeWalker, type WalkOptions } from './backup-walk.ts';
import { FolderCache } from './folder-cache.ts';

export interface BackupOptions extends WalkOptions {
  host?: string;
  tags?: string[];
  /** The snapshot's time (RFC 3339), instead of now: for imports and tests. */
  time?: string;
  /** A snapshot id to compare against; default: the latest of the same host and paths. */
  parent?: SnapshotRecord | null;
  dryRun?: boolean;
  /**
   * Where this machine keeps what each backup saw of every folder (folder-cache.ts), so that the
   * next backup of the same paths skips unchanged folders' trees. None: every folder is compared.
   */
  folderCacheDir?: string;
}

export interface BackupResult {
  snapshotId?: string;
  snapshot: Snapshot;
  /** summary.errors counts the entries that could not be read, each reported to events.problem. */
  summary: BackupSummary;
  /** Folders whose listing the folder cache found unchanged, so their trees were not read. */
  foldersFromCache?: number;
}

export function emptySummary(): BackupSummary {
  return {
    filesNew: 0, filesChanged: 0, filesUnchanged: 0, dirsNew: 0, dirsChanged: 0, dirsUnchanged: 0,
    bytesRead: 0, bytesAdded: 0, bytesAddedStored: 0, blobsAdded: 0, totalFiles: 0, totalBytes: 0, errors: 0, durationMs: 0,
  };
}

export function programName(): string {
  return `lifeboat ${process.env.npm_package_version ?? ''}`.trim();
}

export function snapshotOwner(): { username: string; uid: number; gid: number } {
  let username = '';
  try {
    username = userInfo().username;
  } catch {}
  return { username, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/** The latest snapshot of the same host and exactly the same paths, to compare against. */
export async function findParent(repo: Repository, host: string, paths: string[]): Promise<SnapshotRecord | undefined> {
  const { snapshots } = await repo.snapshots.list({ hosts: [host] });
  const key = [...paths].sort().join('\0');
  return snapshots.filter((s) => [...s.paths].sort().join('\0') === key).at(-1);
}

/** Paths as a tree of components: intermediate directories hold only what was selected. */
interface Selection {
  children: Map<string, Selection>;
  /** The absolute path backed up in full at this point. */
  target?: string;
}

function selectionOf(paths: string[]): Selection {
  const root: Selection = { children: new Map() };
  for (const path of paths) {
    let at = root;
    for (const part of path.split('/').filter(Boolean)) {
      if (at.target) break; // an ancestor is backed up in full already
      let next = at.children.get(part);
      if (!next) at.children.set(part, (next = { children: new Map() }));
      at = next;
    }
    if (!at.target) {
      at.target = path;
      at.children.clear();
    }
  }
  return root;
}

export async function backupSource(repo: Repository, source: Source, options: BackupOptions): Promise<BackupResult> {
  const started = monotonicMs();
  const paths = source.paths;
  const host = options.host ?? hostname();
  const parent = options.parent === null ? undefined : (options.parent ?? (await findParent(repo, host, paths)));
  const summary = emptySummary();
  const pool = new ChunkPool(repo, undefined, options.compressionLevel);
  const folders =
    options.folderCacheDir !== undefined && source.localFolders ? FolderCache.open(repo, options.folderCacheDir, cacheSettings(host, paths, options), parent?.id) : undefined;
  const walker = new TreeWalker(repo, source, pool, summary, options, folders);
  let rootTree: string;
  try {
    const parentRoot = parent ? await walker.loadTreeOrEmpty(parent.tree, '/') : undefined;
    rootTree = await saveSelection(walker, selectionOf(paths), '', parentRoot);
    options.signal?.throwIfAborted();
    await source.finished();
    if (!options.dryRun) await repo.flush();
  } finally {
    await pool.close(); // first: the lanes may still read by paths the source holds valid
    source.close();
  }
  summary.durationMs = Math.round(monotonicMs() - started);
  summary.errors = walker.reports.problems;
  const snapshot: Snapshot = {
    version: 1,
    time: options.time ?? nowLocalIso(),
    host,
    ...snapshotOwner(),
    paths,
    tags: options.tags ?? [],
    tree: rootTree,
    program: programName(),
    summary,
  };
  if (parent) snapshot.parent = parent.id;
  if (walker.reports.problems) {
    snapshot.incomplete = true;
    snapshot.errors = walker.reports.firstProblems;
  }
  options.signal?.throwIfAborted(); // the last moment at which a cancel leaves no snapshot
  const snapshotId = options.dryRun ? undefined : await repo.snapshots.save(snapshot);
  const cacheProblem = snapshotId && (await folders?.save(snapshotId));
  if (cacheProblem) walker.reports.warning(options.folderCacheDir!, cacheProblem, 'CACHE');
  return { snapshotId, snapshot, summary, foldersFromCache: walker.foldersFromCache };
}

/** What decides which entries the trees of a backup hold, beside the folders' listings. */
function cacheSettings(host: string, paths: string[], options: BackupOptions): unknown {
  const { excludes, excludeIfPresent, excludeCaches, oneFileSystem, excludeLargerThanBytes } = options;
  return { version: 1, host, paths, excludes, excludeIfPresent, excludeCaches, oneFileSystem, excludeLargerThanBytes };
}

/** Saves the tree for one level of the selection and returns its id. */
async function saveSelection(walker: TreeWalker, sel: Selection, dirPath: string, parentTree: Tree | undefined): Promise<string> {
  if (sel.target !== undefined && dirPath === '') {
    // Backing up "/" itself: the root tree is the root directory's tree.
    return await walker.directoryTree(Buffer.from('/'), parentTree);
  }
  const nodes: TreeNode[] = [];
  for (const [name, child] of sel.children) {
    const path = `${dirPath}/${name}`;
    const previous = parentTree?.nodes.find((n) => n.name === name && n.nameRaw === undefined);
    if (child.target !== undefined) {
      const node = await walker.topLevelEntry(Buffer.from(path), previous);
      if (node) nodes.push(node);
      continue;
    }
    const node = await walker.bareDirectory(Buffer.from(path), Buffer.from(name));
    if (!node) continue;
    const previousTree = previous?.subtree ? await walker.loadTreeOrEmpty(previous.subtree, path) : undefined;
    node.subtree = await saveSelection(walker, child, path, previousTree);
    nodes.push(node);
  }
  nodes.sort(compareNodes);
  return await walker.saveTree({ nodes });
}

