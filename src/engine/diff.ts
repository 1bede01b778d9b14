// diff: what changed between two snapshots. Identical subtrees (same tree id) are skipped without
// being loaded, so comparing two large snapshots costs what changed, not what they hold.
import type { OperationContext } from '../model/events.ts';
import { nodeNameBytes, type TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import { listingOf } from './tree-path.ts';

export type ChangeKind = 'added' | 'removed' | 'modified' | 'metadata';

export interface Change {
  kind: ChangeKind;
  path: string;
  type: string;
}

/**
 * The changes from tree `a` to tree `b`. Entries the tree decoder refused, unreadable listings and
 * cycles (a tree below itself) go to `events.problem` and are left out of the comparison.
 */
export async function diffTrees(repo: Repository, a: string | undefined, b: string | undefined, context: OperationContext = {}): Promise<Change[]> {
  return await diffBelow(repo, a, b, '', context, new Set());
}

async function diffBelow(repo: Repository, a: string | undefined, b: string | undefined, prefix: string, context: OperationContext, onPath: Set<string>): Promise<Change[]> {
  if (a === b) return [];
  context.signal?.throwIfAborted();
  const load = async (id: string | undefined): Promise<TreeNode[]> => (id ? ((await listingOf(repo, id, prefix, onPath, context)) ?? []) : []);
  const left = await load(a);
  const right = await load(b);
  // On the path while the comparison below them runs (one met again there is a cycle), as in find
  // and dump; a tree already on it was refused by listingOf and stays its ancestor's.
  const entered = [a, b].filter((id): id is string => id !== undefined && !onPath.has(id));
  for (const id of entered) onPath.add(id);
  const below = (x: string | undefined, y: string | undefined, path: string): Promise<Change[]> => diffBelow(repo, x, y, path, context, onPath);
  const byName = new Map(right.map((n) => [nodeNameBytes(n).toString('latin1'), n]));
  const changes: Change[] = [];
  for (const l of left) {
    const key = nodeNameBytes(l).toString('latin1');
    const r = byName.get(key);
    byName.delete(key);
    const path = `${prefix}/${l.name}`;
    if (!r) {
      changes.push({ kind: 'removed', path, type: l.type });
      if (l.type === 'dir') changes.push(...(await below(l.subtree, undefined, path)));
      continue;
    }
    if (l.type !== r.type) {
      changes.push({ kind: 'removed', path, type: l.type }, { kind: 'added', path, type: r.type });
      continue;
    }
    if (l.type === 'dir') {
      if (!sameMetadata(l, r)) changes.push({ kind: 'metadata', path, type: 'dir' });
      changes.push(...(await below(l.subtree, r.subtree, path)));
    } else if (!sameContent(l, r)) changes.push({ kind: 'modified', path, type: l.type });
    else if (!sameMetadata(l, r)) changes.push({ kind: 'metadata', path, type: l.type });
  }
  for (const r of byName.values()) {
    const path = `${prefix}/${r.name}`;
    changes.push({ kind: 'added', path, type: r.type });
    if (r.type === 'dir') changes.push(...(await below(undefined, r.subtree, path)));
  }
  for (const id of entered) onPath.delete(id);
  return changes;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  return a.size === b.size && a.linkTarget === b.linkTarget && (a.content ?? []).join() === (b.content ?? []).join() && String(a.rdev) === String(b.rdev);
}

function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs && JSON.stringify(a.xattrs ?? []) === JSON.stringify(b.xattrs ?? []);
}
