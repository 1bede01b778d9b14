// Crafting what a taken-over machine that shares a repository could write: it holds the
// repository's password, so it can seal any tree, blob or snapshot it likes. These helpers write
// through the repository's own code in this process, as such a machine's Lifeboat would.
import { Repository } from '../src/repo/repository.ts';
import { LocalBackend } from '../src/storage/local.ts';
import type { TreeNode } from '../src/model/tree.ts';

export const PASSWORD = 'correct horse';

/** A node with every field a valid entry has; `extra` overrides. */
export function entry(name: string, type: TreeNode['type'], extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', inode: '1', device: '1', links: 1, size: 0, ...extra };
}

export class Crafter {
  readonly repo: Repository;

  private constructor(repo: Repository) {
    this.repo = repo;
  }

  static async open(path: string): Promise<Crafter> {
    return new Crafter(await Repository.open(new LocalBackend(path), PASSWORD));
  }

  /** Stores a tree exactly as given (any JSON), under the MAC of its bytes; returns its id. */
  async tree(nodes: unknown[]): Promise<string> {
    return (await this.repo.saveBlob('tree', Buffer.from(JSON.stringify({ nodes })))).id.toString('hex');
  }

  /** A file entry whose content is stored. */
  async file(name: string, content: string | Buffer, extra: Partial<TreeNode> = {}): Promise<TreeNode> {
    const bytes = Buffer.from(content);
    const { id } = await this.repo.saveBlob('data', bytes);
    return entry(name, 'file', { size: bytes.length, content: [id.toString('hex')], ...extra });
  }

  async dir(name: string, nodes: unknown[], extra: Partial<TreeNode> = {}): Promise<TreeNode> {
    return entry(name, 'dir', { subtree: await this.tree(nodes), ...extra });
  }

  /**
   * Stores `stored` as a blob of `type` under `id`, whatever its content: what only a forger does.
   * `again`: also when the repository has a blob of that id already.
   */
  async forge(type: 'tree' | 'data', id: Buffer, stored: Buffer, compression: number, rawLength: number, again = false): Promise<void> {
    await this.repo.saveStoredBlob(type, id, stored, compression, rawLength, again);
  }

  /** Flushes packs and index, then writes a snapshot of `tree`; returns the snapshot id. */
  async snapshot(tree: string, host = 'taken-over'): Promise<string> {
    await this.repo.flush();
    return await this.repo.snapshots.save({ version: 1, time: '2026-12-01T10:00:00.000+00:00', host, username: 'x', uid: 0, gid: 0, paths: ['/data'], tags: [], tree, program: 'lifeboat test' });
  }

  async close(): Promise<void> {
    await this.repo.close();
  }
}
