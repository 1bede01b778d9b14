// find: which versions of a file exist across snapshots. A tree reached from many snapshots is
// searched once (results are memoised by tree id), so cost grows with distinct trees, not snapshots.
import type { OperationContext } from '../model/events.ts';
import type { SnapshotRecord } from '../model/snapshot.ts';
import type { TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import { PathMatcher } from './excludes.ts';
import { listingOf } from './tree-path.ts';

export interface FoundEntry {
  snapshot: SnapshotRecord;
  path: string;
  node: TreeNode;
}

/** Matches by name (a pattern without "/") or by path (a pattern with "/"), gitignore-style. */
export async function findInSnapshots(repo: Repository, snapshots: SnapshotRecord[], patterns: string[], context: OperationContext = {}): Promise<FoundEntry[]> {
  const matcher = new PathMatcher(patterns);
  const memo = new Map<string, Array<{ relative: string; node: TreeNode }>>();
  /** Trees being searched: one met again below itself is a cycle, reported and not followed. */
  const onPath = new Set<string>();
  const search = async (treeId: string, path: string): Promise<Array<{ relative: string; node: TreeNode }>> => {
    const cached = memo.get(treeId);
    if (cached) return cached;
    context.signal?.throwIfAborted();
    const found: Array<{ relative: string; node: TreeNode }> = [];
    const nodes = await listingOf(repo, treeId, path, onPath, context);
    if (!nodes) return found;
    onPath.add(treeId);
    for (const node of nodes) {
      found.push({ relative: `/${node.name}`, node });
      if (node.type === 'dir' && node.subtree) {
        for (const below of await search(node.subtree, `${path}/${node.name}`)) found.push({ relative: `/${node.name}${below.relative}`, node: below.node });
      }
    }
    onPath.delete(treeId);
    memo.set(treeId, found);
    return found;
  };
  const results: FoundEntry[] = [];
  for (const snapshot of snapshots) {
    for (const { relative, node } of await search(snapshot.tree, '')) {
      if (matcher.matches(relative, node.type === 'dir')) results.push({ snapshot, path: relative, node });
    }
  }
  return results;
}
