// Reading subfolders ahead of the backup walk (backup-walk.ts).
import type { Tree } from '../model/tree.ts';
import type { FolderListing } from '../sources/dir-scan.ts';
import type { FolderRecord } from './folder-cache.ts';

/** A subfolder's scan and parent-snapshot tree, started before the walk reaches it. */
export interface FolderAhead {
  scan?: Promise<FolderListing>;
  previousTree?: Promise<Tree | undefined>;
  /** The folder's key in the folder cache, and its record there. */
  key?: Buffer;
  record?: FolderRecord;
  /** The folder's tree in the parent snapshot, as the walk of the parent folder found it. */
  previousId?: string;
}


/**
 * Starts the reads of a folder's subfolders a few ahead of the walk. Read one by one, each
 * subfolder waited for its listing and for its parent-snapshot tree in turn: a quarter of a
 * no-change backup of the bench corpus was idle. A few, not all: each started read holds its
 * result in memory, and a folder may have a million subfolders.
 */
export class FolderPrefetch<Folder extends { name: Buffer }, Ahead extends object> {
  static readonly DEPTH = 8;
  readonly #folders: Folder[];
  readonly #start: (folder: Folder) => Ahead;
  readonly #started = new Map<Folder, Ahead>();
  #next = 0; // folders before it were taken
  #startedUpTo = 0;

  constructor(folders: Folder[], start: (folder: Folder) => Ahead) {
    this.#folders = folders;
    this.#start = start;
  }

  /** What was started for the subfolder `name`, with the following ones started. Taken in order. */
  take(name: Buffer): Ahead | undefined {
    while (this.#next < this.#folders.length && !this.#folders[this.#next].name.equals(name)) this.#started.delete(this.#folders[this.#next++]);
    if (this.#next === this.#folders.length) return undefined;
    const folder = this.#folders[this.#next++];
    for (; this.#startedUpTo < Math.min(this.#folders.length, this.#next + FolderPrefetch.DEPTH); this.#startedUpTo++) {
      const next = this.#folders[this.#startedUpTo];
      this.#started.set(next, this.#start(next));
    }
    const ahead = this.#started.get(folder);
    this.#started.delete(folder);
    return ahead;
  }
}
