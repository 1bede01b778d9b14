// The folder cache: what the last backup of the same paths saw of each folder, kept on this
// machine. A folder whose listing is exactly the same as then (every name, and every lstat number
// of every entry: size, times, inode, owner, mode, links, xattr list size) keeps its tree from the
// parent snapshot, without that tree being read, decrypted and parsed and each entry described and
// compared again: most of a no-change backup's main thread. Subfolders are still walked; a folder
// whose subfolders changed takes the parent snapshot's tree with their new trees put in.
//
// It is used only when it describes the parent snapshot itself, was written with the same options
// and the same user and group names, and every index file it was written beside is still there (a
// prune or an index repair rewrites them, and then each folder is compared in full once). A folder
// in which anything went wrong (an unreadable entry, a warning, a file changed while read) is not
// recorded. The file holds keyed digests and tree ids only, no names.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError } from '../errors.ts';
import { nowMs } from '../lib/clock.ts';
import type { Repository } from '../repo/repository.ts';

const MAGIC = Buffer.from('LBFOLDR1');
const KEY_BYTES = 16;
const DIGEST_BYTES = 16;
const ID_BYTES = 32;
/** Path key, listing digest, tree id, files (u32) and their bytes (f64). */
const RECORD_BYTES = KEY_BYTES + DIGEST_BYTES + ID_BYTES + 4 + 8;
const HEADER_BYTES = MAGIC.length + ID_BYTES + ID_BYTES + 4;
/** A cache file no backup has written for this long belongs to paths or a repository gone. */
const UNUSED_DAYS = 60;

export interface FolderRecord {
  digest: Buffer;
  treeId: string;
  /** The files the folder itself holds (not its subfolders'), and their bytes, as a backup counts them. */
  files: number;
  bytes: number;
}

/** A folder the walk has listed: where it is, its key here, and its listing's digest. */
export interface SeenFolder {
  /** The folder's path (latin1). */
  path: string;
  key: Buffer;
  digest: Buffer;
}

export class FolderCache {
  readonly #repo: Repository;
  readonly #file: string;
  readonly #scope: Buffer;
  /** The parent snapshot's records, sorted by path key; empty when there is no usable cache. */
  readonly #old: Buffer;
  readonly #new: Buffer[] = [];
  /** Folders in or below which an entry had an error or a warning: they are not recorded. */
  readonly #troubled = new Set<string>();

  private constructor(repo: Repository, file: string, scope: Buffer, old: Buffer) {
    this.#repo = repo;
    this.#file = file;
    this.#scope = scope;
    this.#old = old;
  }

  /**
   * Opens the cache in `dir` for these settings (host, paths and walk options: anything that
   * changes which entries a tree holds). Its records are used only when they describe `parentId`;
   * a missing, damaged or stale file just means a backup that compares every folder.
   */
  static open(repo: Repository, dir: string, walkSettings: unknown, parentId: string | undefined): FolderCache {
    const settings = Buffer.from(JSON.stringify(walkSettings));
    const file = join(dir, repo.blobId(Buffer.concat([Buffer.from('folder cache\0'), settings])).toString('hex'));
    const digest = createHash('sha256').update(settings);
    for (const names of ['/etc/passwd', '/etc/group']) digest.update(readOrEmpty(names));
    const scopeDigest = digest.digest();
    return new FolderCache(repo, file, scopeDigest, parentId ? usableRecords(readOrEmpty(file), parentId, scopeDigest, repo.loadedIndexFiles) : Buffer.alloc(0));
  }

  /** The key a folder's records are found under: keyed by the repository, so it tells no path. */
  keyOf(path: Buffer): Buffer {
    return this.#repo.blobId(Buffer.concat([Buffer.from('folder\0'), path])).subarray(0, KEY_BYTES);
  }

  /** What the parent snapshot's backup saw of the folder with this key. */
  lookup(key: Buffer): FolderRecord | undefined {
    let low = 0;
    let high = this.#old.length / RECORD_BYTES - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const at = mid * RECORD_BYTES;
      const order = this.#old.compare(key, 0, KEY_BYTES, at, at + KEY_BYTES);
      if (order === 0) {
        const o = this.#old;
        return {
          digest: o.subarray(at + KEY_BYTES, at + KEY_BYTES + DIGEST_BYTES),
          treeId: o.toString('hex', at + KEY_BYTES + DIGEST_BYTES, at + KEY_BYTES + DIGEST_BYTES + ID_BYTES),
          files: o.readUInt32LE(at + RECORD_BYTES - 12),
          bytes: o.readDoubleLE(at + RECORD_BYTES - 8),
        };
      }
      if (order < 0) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }

  /** An error or warning at `path`: its folder and every folder above it are not recorded, so the next backup tries again. */
  problemAt(path: Buffer): void {
    for (let end = path.lastIndexOf(0x2f); end >= 0; end = path.lastIndexOf(0x2f, end - 1)) {
      const folder = path.toString('latin1', 0, Math.max(end, 1));
      if (this.#troubled.has(folder)) return; // and so are the ones above it
      this.#troubled.add(folder);
      if (end === 0) return;
    }
  }

  /** Records a folder this backup finished, for the next backup, unless something went wrong in it. */
  remember({ path, key, digest: listingDigest }: SeenFolder, treeId: string, files: number, bytes: number): void {
    if (this.#troubled.has(path)) return;
    const record = Buffer.allocUnsafe(RECORD_BYTES);
    key.copy(record, 0, 0, KEY_BYTES);
    listingDigest.copy(record, KEY_BYTES, 0, DIGEST_BYTES);
    record.write(treeId, KEY_BYTES + DIGEST_BYTES, ID_BYTES, 'hex');
    record.writeUInt32LE(files, RECORD_BYTES - 12);
    record.writeDoubleLE(bytes, RECORD_BYTES - 8);
    this.#new.push(record);
  }

  /**
   * Writes this backup's records for the next one, which will use them when `snapshotId` is its
   * parent. Returns a warning when the file cannot be written (nothing is lost: the next backup
   * compares every folder).
   */
  async save(snapshotId: string): Promise<string | undefined> {
    try {
      const indexFiles = await this.#repo.listIndexFiles();
      const records = [...new Map(this.#new.map((r) => [r.toString('latin1', 0, KEY_BYTES), r])).values()].sort((a, b) => Buffer.compare(a.subarray(0, KEY_BYTES), b.subarray(0, KEY_BYTES)));
      const header = Buffer.alloc(HEADER_BYTES);
      MAGIC.copy(header);
      header.write(snapshotId, MAGIC.length, ID_BYTES, 'hex');
      this.#scope.copy(header, MAGIC.length + ID_BYTES);
      header.writeUInt32LE(indexFiles.length, HEADER_BYTES - 4);
      const names = Buffer.concat(indexFiles.map((n) => Buffer.from(n, 'hex')));
      const count = Buffer.alloc(4);
      count.writeUInt32LE(records.length);
      // The folder is trusted (cli/defaults.ts); still, nothing here follows a link in it: the
      // temporary file is created new (O_EXCL, O_NOFOLLOW) and renamed over the old name.
      const temporary = `${this.#file}.${randomBytes(8).toString('hex')}.tmp`;
      const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        writeFileSync(fd, Buffer.concat([header, names, count, ...records]));
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.#file);
      removeUnused(join(this.#file, '..'));
      return undefined;
    } catch (err) {
      return `cannot write the folder cache ${this.#file} (the next backup compares every folder in full): ${describeError(err)}`;
    }
  }
}

/** Removes cache files unused for UNUSED_DAYS: only regular files, judged without following links (unlink never follows). */
function removeUnused(dir: string): void {
  const before = nowMs() - UNUSED_DAYS * 86_400_000;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st?.isFile() && st.mtimeMs < before) unlinkSync(file);
  }
}

/** A file's bytes, or none when it is missing, unreadable or a link. */
function readOrEmpty(file: string): Buffer {
  try {
    return readFileSync(file, { flag: constants.O_RDONLY | constants.O_NOFOLLOW });
  } catch {
    return Buffer.alloc(0);
  }
}

/** The records of a cache file, when it describes `parentId` in this scope and its index files all remain. */
function usableRecords(file: Buffer, parentId: string, scope: Buffer, indexFiles: readonly string[]): Buffer {
  const none = Buffer.alloc(0);
  if (file.length < HEADER_BYTES || !file.subarray(0, MAGIC.length).equals(MAGIC)) return none;
  if (file.toString('hex', MAGIC.length, MAGIC.length + ID_BYTES) !== parentId) return none;
  if (!file.subarray(MAGIC.length + ID_BYTES, MAGIC.length + 2 * ID_BYTES).equals(scope)) return none;
  const indexCount = file.readUInt32LE(HEADER_BYTES - 4);
  const recordsAt = HEADER_BYTES + indexCount * ID_BYTES + 4;
  if (file.length < recordsAt) return none;
  const present = new Set(indexFiles);
  for (let i = 0; i < indexCount; i++) {
    const at = HEADER_BYTES + i * ID_BYTES;
    if (!present.has(file.toString('hex', at, at + ID_BYTES))) return none;
  }
  const records = file.readUInt32LE(recordsAt - 4);
  if (file.length !== recordsAt + records * RECORD_BYTES) return none;
  return file.subarray(recordsAt);
}
