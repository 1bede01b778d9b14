// Descriptors of the folders a restore writes into, each opened relative to its parent without
// following links (files-at.ts's openDirectoryAt), starting from the target itself. A folder
// is named by its path below the target ("" is the target, "a/b" below it, raw bytes as latin1).
// Open descriptors are bounded: those no one holds are kept for reuse up to IDLE_DESCRIPTORS and
// then closed, and a folder asked for again is opened again, down from its nearest open ancestor.
import { accessSync, constants, lstatSync, mkdirSync, openSync, readdirSync, type Stats } from 'node:fs';
import { errnoCode } from '../errors.ts';
import { HeldDescriptors } from '../lib/held-descriptors.ts';
import { entryPath, openDirectoryAt, DIRECTORY_FLAGS } from './files-at.ts';

/** Descriptors kept open while no one holds them (a restore of a million folders needs few at once). */
const IDLE_DESCRIPTORS = 256;

export class TargetDirs {
  readonly #open = new HeldDescriptors(IDLE_DESCRIPTORS);
  /** Folders created by this restore or found empty: nothing in them needs an lstat first. */
  readonly #fresh = new Set<string>();

  /** `rootFd` is the target, opened by the caller; it stays open until close(). */
  constructor(rootFd: number) {
    this.#open.put('', rootFd); // held once more than used: never closed as idle
  }

  /** The target folder, created if missing and checked writable, held by descriptor. */
  static open(target: string): TargetDirs {
    try {
      mkdirSync(target, { recursive: true });
    } catch (err) {
      // A recursive mkdir reports ENOENT on a read-only filesystem; a plain one gives the real reason.
      mkdirSync(target);
      throw err;
    }
    accessSync(target, constants.W_OK);
    const dirs = new TargetDirs(openSync(target, DIRECTORY_FLAGS & ~constants.O_NOFOLLOW)); // the target itself may be a link
    if (readdirSync(target).length === 0) dirs.markFresh('');
    return dirs;
  }

  /** The folder's descriptor, held until release(rel); throws the open's error (ELOOP: a link). */
  acquire(rel: string): number {
    const known = this.#open.take(rel);
    if (known !== undefined) return known;
    const cut = rel.lastIndexOf('/');
    const parent = cut < 0 ? '' : rel.slice(0, cut);
    const parentFd = this.acquire(parent);
    try {
      return this.#open.put(rel, openDirectoryAt(parentFd, Buffer.from(rel.slice(cut + 1), 'latin1')));
    } finally {
      this.release(parent);
    }
  }

  /**
   * acquire(), creating the folder and any missing folder above it first (mode 0700: their own
   * entries, if any, bring their metadata): for entries restored below a folder not restored itself.
   */
  acquireCreating(rel: string): number {
    try {
      return this.acquire(rel);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || rel === '') throw err;
    }
    const cut = rel.lastIndexOf('/');
    const parent = cut < 0 ? '' : rel.slice(0, cut);
    const parentFd = this.acquireCreating(parent);
    try {
      mkdirSync(entryPath(parentFd, Buffer.from(rel.slice(cut + 1), 'latin1')), { mode: 0o700 });
      this.#fresh.add(rel);
    } finally {
      this.release(parent);
    }
    return this.acquire(rel);
  }

  /** Marks a folder as created by this restore (or found empty). */
  markFresh(rel: string): void {
    this.#fresh.add(rel);
  }

  /** What is at `name` in the held folder `rel` now; no system call inside a fresh folder. */
  lstat(fd: number, rel: string, name: Buffer): Stats | undefined {
    if (this.#fresh.has(rel)) return undefined;
    return lstatSync(entryPath(fd, name), { throwIfNoEntry: false });
  }

  release(rel: string): void {
    this.#open.release(rel);
  }

  /** Runs `use` with the folder's descriptor held until what it returns has settled. */
  async with<T>(rel: string, use: (fd: number) => T | Promise<T>): Promise<T> {
    const fd = this.acquire(rel);
    try {
      return await use(fd);
    } finally {
      this.release(rel);
    }
  }

  /** Closes every descriptor, the target's too. */
  close(): void {
    this.#open.close();
  }
}
