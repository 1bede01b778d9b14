// The face every backup source implements: what to back up, as folders of entries with metadata
// and content. One backup pipeline (engine/backup.ts and backup-walk.ts) walks any Source, compares
// it with the parent snapshot, chunks, deduplicates and stores; a source only says what is there.
// Files and a byte stream (stdin, a program's output) are the first two; databases and mailboxes
// are further implementations of this face, not further pipelines.
import type { TreeNode } from '../model/tree.ts';
import type { EntryStats, FolderListing } from './dir-scan.ts';

/**
 * Where a file's bytes come from: a local file the chunking lanes read themselves (by a path that
 * stays valid until `release`, called once they are done), or a stream.
 */
export type EntryContent = { path: Buffer; release?: () => void } | { stream: AsyncIterable<Buffer> };

export interface Source {
  /** The snapshot's paths: the entries at its top level, and how the parent snapshot is found. */
  readonly paths: string[];
  /** Whether entries are a local file system's, which the folder cache may remember by path. */
  readonly localFolders: boolean;
  /** An entry's stats: a path given to back up, or a folder above one. */
  stat(path: Buffer): Promise<EntryStats>;
  /** A folder's entries with their stats, in name-byte order (the order trees keep). */
  list(path: Buffer): Promise<FolderListing>;
  /** An entry's node (everything but content and subtree) and its problems worth a warning. */
  describe(path: Buffer, name: Buffer, stats: EntryStats, previous?: TreeNode): Promise<{ node: TreeNode; problems: string[] }>;
  /** Whether the parent snapshot's node stands for this file, so that its content is not read again. */
  unchanged(previous: TreeNode | undefined, node: TreeNode): boolean;
  /** A file's content. */
  content(path: Buffer, node: TreeNode): EntryContent;
  /** Whether a folder is marked as a cache (CACHEDIR.TAG), for --exclude-caches. */
  isCacheDir(path: Buffer): Promise<boolean>;
  /**
   * Called after the last entry was read: resolves when what was read can be trusted; rejects
   * (a LifeboatError saying why) when not, and then no snapshot is saved.
   */
  finished(): Promise<void>;
  /** Stops what the source started (a producing program) when the backup ends, however it ends. */
  close(): void;
}
