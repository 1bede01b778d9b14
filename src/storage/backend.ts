// The storage seam: named files of a few kinds, written once, read whole or by byte range.
// Everything above storage speaks only this interface; a backend knows nothing of encryption,
// packs or snapshots. A file is never overwritten in place (object locks and append-only servers
// depend on that); only prune deletes.

export const FILE_KINDS = ['config', 'keys', 'packs', 'index', 'snapshots', 'locks'] as const;
export type FileKind = (typeof FILE_KINDS)[number];

export interface FileInfo {
  name: string;
  sizeBytes: number;
}

export interface ReadRange {
  offset: number;
  length: number;
}

export interface Backend {
  /** Where the repository lives, safe to print (no credentials). */
  readonly location: string;
  /** True when the repository's config file exists. */
  exists(): Promise<boolean>;
  /**
   * Prepares an empty location (folders; a bucket if there is none, with Object Lock enabled
   * when `objectLock` says so).
   */
  create(options?: { objectLock?: boolean }): Promise<void>;
  list(kind: FileKind): AsyncIterable<FileInfo>;
  /** The whole file, or `range` of it. Fails with code ENOENT when the file does not exist. */
  read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer>;
  /**
   * Writes a new file atomically: it appears whole or not at all. Fails with EEXIST if present.
   * `data` may be a list of pieces, written in order (packs are not joined into one buffer).
   */
  write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  stat(kind: FileKind, name: string): Promise<FileInfo>;
  delete(kind: FileKind, name: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Only backends that can lock files against deletion (S3 Object Lock): from now on every file
   * written carries this retention. Fails if the location cannot enforce it.
   */
  setRetention?(policy: RetentionPolicy): Promise<void>;
  /** Until when a file is protected from deletion, if it is (prune asks before deleting). */
  retainedUntil?(kind: FileKind, name: string): Promise<Date | undefined>;
  /**
   * Only backends whose files are on this machine: a file's path, for another thread to read it
   * itself (restore's writer threads read big files' runs of blobs straight from the packs).
   */
  localPath?(kind: FileKind, name: string): string;
  /**
   * Only backends whose files are on this machine: a new file of `kind` written piece by piece
   * under a temporary name, then given its name, so that a pack need not be held in memory while
   * it fills (restic spools its packs the same way).
   */
  spool?(kind: FileKind): SpoolFile;
}

/** A file being written by spool(); write() may be called again before an earlier one is done. */
export interface SpoolFile {
  /** Writes `data` at `position` (ranges never overlap). */
  write(data: Uint8Array, position: number): Promise<void>;
  /**
   * Makes the file durable and gives it its name, atomically, as write() does: EEXIST if the name
   * is taken. Either way the temporary file is gone afterwards.
   */
  place(name: string): Promise<void>;
  /** Removes the temporary file after a failure (harmless once placed or discarded). */
  discard(): Promise<void>;
}

export interface RetentionPolicy {
  days: number;
  /** compliance: nobody can shorten it; governance: a user with a special permission can. */
  mode: 'compliance' | 'governance';
}

/** The config file has a fixed name; all other files are named by the SHA-256 of their bytes. */
export const CONFIG_NAME = 'config';

/**
 * A file's path inside the repository, the same on every backend (and the same as restic's
 * layout, which rclone's and restic's REST servers use on disk): a repository can be moved
 * between a disk, a bucket and an SFTP server by copying its files.
 */
export function objectPath(kind: FileKind, name: string): string {
  if (kind === 'config') return CONFIG_NAME;
  // Packs are spread over 256 folders so no folder grows to millions of entries.
  if (kind === 'packs') return `data/${name.slice(0, 2)}/${name}`;
  return `${kind}/${name}`;
}

/** The folder of a kind's files (packs: the parent of the 256 fan-out folders). */
export function kindFolder(kind: Exclude<FileKind, 'config'>): string {
  return kind === 'packs' ? 'data' : kind;
}

/**
 * What went wrong in storage, in the terms the layers above act on. `code` is errno-style so local
 * and remote backends fail alike (ENOENT, EEXIST, EACCES...); `transient` says a retry may help.
 */
export type StorageErrorCode = 'ENOENT' | 'EEXIST' | 'EACCES' | 'ENOSPC' | 'EUNREACHABLE' | 'EHOSTKEY' | 'ERETAINED' | 'EIO';

export class StorageError extends Error {
  readonly code: StorageErrorCode;
  readonly transient: boolean;
  constructor(code: StorageErrorCode, message: string, options: { transient?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StorageError';
    this.code = code;
    this.transient = options.transient ?? false;
  }
}

/** Whether a file exists, by its stat: false on ENOENT, any other failure is thrown. */
export async function fileExists(backend: Pick<Backend, 'stat'>, kind: FileKind, name: string): Promise<boolean> {
  try {
    await backend.stat(kind, name);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return false;
    throw err;
  }
}

/** `list('config')` on any backend: the config alone, by one stat rather than a listing. */
export async function* listConfig(backend: Pick<Backend, 'stat'>): AsyncIterable<FileInfo> {
  let info: FileInfo;
  try {
    info = await backend.stat('config', CONFIG_NAME);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    throw err;
  }
  yield info;
}
