// dump of one file: its content written through `write` (which must apply backpressure). Blobs are
// fetched one at a time, so memory stays at one blob. A folder is dumped by the restore pipeline
// into a tar target (sources/tar-target.ts).
import type { TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';

export async function dumpFile(repo: Repository, node: TreeNode, write: (data: Uint8Array) => Promise<void>): Promise<void> {
  for (const hex of node.content ?? []) await write(await repo.loadBlob(Buffer.from(hex, 'hex')));
}
