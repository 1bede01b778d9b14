// Paths longer than the kernel takes in one call (PATH_MAX, 4,096 bytes) are reached through a
// folder held open above them: /proc/self/fd/N/REST, which the kernel resolves from folder N as
// openat(N, REST) would, with N itself opened the same way from a folder further up. No path the
// kernel is given is then too long, so a tree of any depth backs up (restic, borg and rsync lose
// such paths). Shorter paths are used as they are, at no cost.
import { openSync } from 'node:fs';
import { HeldDescriptors } from '../lib/held-descriptors.ts';
import { DIRECTORY_FLAGS } from './files-at.ts'; // held, not read (O_PATH), never through a link

/** Paths from this length on go through a held folder. */
const LONG_BYTES = 3072;
/**
 * Where held folders are: the last "/" at or before a multiple of this, counted on the folder of
 * the path, so that every entry of a folder (and of its neighbours) shares one. What follows it is
 * at most this plus a folder name plus an entry name: 2,048 + 255 + 256 < LONG_BYTES.
 */
const STRIDE_BYTES = 2048;
/** Held folders kept open while nothing uses them, for the next entries of the same folders. */
const IDLE_HELD = 16;

export class LongPaths {
  readonly #held = new HeldDescriptors(IDLE_HELD);

  /** Runs `use` with a path the kernel takes for `path`; it stays valid until what `use` returns has settled. */
  with<T>(path: Buffer, use: (path: Buffer) => Promise<T>): Promise<T> {
    if (path.length < LONG_BYTES) return use(path); // nearly always: no hop through another promise
    const { short, release } = this.hold(path);
    try {
      return use(short).finally(release);
    } catch (err) {
      release();
      throw err;
    }
  }

  withSync<T>(path: Buffer, use: (path: Buffer) => T): T {
    const { short, release } = this.hold(path);
    try {
      return use(short);
    } finally {
      release();
    }
  }

  /** A short path for `path`, valid until `release` is called. */
  hold(path: Buffer): { short: Buffer; release: () => void } {
    if (path.length < LONG_BYTES) return { short: path, release: () => {} };
    const anchor = anchorOf(path);
    const fd = this.#acquire(path.subarray(0, anchor));
    const short = Buffer.concat([Buffer.from(`/proc/self/fd/${fd}/`), path.subarray(anchor + 1)]);
    let released = false;
    return {
      short,
      release: () => {
        if (!released) this.#held.release(path.subarray(0, anchor).toString('latin1'));
        released = true;
      },
    };
  }

  /** Closes every held folder. */
  close(): void {
    this.#held.close();
  }

  /** The folder `folder` opened (or still open), held until released. */
  #acquire(folder: Buffer): number {
    const key = folder.toString('latin1');
    return this.#held.take(key) ?? this.#held.put(key, this.withSync(folder, (short) => openSync(short, DIRECTORY_FLAGS)));
  }
}

/** The index of the "/" after which the rest of `path` is short: see STRIDE_BYTES. */
function anchorOf(path: Buffer): number {
  const folderEnd = path.lastIndexOf(0x2f);
  const limit = Math.floor(folderEnd / STRIDE_BYTES) * STRIDE_BYTES;
  const anchor = path.lastIndexOf(0x2f, limit);
  if (anchor <= 0) {
    const err = new Error(`a path component is too long: ${path.subarray(0, 64)}...`);
    throw Object.assign(err, { code: 'ENAMETOOLONG' });
  }
  return anchor;
}
