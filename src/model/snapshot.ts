// A snapshot: the root tree of one backup plus what it was, when, where and how it went.

export interface BackupSummary {
  filesNew: number;
  filesChanged: number;
  filesUnchanged: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnchanged: number;
  bytesRead: number;
  bytesAdded: number;
  bytesAddedStored: number;
  blobsAdded: number;
  totalFiles: number;
  totalBytes: number;
  errors: number;
  durationMs: number;
}

export interface Snapshot {
  /** Format of this record; readers refuse a newer one. */
  version: 1;
  time: string;
  host: string;
  username: string;
  uid: number;
  gid: number;
  /** Absolute paths that were backed up (as given, resolved). */
  paths: string[];
  tags: string[];
  /** Root tree blob id (hex). */
  tree: string;
  parent?: string;
  /** For a snapshot made by `copy`: the id of the snapshot it was first copied from. */
  original?: string;
  /** True when some entries could not be read: the snapshot is usable but not complete. */
  incomplete?: boolean;
  errors?: string[];
  program: string;
  summary?: BackupSummary;
  /** For a snapshot made by `repair snapshots`: what it replaced and what it had to drop. */
  repaired?: { from: string; time: string; droppedCount: number; dropped: Array<{ path: string; reason: string }> };
}

/** A snapshot together with its id (the name of its file). */
export interface SnapshotRecord extends Snapshot {
  id: string;
}
