// A folder's entries with their lstat results from one native call on a libuv pool thread
// (native/scan_dir.c). The walk used to readdir and then lstat and llistxattr every entry on the
// main thread, building a BigIntStats for each: a third of a no-change backup's main thread. Now
// the system calls run beside the walk's own work, and an entry's numbers are read only when asked.
import { createHash } from 'node:crypto';
import { constants as fsConstants, type BigIntStats } from 'node:fs';
import { constants } from 'node:os';
import { nativeAddon, type NativeLayout } from '../lib/native-addon.ts';

/** What a backup reads of an entry's lstat: a BigIntStats has it, and so does a scanned entry. */
export type EntryStats = Pick<
  BigIntStats,
  'dev' | 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'rdev' | 'size' | 'blocks' | 'mtimeNs' | 'ctimeNs' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice'
> & {
  /** Length of the entry's xattr name list when the scan measured it; 0: it has none; -1: unknown. */
  readonly xattrListBytes?: number;
};

export interface ScannedEntry {
  name: Buffer;
  stats?: EntryStats;
  /** Why the entry could not be lstat'ed (it vanished after the folder was read, or is unreadable). */
  error?: NodeJS.ErrnoException;
}

/** Where each number is in scanDirectory's output: the addon says (native/addon.h). */
type ScanLayout = NativeLayout['scan'];
const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK } = fsConstants;
const ERRNO_CODES = new Map(Object.entries(constants.errno).map(([code, n]) => [n, code]));

class ScannedStats implements EntryStats {
  readonly #fields: BigInt64Array;
  readonly #at: number;
  readonly #l: ScanLayout;

  constructor(fields: BigInt64Array, entry: number, layout: ScanLayout) {
    this.#fields = fields;
    this.#at = entry * layout.fields;
    this.#l = layout;
  }

  get dev(): bigint { return this.#fields[this.#at + this.#l.dev]; }
  get ino(): bigint { return this.#fields[this.#at + this.#l.ino]; }
  get mode(): bigint { return this.#fields[this.#at + this.#l.mode]; }
  get nlink(): bigint { return this.#fields[this.#at + this.#l.nlink]; }
  get uid(): bigint { return this.#fields[this.#at + this.#l.uid]; }
  get gid(): bigint { return this.#fields[this.#at + this.#l.gid]; }
  get rdev(): bigint { return this.#fields[this.#at + this.#l.rdev]; }
  get size(): bigint { return this.#fields[this.#at + this.#l.size]; }
  get blocks(): bigint { return this.#fields[this.#at + this.#l.blocks]; }
  get mtimeNs(): bigint { return this.#fields[this.#at + this.#l.mtimeNs]; }
  get ctimeNs(): bigint { return this.#fields[this.#at + this.#l.ctimeNs]; }
  get xattrListBytes(): number { return Number(this.#fields[this.#at + this.#l.xattrBytes]); }
  isFile(): boolean { return this.#type() === S_IFREG; }
  isDirectory(): boolean { return this.#type() === S_IFDIR; }
  isSymbolicLink(): boolean { return this.#type() === S_IFLNK; }
  isFIFO(): boolean { return this.#type() === S_IFIFO; }
  isCharacterDevice(): boolean { return this.#type() === S_IFCHR; }
  isBlockDevice(): boolean { return this.#type() === S_IFBLK; }

  #type(): number {
    return Number(this.#fields[this.#at + this.#l.mode]) & S_IFMT;
  }
}

function lstatError(errno: number, path: Buffer, name: Buffer): NodeJS.ErrnoException {
  const code = ERRNO_CODES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${code}: lstat '${path.toString('utf8')}/${name.toString('utf8')}'`);
  err.code = code;
  err.errno = -errno;
  err.syscall = 'lstat';
  return err;
}

/**
 * A folder's listing: its entries, and a digest of everything the scan saw (names and lstat
 * numbers, xattr list sizes and errors), for the folder cache to tell an unchanged folder.
 */
export interface FolderListing {
  readonly entries: ScannedEntry[];
  /** SHA-256 of `key` (which keeps the digest from being guessed) and the scan's raw output. The Buffer is shared: do not change it. */
  digest(key: Uint8Array): Buffer;
  /** The entries that are directories, read from the numbers without building entries. */
  directories(): Array<{ name: Buffer; dev: bigint }>;
}

/** The entries of a folder, sorted by name bytes (the order trees store them in). */
export async function scanDirectory(path: Buffer): Promise<ScannedEntry[]> {
  return (await scanFolder(path)).entries;
}

export async function scanFolder(path: Buffer): Promise<FolderListing> {
  const native = nativeAddon();
  const layout = native.layout.scan;
  const { names, ends, stats } = await native.scanDirectory(path);
  let entries: ScannedEntry[] | undefined;
  let digested: { key: Uint8Array; value: Buffer } | undefined; // the walk asks twice for the same key
  const nameAt = (i: number): Buffer => names.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
  return {
    get entries() {
      if (entries) return entries;
      entries = new Array(ends.length);
      for (let i = 0; i < ends.length; i++) {
        const name = nameAt(i);
        const errno = Number(stats[i * layout.fields + layout.errno]);
        entries[i] = errno ? { name, error: lstatError(errno, path, name) } : { name, stats: new ScannedStats(stats, i, layout) };
      }
      return entries;
    },
    digest(key) {
      if (digested?.key === key) return digested.value;
      const view = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      digested = { key, value: createHash('sha256').update(key).update(view(ends)).update(names).update(view(stats)).digest() };
      return digested.value;
    },
    directories() {
      const dirs: Array<{ name: Buffer; dev: bigint }> = [];
      for (let i = 0; i < ends.length; i++) {
        const at = i * layout.fields;
        if (stats[at + layout.errno] === 0n && (Number(stats[at + layout.mode]) & S_IFMT) === S_IFDIR) dirs.push({ name: nameAt(i), dev: stats[at + layout.dev] });
      }
      return dirs;
    },
  };
}
