// Walking a snapshot's trees by path: find the node at "/a/b/c", or visit every node below a tree.
// Trees come from a repository that may be hostile: walks keep their own stack (a deep tree cannot
// overflow the call stack), refuse a tree that lists one of its own ancestors (a cycle), and
// report entries that the tree decoder refused instead of acting on them.
import type { OperationContext } from '../model/events.ts';
import type { TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';

/** The node at `path` (absolute, inside the snapshot), or undefined. "/" is the root directory. */
export async function findNode(repo: Repository, rootTree: string, path: string): Promise<TreeNode | undefined> {
  const parts = path.split('/').filter(Boolean);
  let node: TreeNode = { name: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', inode: '0', device: '0', links: 1, size: 0, subtree: rootTree };
  for (const part of parts) {
    if (node.type !== 'dir' || !node.subtree) return undefined;
    const tree = await repo.loadTree(node.subtree);
    const next = tree.nodes.find((n) => n.name === part);
    if (!next) return undefined;
    node = next;
  }
  return node;
}

/**
 * A folder's entries for a walk over a snapshot, or undefined when it cannot be followed. Refused
 * entries, an unreadable listing and a cycle (`id` among `onPath`, the trees being walked above
 * it) are reported to `events.problem` with `path`, the folder's path in the snapshot.
 */
export async function listingOf(repo: Repository, id: string, path: string, onPath: ReadonlySet<string>, context: OperationContext): Promise<TreeNode[] | undefined> {
  const report = (at: string, message: string): void => context.events?.problem?.({ path: at || '/', code: 'REPO_CORRUPT', message });
  if (onPath.has(id)) return void report(path, `the folder lists one of the folders it is in (tree ${id.slice(0, 16)}): not followed`);
  try {
    const tree = await repo.loadTree(id);
    for (const d of tree.damaged) report(`${path}/${d.name}`, `refused: ${d.problem}`);
    return tree.nodes;
  } catch (err) {
    return void report(path, `cannot read this folder's listing: ${(err as Error).message}`);
  }
}

export interface VisitedNode {
  path: string;
  node: TreeNode;
}

/**
 * Every node below `treeId`, depth first, in tree order; `prefix` is the tree's own path. A
 * refused entry, an unreadable listing and a cycle are reported to `events.problem` and skipped.
 */
export async function* walkTree(repo: Repository, treeId: string, prefix = '', context: OperationContext = {}): AsyncGenerator<VisitedNode> {
  interface Frame { id: string; nodes: TreeNode[]; next: number; prefix: string }
  const stack: Frame[] = [];
  /** The trees of the frames on the stack: a tree found among them again is a cycle. */
  const onPath = new Set<string>();
  const enter = async (id: string, path: string): Promise<void> => {
    const nodes = await listingOf(repo, id, path, onPath, context);
    if (!nodes) return;
    stack.push({ id, nodes, next: 0, prefix: path });
    onPath.add(id);
  };
  await enter(treeId, prefix);
  while (stack.length) {
    context.signal?.throwIfAborted();
    const frame = stack.at(-1)!;
    const node = frame.nodes[frame.next++];
    if (!node) {
      onPath.delete(stack.pop()!.id);
      continue;
    }
    const path = `${frame.prefix}/${node.name}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) await enter(node.subtree, path);
  }
}
