// Walking a snapshot's trees by path: find the node at "/a/b/c", or visit every node below a tree.
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

export interface VisitedNode {
  path: string;
  node: TreeNode;
}

/** Every node below `treeId`, depth first, in tree order; `prefix` is the tree's own path. */
export async function* walkTree(repo: Repository, treeId: string, prefix = ''): AsyncGenerator<VisitedNode> {
  const tree = await repo.loadTree(treeId);
  for (const node of tree.nodes) {
    const path = `${prefix}/${node.name}`;
    yield { path, node };
    if (node.type === 'dir' && node.subtree) yield* walkTree(repo, node.subtree, path);
  }
}
