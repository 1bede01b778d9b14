// Reads a restored file back and checks it against the snapshot: every blob-sized piece must
// have the blob's id (a keyed MAC of its content), and the file must end where the last does.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { TreeNode } from '../model/tree.ts';
import type { Repository } from '../repo/repository.ts';

/** Undefined when the file matches; otherwise what differs. */
export async function verifyFile(repo: Repository, path: Buffer, node: TreeNode): Promise<string | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    let offset = 0;
    for (const hex of node.content ?? []) {
      const size = repo.blobSize(Buffer.from(hex, 'hex'));
      if (size === undefined) return `blob ${hex.slice(0, 16)} is not in the repository index`;
      const buf = Buffer.allocUnsafe(size);
      const { bytesRead } = await fh.read(buf, 0, size, offset);
      if (bytesRead !== size) return `file is shorter than expected (at byte ${offset + bytesRead})`;
      const id = repo.blobId(buf).toString('hex');
      if (id !== hex) return `content differs in bytes ${offset}..${offset + size}`;
      offset += size;
    }
    const size = (await fh.stat()).size;
    if (size !== offset) return `file has ${size} bytes, expected ${offset}`;
    return undefined;
  } finally {
    await fh.close();
  }
}
