// dump: a file's content, or a folder as a tar stream, written through `write` (which must
// apply backpressure). Blobs are fetched one at a time, so memory stays at one blob.
import { LifeboatError } from '../errors.ts';
import type { OperationContext } from '../model/events.ts';
import { nodeNameBytes, type TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';
import { padding, tarHeader, TAR_END } from './tar.ts';
import { listingOf } from './tree-path.ts';

type Write = (data: Uint8Array) => Promise<void>;

export async function dumpFile(repo: Repository, node: TreeNode, write: Write): Promise<void> {
  for (const hex of node.content ?? []) await write(await repo.loadBlob(Buffer.from(hex, 'hex')));
}

/**
 * A folder as a tar stream. Member names are built from tree entries that the tree decoder
 * accepted (single components, never ".." or "/"); entries it refused, unreadable listings and
 * cycles are reported to `events.problem` and left out.
 */
export async function dumpTar(repo: Repository, root: TreeNode, rootName: Buffer, write: Write, context: OperationContext = {}): Promise<void> {
  const links = new Map<string, Buffer>();
  const onPath = new Set<string>();
  const emit = async (node: TreeNode, path: Buffer): Promise<void> => {
    context.signal?.throwIfAborted();
    if (node.type === 'socket') return; // tar cannot carry sockets
    const key = node.type === 'file' && node.links > 1 ? `${node.device}:${node.inode}` : undefined;
    const first = key ? links.get(key) : undefined;
    if (first) {
      await write(tarHeader(path, node, first));
      return;
    }
    if (key) links.set(key, path);
    const name = node.type === 'dir' ? Buffer.concat([path, Buffer.from('/')]) : path;
    await write(tarHeader(name, node));
    if (node.type === 'file') {
      let written = 0;
      for (const hex of node.content ?? []) {
        const data = await repo.loadBlob(Buffer.from(hex, 'hex'));
        written += data.length;
        await write(data);
      }
      if (written !== node.size) throw new LifeboatError('REPO_CORRUPT', `${path}: content is ${written} bytes, expected ${node.size}`);
      await write(padding(written));
    }
    if (node.type === 'dir' && node.subtree) {
      const id = node.subtree;
      const children = await listingOf(repo, id, path.toString(), onPath, context);
      if (!children) return;
      onPath.add(id);
      for (const child of children) await emit(child, Buffer.concat([path, Buffer.from('/'), nodeNameBytes(child)]));
      onPath.delete(id);
    }
  };
  await emit(root, rootName);
  await write(TAR_END);
}
