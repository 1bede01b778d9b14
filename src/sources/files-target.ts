// The files target: a restore into a folder on this machine. What is already there is kept when
// identical, replaced, or a reason to stop (--existing); what grants privileges is held back
// unless asked; a folder's metadata goes on once everything in it is restored, so writing into it
// does not change its recorded time. Every entry is reached through folders held by descriptor,
// never through a link (target-dirs.ts, files-at.ts): the snapshot may be hostile and the target
// shared with other users.
import type { Stats } from 'node:fs';
import { describeError, entryErrorCode, LifeboatError } from '../errors.ts';
import { Limiter } from '../lib/limiter.ts';
import type { OperationEvents, WarningCode } from '../model/events.ts';
import type { TreeNode } from '../model/tree.ts';
import {
  applyDirectoryMetadata, applyExistingFileMetadata, applyMetadataAt, createDirectoryAt, createHardLinkAt,
  createSpecialAt, createSymlinkAt, entryPath, ordinaryMetadata, removeEntryAt,
} from './files-at.ts';
import { childOf, TargetStopped, type FileContent, type Outcome, type Place, type Target } from './target.ts';
import { TargetDirs } from './target-dirs.ts';

export const EXISTING_POLICIES = ['skip-identical', 'overwrite', 'fail'] as const;
export type ExistingPolicy = (typeof EXISTING_POLICIES)[number];

export interface FilesTargetOptions {
  /** Created when missing. */
  folder: string;
  /** When an entry exists: skip-identical (the default; a differing one is replaced), overwrite, or fail. */
  existing?: ExistingPolicy;
  /** Read every written file back at the end and compare it with the repository. */
  verify?: boolean;
  /** Also setuid/setgid bits, security.* and trusted.* attributes and device nodes (held back by default). */
  restorePrivileged?: boolean;
}

/** Files read back at once by --verify. */
const VERIFYING_AT_ONCE = 4;

export class FilesTarget implements Target {
  readonly ordered = false;
  /** Files read back and found identical (--verify). */
  verified = 0;
  readonly #options: FilesTargetOptions;
  #events: OperationEvents = {};
  #dirs: TargetDirs | undefined;
  readonly #written: Array<{ place: Place; path: string; differsFrom: FileContent['differsFrom'] }> = [];

  constructor(options: FilesTargetOptions) {
    this.#options = options;
  }

  async open(events: OperationEvents): Promise<void> {
    this.#events = events;
    try {
      this.#dirs = TargetDirs.open(this.#options.folder);
    } catch (err) {
      const why = describeError(err);
      throw new LifeboatError('TARGET_NOT_WRITABLE', `Cannot restore into "${this.#options.folder}": ${why}`, {
        hint: 'Choose a target directory you can write to.',
        cause: err,
      });
    }
  }

  async beginFolder(place: Place, node: TreeNode, path: string): Promise<boolean> {
    await this.#in(place, (fd) => this.#makeRoom(fd, place, node, path));
    return true;
  }

  async finishFolder(place: Place, original: TreeNode, path: string): Promise<void> {
    const node = this.#ordinary(original, path);
    const folder = childOf(place.folder, place.name);
    await this.#metadata(path, () => this.#dirs!.with(folder, (fd) => applyDirectoryMetadata(fd, node)));
  }

  async writeFile(place: Place, original: TreeNode, content: FileContent, path: string): Promise<Outcome> {
    const node = this.#ordinary(original, path);
    return await this.#in(place, async (fd) => {
      const dest = entryPath(fd, place.name);
      const there = this.#dirs!.lstat(fd, place.folder, place.name);
      const policy = this.#options.existing ?? 'skip-identical';
      const maybeSame = there?.isFile() && policy === 'skip-identical' && there.size === node.size;
      if (maybeSame && (await content.differsFrom(dest)) === undefined) {
        await this.#metadata(path, () => applyExistingFileMetadata(dest, node)); // an identical file left in place
        return 'identical' as const;
      }
      await this.#makeRoom(fd, place, node, path, there);
      for (const message of await content.writeLocalFile(dest, node)) this.#warn(path, 'METADATA', message);
      if (this.#options.verify) this.#written.push({ place, path, differsFrom: content.differsFrom });
      return 'written' as const;
    });
  }

  async linkTo(place: Place, node: TreeNode, first: Place, path: string): Promise<Outcome> {
    return await this.#in(place, async (fd) => {
      await this.#makeRoom(fd, place, node, path);
      await this.#dirs!.with(first.folder, (firstFd) => createHardLinkAt(firstFd, first.name, fd, place.name));
      return 'written' as const;
    });
  }

  async makeSpecial(place: Place, original: TreeNode, path: string): Promise<Outcome> {
    const node = this.#ordinary(original, path);
    if (!this.#options.restorePrivileged && (node.type === 'chardev' || node.type === 'blockdev')) return 'skipped';
    return await this.#in(place, async (fd) => {
      await this.#makeRoom(fd, place, node, path);
      if (node.type === 'symlink') createSymlinkAt(fd, place.name, node);
      else if (createSpecialAt(fd, place.name, node) === 'skipped') {
        this.#warn(path, 'NOT_RESTORED', `${node.type} not restored (only root can create device nodes and sockets)`);
        return 'skipped';
      }
      await this.#metadata(path, () => applyMetadataAt(fd, place.name, node));
      return 'written' as const;
    });
  }

  async close(complete: boolean): Promise<void> {
    try {
      if (complete && this.#options.verify) await this.#verify();
    } finally {
      this.#dirs?.close();
    }
  }

  /** Runs `use` with the entry's folder held (created when the snapshot's folder was not restored itself). */
  async #in<T>(place: Place, use: (fd: number) => Promise<T>): Promise<T> {
    const dirs = this.#dirs!;
    const fd = dirs.acquireCreating(place.folder);
    try {
      return await use(fd);
    } finally {
      dirs.release(place.folder);
    }
  }

  /**
   * Makes room for `node` at `place` in the held folder `fd` according to the existing-entry
   * policy, and creates it when it is a folder. `there` is what is there now, when the caller
   * already looked (no exception per new file: that would cost more than the rest of the restore).
   */
  async #makeRoom(fd: number, place: Place, node: TreeNode, path: string, there?: Stats): Promise<void> {
    const dirs = this.#dirs!;
    const found = there ?? dirs.lstat(fd, place.folder, place.name);
    if (found && node.type === 'dir' && found.isDirectory()) return;
    if (found) {
      if (this.#options.existing === 'fail') {
        const hint = 'Restore into an empty directory, or use --existing skip-identical or --existing overwrite.';
        const message = `Cannot restore "${path}": it already exists in the target`;
        const exists = new LifeboatError('TARGET_EXISTS', message, { hint });
        throw new TargetStopped(exists);
      }
      removeEntryAt(fd, place.name); // never through a link: one in the way is removed itself
    }
    if (node.type === 'dir') {
      await createDirectoryAt(fd, place.name);
      dirs.markFresh(childOf(place.folder, place.name));
    }
  }

  /** The node as it is restored, having said what was held back. */
  #ordinary(original: TreeNode, path: string): TreeNode {
    const { node, heldBack } = ordinaryMetadata(original, this.#options.restorePrivileged === true);
    if (heldBack.length) {
      this.#warn(path, 'HELD_BACK', `held back ${heldBack.join(', ')} (--restore-privileged restores them)`);
    }
    return node;
  }

  /** Problems that did not stop `apply` are warnings; its failure is the entry's problem. */
  async #metadata(path: string, apply: () => string[] | Promise<string[]>): Promise<void> {
    try {
      for (const message of await apply()) this.#warn(path, 'METADATA', message);
    } catch (err) {
      const message = `cannot set metadata: ${describeError(err)}`;
      this.#events.problem?.({ path, code: entryErrorCode(err), message });
    }
  }

  #warn(path: string, code: WarningCode, message: string): void {
    this.#events.warning?.({ path, code, message });
  }

  async #verify(): Promise<void> {
    const limiter = new Limiter(VERIFYING_AT_ONCE);
    await Promise.all(
      this.#written.map(({ place, path, differsFrom }) =>
        limiter.run(async () => {
          const problem = await this.#dirs!.with(place.folder, (fd) => differsFrom(entryPath(fd, place.name)))
            .catch((err) => describeError(err));
          if (problem) this.#events.problem?.({ path, code: 'IO', message: `verification failed: ${problem}` });
          else this.verified++;
        }),
      ),
    );
  }
}
