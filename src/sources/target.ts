// The face every restore target implements: where a snapshot's entries go. One restore pipeline
// (engine/restore.ts) walks the snapshot, reads and verifies blobs, and hands each entry to the
// target in its folder; a target only says how an entry is put in place. A folder on this machine
// (files-target.ts) and a tar stream (tar-target.ts, for dump) are the first two; a database put
// back into a running server is a further implementation of this face, not a further pipeline.
import type { OperationEvents } from '../model/events.ts';
import type { TreeNode } from '../model/tree.ts';

/** Where an entry goes: its folder below the top ("" is the top, "a/b" below it, raw bytes as latin1), and its name. */
export interface Place {
  folder: string;
  name: Buffer;
}

/** The path below the top of the folder that `name` inside `folder` is. */
export function childOf(folder: string, name: Buffer): string {
  const own = name.toString('latin1');
  return folder === '' ? own : `${folder}/${own}`;
}

/** A file's content as the engine provides it: read from the repository, each blob checked against its id. */
export interface FileContent {
  /** The bytes in order, one blob at a time. */
  chunks(): AsyncIterable<Uint8Array>;
  /**
   * Writes the content into a new local file at `path` (created, never through a link at its last
   * component), in parallel and sparse where the original was, then `metadata`'s mode, owner,
   * attributes and times through its descriptor. Resolves with problems that did not stop it.
   */
  writeLocalFile(path: Buffer, metadata: TreeNode): Promise<string[]>;
  /**
   * Why the local file at `path` does not hold exactly this content; undefined when it does. It
   * holds nothing else alive, so a target may keep it for later (--verify).
   */
  readonly differsFrom: (path: Buffer) => Promise<string | undefined>;
}

/** What became of an entry: put in place, already there and identical, or left out (the target said why). */
export type Outcome = 'written' | 'identical' | 'skipped';

export interface Target {
  /**
   * Whether entries must come strictly in the snapshot's order, one at a time (a stream); when
   * false, folders and files are handed over concurrently.
   */
  readonly ordered: boolean;
  /** Called before anything else; the target reports warnings about single entries to `events`. */
  open(events: OperationEvents): Promise<void>;
  /** A folder, before anything in it; false when it was left out, and everything below with it. */
  beginFolder(place: Place, node: TreeNode, path: string): Promise<boolean>;
  /** The same folder once everything in it is done: its metadata goes on now. */
  finishFolder(place: Place, node: TreeNode, path: string): Promise<void>;
  writeFile(place: Place, node: TreeNode, content: FileContent, path: string): Promise<Outcome>;
  /** A second name for the entry put at `first` (a hard link). */
  linkTo(place: Place, node: TreeNode, first: Place, path: string): Promise<Outcome>;
  /** A symbolic link, FIFO, socket or device node. */
  makeSpecial(place: Place, node: TreeNode, path: string): Promise<Outcome>;
  /** After the last entry: `complete` is false when the restore failed or was cancelled. */
  close(complete: boolean): Promise<void>;
}

/**
 * Thrown by a target that cannot go on (the reader of a stream went away, an entry exists and the
 * user asked to fail): the restore stops with `cause`, where any other error costs one entry.
 */
export class TargetStopped extends Error {
  constructor(cause: unknown) {
    super('the restore target cannot go on', { cause });
    this.name = 'TargetStopped';
  }
}
