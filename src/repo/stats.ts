// Repository statistics (`lifeboat stats`): what it occupies on storage, what it would restore,
// and how much deduplication and compression save between the two.
import { LifeboatError } from '../errors.ts';
import type { Repository } from './repository.ts';
import { FILE_KINDS } from '../storage/open.ts';

export interface RepositoryStats {
  snapshots: Array<{ id: string; time: string; host: string; restoreBytes: number; files: number }>;
  /** Sum of every snapshot's restore size: what all of them would take restored side by side. */
  restoreBytes: number;
  /** Distinct content the snapshots reference, before and after compression (and encryption). */
  uniqueRawBytes: number;
  uniqueStoredBytes: number;
  storageBytes: number;
  storageFiles: Record<string, number>;
  blobs: { data: number; tree: number };
  packs: number;
  /** restoreBytes / uniqueRawBytes. */
  deduplicationRatio: number;
  /** uniqueRawBytes / uniqueStoredBytes. */
  compressionRatio: number;
}

export async function repositoryStats(repo: Repository, ids?: string[]): Promise<RepositoryStats> {
  const all = (await repo.snapshots.list()).snapshots;
  const chosen = ids?.length ? await Promise.all(ids.map((r) => repo.snapshots.resolve(r))) : all;
  // A tree's size is the same wherever it occurs: computed once (snapshots share most trees).
  const treeSize = new Map<string, { bytes: number; files: number }>();
  const seen = new Set<string>();
  /** Trees being sized: one met again below itself is a cycle. */
  const onPath = new Set<string>();
  let uniqueRaw = 0;
  let uniqueStored = 0;
  const sizeOf = async (treeHex: string): Promise<{ bytes: number; files: number }> => {
    const known = treeSize.get(treeHex);
    if (known) return known;
    if (onPath.has(treeHex)) throw new LifeboatError('REPO_CORRUPT', `Tree ${treeHex.slice(0, 16)} lists itself among its subfolders (a cycle)`, { hint: 'Run "lifeboat check".' });
    onPath.add(treeHex);
    const total = { bytes: 0, files: 0 };
    for (const node of (await repo.loadTree(treeHex)).nodes) {
      if (node.subtree) {
        const sub = await sizeOf(node.subtree);
        total.bytes += sub.bytes;
        total.files += sub.files;
      } else if (node.type === 'file') {
        total.bytes += node.size;
        total.files++;
      }
      for (const hex of node.content ?? []) {
        if (seen.has(hex)) continue;
        seen.add(hex);
        const loc = repo.index.get(Buffer.from(hex, 'hex'));
        uniqueRaw += loc?.rawLength ?? 0;
        uniqueStored += loc?.storedLength ?? 0;
      }
    }
    onPath.delete(treeHex);
    treeSize.set(treeHex, total);
    return total;
  };
  const snapshots = [];
  for (const s of chosen) {
    const size = await sizeOf(s.tree);
    snapshots.push({ id: s.id, time: s.time, host: s.host, restoreBytes: size.bytes, files: size.files });
  }
  const storageFiles: Record<string, number> = {};
  let storageBytes = 0;
  for (const kind of FILE_KINDS) {
    storageFiles[kind] = 0;
    for await (const f of repo.backend.list(kind)) {
      storageFiles[kind]++;
      storageBytes += f.sizeBytes;
    }
  }
  const blobs = { data: 0, tree: 0 };
  for (const [, loc] of repo.index.entries()) blobs[loc.type]++;
  const restoreBytes = snapshots.reduce((n, s) => n + s.restoreBytes, 0);
  return {
    snapshots, restoreBytes, uniqueRawBytes: uniqueRaw, uniqueStoredBytes: uniqueStored, storageBytes, storageFiles, blobs,
    packs: storageFiles.packs ?? 0,
    deduplicationRatio: uniqueRaw ? restoreBytes / uniqueRaw : 1,
    compressionRatio: uniqueStored ? uniqueRaw / uniqueStored : 1,
  };
}
