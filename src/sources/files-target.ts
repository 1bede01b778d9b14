// The files target: puts entries back on a filesystem with everything the snapshot recorded:
// permission bits (setuid/setgid/sticky included), owner (as root; by name when the name exists
// here, else by id), xattrs, and nanosecond times, which are set last, after the content.
import { chmodSync, lchownSync, symlinkSync, linkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { TreeNode } from '../model/tree.ts';
import type { FileHandle } from 'node:fs/promises';
import { gidOf, uidOf } from './ids.ts';
import { nativeFs } from './native.ts';

const IS_ROOT = process.getuid?.() === 0;

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;

export async function createDirectory(path: Buffer): Promise<void> {
  // Owner-writable while restoring into it; the recorded mode is applied after its content.
  await mkdir(path, { mode: 0o700, recursive: true });
}

export function createSymlink(path: Buffer, node: TreeNode): void {
  symlinkSync(Buffer.from(node.linkTarget ?? '', 'base64'), path);
}

export function createHardLink(existing: Buffer, path: Buffer): void {
  linkSync(existing, path);
}

/** FIFOs always; device nodes and sockets only as root (the kernel refuses others). */
export function createSpecial(path: Buffer, node: TreeNode): 'created' | 'skipped' {
  const type = { fifo: S_IFIFO, chardev: S_IFCHR, blockdev: S_IFBLK, socket: S_IFSOCK }[node.type as 'fifo'];
  if (type === undefined) throw new Error(`not a special file: ${node.type}`);
  if (node.type !== 'fifo' && !IS_ROOT) return 'skipped';
  const [major, minor] = node.rdev ?? [0, 0];
  nativeFs.mknod(path, type | 0o600, major, minor);
  return 'created';
}

/**
 * The same for a regular file still open after its content was written: through the descriptor,
 * with owner and mode changes on the thread pool, so many files are finished at once.
 */
export async function applyFileMetadata(fh: FileHandle, node: TreeNode): Promise<string[]> {
  const problems: string[] = [];
  if (IS_ROOT) {
    const [uid, gid] = ownerOf(node);
    await fh.chown(uid, gid).catch((err: Error) => problems.push(`cannot set owner: ${err.message}`));
  }
  await fh.chmod(node.mode);
  for (const x of node.xattrs ?? []) {
    try {
      nativeFs.fsetxattr(fh.fd, Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64'));
    } catch (err) {
      problems.push(`cannot set extended attribute ${Buffer.from(x.name, 'base64').toString()}: ${(err as Error).message}`);
    }
  }
  const [sec, nsec] = splitNs(BigInt(node.mtimeNs));
  nativeFs.futimens(fh.fd, sec, nsec, sec, nsec);
  return problems;
}

/** The owner to restore: by name when that name exists here, else by the recorded id. */
export function ownerOf(node: TreeNode): [number, number] {
  const uid = (node.user !== undefined ? uidOf(node.user) : undefined) ?? node.uid;
  const gid = (node.group !== undefined ? gidOf(node.group) : undefined) ?? node.gid;
  return [uid, gid];
}

/** Applies owner, mode, xattrs and times; returns problems that did not stop it. */
export function applyMetadata(path: Buffer, node: TreeNode): string[] {
  const problems: string[] = [];
  if (IS_ROOT) {
    const [uid, gid] = ownerOf(node);
    try {
      lchownSync(path, uid, gid);
    } catch (err) {
      problems.push(`cannot set owner: ${(err as Error).message}`);
    }
  }
  // chown clears setuid/setgid, so the mode comes after it. Symlinks have no mode of their own.
  if (node.type !== 'symlink') chmodSync(path, node.mode);
  for (const x of node.xattrs ?? []) {
    try {
      nativeFs.setXattr(path, Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64'));
    } catch (err) {
      problems.push(`cannot set extended attribute ${Buffer.from(x.name, 'base64').toString()}: ${(err as Error).message}`);
    }
  }
  const [sec, nsec] = splitNs(BigInt(node.mtimeNs));
  nativeFs.utimens(path, sec, nsec, sec, nsec);
  return problems;
}

/** Seconds and non-negative nanoseconds, also for times before 1970. */
export function splitNs(ns: bigint): [number, number] {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return [Number(sec), Number(nsec)];
}
