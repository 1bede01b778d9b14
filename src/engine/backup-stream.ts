// Backup of a byte stream (stdin or a program's output) as one file in a new snapshot. Chunked
// on the main thread as it arrives; the snapshot is written only if the producer succeeded.
import { hostname } from 'node:os';
import { LifeboatError } from '../errors.ts';
import { monotonicMs, nowLocalIso, nowMs } from '../lib/clock.ts';
import type { Snapshot } from '../model/snapshot.ts';
import { nameFields, type TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import type { StreamSource } from '../sources/stdin.ts';
import { emptySummary, programName, snapshotOwner, type BackupResult } from './backup.ts';

export interface StreamBackupOptions {
  filename: string;
  host?: string;
  tags?: string[];
  time?: string;
  dryRun?: boolean;
  onProgress?: (p: { files: number; bytes: number }) => void;
}

export async function backupStream(repo: Repository, source: StreamSource, options: StreamBackupOptions): Promise<BackupResult> {
  if (!options.filename || options.filename.includes('/')) {
    throw new LifeboatError('USAGE', `--stdin-filename must be a plain file name, not "${options.filename}"`);
  }
  const started = monotonicMs();
  const summary = emptySummary();
  const chunker = repo.chunker();
  const content: string[] = [];
  let pending: Buffer = Buffer.alloc(0);
  const store = async (data: Buffer): Promise<void> => {
    const id = repo.blobId(data);
    content.push(id.toString('hex'));
    if (options.dryRun) return;
    const saved = await repo.saveBlob('data', data);
    if (saved.added) {
      summary.blobsAdded++;
      summary.bytesAdded += data.byteLength;
      summary.bytesAddedStored += saved.storedBytes;
    }
  };
  for await (const piece of source.stream) {
    pending = pending.length ? Buffer.concat([pending, piece]) : piece;
    summary.bytesRead += piece.length;
    let start = 0;
    for (let cut = chunker.nextCut(pending, start, pending.length, false); cut > 0; cut = chunker.nextCut(pending, start, pending.length, false)) {
      await store(pending.subarray(start, cut));
      start = cut;
    }
    pending = pending.subarray(start);
    options.onProgress?.({ files: 0, bytes: summary.bytesRead });
  }
  for (const length of chunker.split(pending)) {
    await store(pending.subarray(0, length));
    pending = pending.subarray(length);
  }
  try {
    await source.finished;
  } catch (err) {
    throw new LifeboatError('COMMAND_FAILED', `Backup of the stream failed: ${(err as Error).message}; no snapshot was saved`, {
      hint: 'Fix the command so it succeeds; what was uploaded is removed by the next prune.',
      cause: err,
    });
  }
  const owner = snapshotOwner();
  const now = BigInt(nowMs()) * 1_000_000n;
  const node: TreeNode = {
    ...nameFields(Buffer.from(options.filename)),
    type: 'file', mode: 0o644, uid: owner.uid, gid: owner.gid,
    mtimeNs: now.toString(), ctimeNs: now.toString(), inode: '0', device: '0', links: 1,
    size: summary.bytesRead, content,
  };
  summary.filesNew = 1;
  summary.totalFiles = 1;
  summary.totalBytes = summary.bytesRead;
  const treeBytes = Buffer.from(JSON.stringify({ nodes: [node] }));
  const tree = options.dryRun ? repo.blobId(treeBytes).toString('hex') : await repo.saveTree({ nodes: [node] });
  if (!options.dryRun) await repo.flush();
  summary.durationMs = Math.round(monotonicMs() - started);
  const snapshot: Snapshot = {
    version: 1, time: options.time ?? nowLocalIso(), host: options.host ?? hostname(), ...owner,
    paths: [`/${options.filename}`], tags: options.tags ?? [], tree, program: programName(), summary,
  };
  const snapshotId = options.dryRun ? undefined : await repo.snapshots.save(snapshot);
  return { snapshotId, snapshot, summary, errors: [], warnings: [] };
}
