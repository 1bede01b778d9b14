// A repository in a local directory (or a mounted disk). A write goes to a temporary name, is
// fsynced, then hard-linked to its final name (link fails if the name exists: write-once) and
// the directory is fsynced, so after a crash a file is either whole or absent.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, openSync, readSync, unlinkSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, link, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { directWritesSuit } from '../lib/direct-io.ts';
import { nodeWorded } from '../lib/errno.ts';
import { nativeAddonIfBuilt } from '../lib/native-addon.ts';
import { FILE_KINDS, CONFIG_NAME, kindFolder, listConfig, objectPath, type Backend, type FileInfo, type FileKind, type ReadRange, type SpoolFile } from './backend.ts';

export class LocalBackend implements Backend {
  readonly location: string;
  readonly #root: string;
  readonly #openFds = new OpenFiles(64);

  constructor(root: string) {
    this.#root = root;
    this.location = `local:${root}`;
  }

  #dir(kind: FileKind, name: string): string {
    return dirname(this.#path(kind, name));
  }

  #path(kind: FileKind, name: string): string {
    return join(this.#root, objectPath(kind, name));
  }

  async exists(): Promise<boolean> {
    try {
      await stat(join(this.#root, CONFIG_NAME));
      return true;
    } catch {
      return false;
    }
  }

  async create(): Promise<void> {
    await mkdir(this.#root, { recursive: true, mode: 0o700 });
    for (const kind of FILE_KINDS) if (kind !== 'config') await mkdir(join(this.#root, kindFolder(kind)), { recursive: true, mode: 0o700 });
    const hex = '0123456789abcdef';
    for (const a of hex) for (const b of hex) await mkdir(this.#dir('packs', a + b), { recursive: true, mode: 0o700 });
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    if (kind === 'config') return yield* listConfig(this);
    const folder = join(this.#root, kindFolder(kind));
    const dirs = kind === 'packs' ? (await readdirOrEmpty(folder)).map((d) => join(folder, d)) : [folder];
    for (const dir of dirs) {
      for (const entry of await readdirOrEmpty(dir)) {
        if (entry.startsWith('.tmp-')) continue;
        // Deleted between the listing and the stat (a lock given up, a file pruned): not there.
        const st = await stat(join(dir, entry)).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        });
        if (st?.isFile()) yield { name: entry, sizeBytes: st.size };
      }
    }
  }

  localPath(kind: FileKind, name: string): string {
    return this.#path(kind, name);
  }

  async read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer> {
    if (!range) return await readFile(this.#path(kind, name));
    // Range reads are how restore fetches blobs: keep pack files open (they never change) and
    // read synchronously, which on a local disk costs a fraction of a thread-pool round trip.
    const fd = this.#openFds.get(kind, this.#path(kind, name));
    const buf = Buffer.allocUnsafe(range.length);
    let done = 0;
    while (done < range.length) {
      const n = readSync(fd, buf, done, range.length - done, range.offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done < range.length) {
      throw Object.assign(new Error(`short read of ${kind}/${name}: ${done} of ${range.length} bytes at ${range.offset}`), { code: 'ESHORT' });
    }
    return buf;
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    // A spooled file written all at once: one way to a durable, write-once file.
    const spool = this.spool(kind);
    try {
      let at = 0;
      for (const part of data instanceof Uint8Array ? [data] : data) {
        await spool.write(part, at);
        at += part.byteLength;
      }
      await spool.place(name);
    } finally {
      await spool.discard(); // after place(), nothing is left to remove
    }
  }

  spool(kind: FileKind): SpoolFile {
    const tmpName = `.tmp-${randomBytes(8).toString('hex')}`;
    // In the folder of a file named like the temporary one: packs' temporary files spread over
    // the fan-out folders, where list() skips them, like write()'s.
    return new LocalSpool(join(this.#dir(kind, tmpName.slice(5)), tmpName), (name) => this.#path(kind, name));
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo> {
    const st = await stat(this.#path(kind, name));
    return { name, sizeBytes: st.size };
  }

  async delete(kind: FileKind, name: string): Promise<void> {
    this.#openFds.forget(this.#path(kind, name));
    await rm(this.#path(kind, name));
    // A lock's removal need not survive a crash: a lock file that comes back names a process that
    // is gone, as a crash while it ran would have left it (locks.ts treats both as stale). Its
    // folder's fsync waited for the device to flush what the command wrote: 0.24 s at the end
    // of a restore of the bench corpus, a tenth of the restore. Every other delete stays synced:
    // prune's and repair's must keep their order after a crash (old indexes before the packs
    // they list), and a forgotten snapshot or a removed key must stay gone.
    if (kind !== 'locks') await syncDir(this.#dir(kind, name));
  }

  async close(): Promise<void> {
    this.#openFds.closeAll();
  }
}

/**
 * Temporary files of spools not yet placed or discarded. An interrupted command (Ctrl-C, an error)
 * removes them as the process exits; after a power loss one may stay behind, named .tmp-*, which
 * no listing shows.
 */
const unplaced = new Set<string>();
let removingUnplacedAtExit = false;

function removeUnplaced(): void {
  for (const path of unplaced) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}

/**
 * Writes of at least this much go past the page cache where that suits the filesystem
 * (lib/direct-io.ts, native/direct_write.c): a pack's segments, not the small files.
 */
const DIRECT_WRITE_BYTES = 256 * 1024;

class LocalSpool implements SpoolFile {
  readonly #tmp: string;
  readonly #finalPath: (name: string) => string;
  readonly #file: Promise<FileHandle>;
  /** The file opened again with O_DIRECT, at the first big write; undefined where that fails. */
  #direct: Promise<FileHandle | undefined> | undefined;
  readonly #native = nativeAddonIfBuilt();
  #closed = false;

  constructor(tmp: string, finalPath: (name: string) => string) {
    this.#tmp = tmp;
    this.#finalPath = finalPath;
    if (!removingUnplacedAtExit) process.once('exit', removeUnplaced);
    removingUnplacedAtExit = true;
    unplaced.add(tmp);
    // Read-only once placed (place() sets it): a second descriptor for writing needs it writable until then.
    this.#file = open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    this.#file.catch(() => {}); // the failure reaches the first write (or place, or discard)
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const file = await this.#file;
    if (this.#native && data.byteLength >= DIRECT_WRITE_BYTES) {
      this.#direct ??= directWritesSuit(this.#tmp) ? open(this.#tmp, constants.O_WRONLY | constants.O_DIRECT).catch(() => undefined) : Promise.resolve(undefined);
      const direct = await this.#direct;
      await this.#native.writeAt(file.fd, direct?.fd ?? -1, data, position).catch((err: unknown) => {
        throw nodeWorded(err, 'write');
      });
      return;
    }
    for (let done = 0; done < data.byteLength; ) {
      const { bytesWritten } = await file.write(data, done, data.byteLength - done, position + done);
      done += bytesWritten;
    }
  }

  async place(name: string): Promise<void> {
    const path = this.#finalPath(name);
    try {
      const file = await this.#file;
      try {
        // Read-only, and for the owner alone (never wider than the umask made it: 0600 at most):
        // a key file others could read could be guessed at offline, as restic's local backend
        // knows (0400 files, 0700 folders).
        await file.chmod(0o400);
        await file.sync();
      } finally {
        await this.#close();
      }
      await link(this.#tmp, path);
    } finally {
      await this.discard();
    }
    await syncDir(dirname(path));
  }

  async discard(): Promise<void> {
    await this.#close().catch(() => {});
    await unlink(this.#tmp).catch(() => {});
    unplaced.delete(this.#tmp);
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await (await this.#direct)?.close();
    await (await this.#file).close();
  }
}

/** A small cache of read-only file descriptors, closing the oldest beyond `limit`. */
class OpenFiles {
  readonly #fds = new Map<string, number>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(_kind: FileKind, path: string): number {
    let fd = this.#fds.get(path);
    if (fd !== undefined) return fd;
    fd = openSync(path, 'r');
    if (this.#fds.size >= this.#limit) {
      const [oldest, oldFd] = this.#fds.entries().next().value!;
      this.#fds.delete(oldest);
      closeSync(oldFd);
    }
    this.#fds.set(path, fd);
    return fd;
  }

  forget(path: string): void {
    const fd = this.#fds.get(path);
    if (fd !== undefined) {
      this.#fds.delete(path);
      closeSync(fd);
    }
  }

  closeAll(): void {
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
