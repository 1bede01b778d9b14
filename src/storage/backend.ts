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
  /** Prepares an empty location (directories, bucket prefix); fails if a config already exists. */
  create(): Promise<void>;
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
}

/** The config file has a fixed name; all other files are named by the SHA-256 of their bytes. */
export const CONFIG_NAME = 'config';
