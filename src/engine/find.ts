// find: which versions of a file exist across snapshots. A tree reached from many snapshots is
// searched once (results are memoised by tree id), so cost grows with distinct trees, not snapshots.
import type { SnapshotRecord } from '../model/snapshot.ts';
import type { TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import { PathMatcher } from './excludes.ts';

export interface FoundEntry {
  snapshot: SnapshotRecord;
  path: string;
  node: TreeNode;
}

/** Matches by name (a pattern without "/") or by path (a pattern with "/"), gitignore-style. */
export async function findInSnapshots(repo: Repository, snapshots: SnapshotRecord[], patterns: string[]): Promise<FoundEntry[]> {
  const matcher = new PathMatcher(patterns);
  const memo = new Map<string, Array<{ relative: string; node: TreeNode }>>();
  const search = async (treeId: string): Promise<Array<{ relative: string; node: TreeNode }>> => {
    const cached = memo.get(treeId);
    if (cached) return cached;
    const found: Array<{ relative: string; node: TreeNode }> = [];
    for (const node of (await repo.loadTree(treeId)).nodes) {
      found.push({ relative: `/${node.name}`, node });
      if (node.type === 'dir' && node.subtree) {
        for (const below of await search(node.subtree)) found.push({ relative: `/${node.name}${below.relative}`, node: below.node });
      }
    }
    memo.set(treeId, found);
    return found;
  };
  const results: FoundEntry[] = [];
  for (const snapshot of snapshots) {
    for (const { relative, node } of await search(snapshot.tree)) {
      if (matcher.matches(relative, node.type === 'dir')) results.push({ snapshot, path: relative, node });
    }
  }
  return results;
}
