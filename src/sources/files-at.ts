// What the files target (files-target.ts) does to one entry: creates it, removes what is in its
// way, and puts back everything the snapshot recorded: permission bits, owner (as root; by name
// when the name exists here, else by id), xattrs, and nanosecond times, which are set last.
//
// A snapshot may come from a machine that was taken over, and other users may write into the
// target while a restore runs: nothing here follows a symbolic link below the target. Every entry
// is named relative to a folder opened without following links (TargetDirs), as
// /proc/self/fd/N/NAME, which the kernel resolves as openat(N, NAME) does; the last component is
// never followed (O_NOFOLLOW, lchown, lsetxattr, utimensat with AT_SYMLINK_NOFOLLOW), and modes are
// set through a descriptor. Such paths are short whatever the depth, so paths longer than
// PATH_MAX restore too.
import { chmodSync, closeSync, fstatSync, lchownSync, linkSync, lstatSync, openSync, readdirSync, rmdirSync, symlinkSync, unlinkSync, constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import type { TreeNode, Xattr } from '../model/tree.ts';
import { gidOf, uidOf } from './ids.ts';
import { nativeAddon } from '../lib/native-addon.ts';

const IS_ROOT = process.getuid?.() === 0;
/** Linux's O_PATH (the same on every architecture Node runs on); node:fs does not export it. */
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
/**
 * How a folder below the target is held: never through a link, and as a path only (O_PATH), which
 * needs no read permission, so a folder whose recorded mode is already applied can be held again.
 */
export const DIRECTORY_FLAGS = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW | O_CLOEXEC;

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const SETUID_SETGID = 0o6000;
/** Attribute namespaces that grant privileges (file capabilities, SELinux labels, trusted.*). */
const PRIVILEGED_XATTR = /^(security|trusted)\./;

/** The entry `name` inside the folder open as `dirFd`, as a path the kernel resolves from that folder. */
export function entryPath(dirFd: number, name: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), name]);
}

/** Opens the folder `name` inside `dirFd`; fails with ELOOP or ENOTDIR when it is a link or not a folder. */
export function openDirectoryAt(dirFd: number, name: Buffer): number {
  return openSync(entryPath(dirFd, name), DIRECTORY_FLAGS);
}

export async function createDirectoryAt(dirFd: number, name: Buffer): Promise<void> {
  // Owner-writable while restoring into it; the recorded mode is applied after its content. On
  // the thread pool: a creation can cost half a millisecond of journal work.
  await mkdir(entryPath(dirFd, name), { mode: 0o700 });
}

export function createSymlinkAt(dirFd: number, name: Buffer, node: TreeNode): void {
  symlinkSync(Buffer.from(node.linkTarget ?? '', 'base64'), entryPath(dirFd, name));
}

/** link() never follows its first path's last component: a hard link to a link links the link. */
export function createHardLinkAt(existingDirFd: number, existingName: Buffer, dirFd: number, name: Buffer): void {
  linkSync(entryPath(existingDirFd, existingName), entryPath(dirFd, name));
}

/** FIFOs always; device nodes and sockets only as root (the kernel refuses others). */
export function createSpecialAt(dirFd: number, name: Buffer, node: TreeNode): 'created' | 'skipped' {
  const type = { fifo: S_IFIFO, chardev: S_IFCHR, blockdev: S_IFBLK, socket: S_IFSOCK }[node.type as 'fifo'];
  if (type === undefined) throw new Error(`not a special file: ${node.type}`);
  if (node.type !== 'fifo' && !IS_ROOT) return 'skipped';
  const [major, minor] = node.rdev ?? [0, 0];
  nativeAddon().mknod(entryPath(dirFd, name), type | 0o600, major, minor);
  return 'created';
}

/**
 * Removes the entry `name` in `dirFd`, a folder with everything in it: folders are entered by
 * descriptor without following links, so a link swapped in meanwhile is removed, never followed.
 */
export function removeEntryAt(dirFd: number, name: Buffer): void {
  const path = entryPath(dirFd, name);
  if (!lstatSync(path, { throwIfNoEntry: false })?.isDirectory()) {
    unlinkSync(path);
    return;
  }
  const fd = openDirectoryAt(dirFd, name);
  try {
    // Listed through the held folder itself: the path cannot lead anywhere else meanwhile.
    for (const child of readdirSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' })) removeEntryAt(fd, child);
  } finally {
    closeSync(fd);
  }
  rmdirSync(path);
}

/** What a restore applies of an entry's metadata, and what it held back. */
export interface AppliedMetadata {
  node: TreeNode;
  heldBack: string[];
}

/**
 * The node with what grants privileges left out, unless `privileged`: setuid and setgid bits,
 * security.* and trusted.* attributes (file capabilities, SELinux labels), device nodes. A
 * snapshot from a machine that was taken over could otherwise hand out root through a restore.
 */
export function ordinaryMetadata(node: TreeNode, privileged: boolean): AppliedMetadata {
  if (privileged) return { node, heldBack: [] };
  const heldBack: string[] = [];
  let out = node;
  if (node.mode & SETUID_SETGID && node.type !== 'dir') {
    heldBack.push(`${node.mode & 0o4000 ? 'setuid' : 'setgid'} bit`);
    out = { ...out, mode: node.mode & ~SETUID_SETGID };
  }
  const names = (node.xattrs ?? []).map((x) => Buffer.from(x.name, 'base64').toString('latin1'));
  if (names.some((n) => PRIVILEGED_XATTR.test(n))) {
    heldBack.push(...names.filter((n) => PRIVILEGED_XATTR.test(n)).map((n) => `attribute ${n}`));
    out = { ...out, xattrs: (node.xattrs ?? []).filter((_, i) => !PRIVILEGED_XATTR.test(names[i])) };
  }
  if (node.type === 'chardev' || node.type === 'blockdev') heldBack.push('device node');
  return { node: out, heldBack };
}

/** The same for a regular file still open after its content was written: through the descriptor. */
export async function applyFileMetadata(fh: FileHandle, node: TreeNode): Promise<string[]> {
  const problems: string[] = [];
  if (IS_ROOT) {
    const [uid, gid] = ownerOf(node);
    await fh.chown(uid, gid).catch((err: Error) => problems.push(`cannot set owner: ${err.message}`));
  }
  await fh.chmod(node.mode);
  problems.push(...setXattrs(node.xattrs, (name, value) => nativeAddon().fsetxattr(fh.fd, name, value)));
  const [sec, nsec] = splitNs(BigInt(node.mtimeNs));
  nativeAddon().futimens(fh.fd, sec, nsec, sec, nsec);
  return problems;
}

/** A file's metadata where it already is (restore found it identical), through its descriptor. */
export function applyExistingFileMetadata(path: Buffer, node: TreeNode): Promise<string[]> {
  return applyThrough(path, constants.O_RDONLY | constants.O_NOFOLLOW, node);
}

/**
 * A folder's metadata (applied once everything in it is restored), through a descriptor opened
 * from the one TargetDirs holds (fchmod and fchown refuse O_PATH descriptors).
 */
export function applyDirectoryMetadata(pathFd: number, node: TreeNode): Promise<string[]> {
  return applyThrough(`/proc/self/fd/${pathFd}`, constants.O_RDONLY | constants.O_DIRECTORY, node);
}

async function applyThrough(path: Buffer | string, flags: number, node: TreeNode): Promise<string[]> {
  const fh = await open(path, flags);
  try {
    return await applyFileMetadata(fh, node);
  } finally {
    await fh.close();
  }
}

/**
 * A symbolic link's or special file's metadata; returns problems that did not stop it. Its mode is
 * set through an O_PATH descriptor of the entry itself, checked to be what was created.
 */
export function applyMetadataAt(dirFd: number, name: Buffer, node: TreeNode): string[] {
  const path = entryPath(dirFd, name);
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
  if (node.type !== 'symlink') {
    const fd = openSync(path, O_PATH | constants.O_NOFOLLOW | O_CLOEXEC);
    try {
      if (fstatSync(fd).isSymbolicLink()) throw Object.assign(new Error('the entry was replaced by a symbolic link'), { code: 'ELOOP' });
      chmodSync(`/proc/self/fd/${fd}`, node.mode); // fchmod refuses O_PATH descriptors; this is glibc's way round
    } finally {
      closeSync(fd);
    }
  }
  problems.push(...setXattrs(node.xattrs, (n, value) => nativeAddon().setXattr(path, n, value)));
  const [sec, nsec] = splitNs(BigInt(node.mtimeNs));
  nativeAddon().utimens(path, sec, nsec, sec, nsec);
  return problems;
}

function setXattrs(xattrs: Xattr[] | undefined, set: (name: Buffer, value: Buffer) => void): string[] {
  const problems: string[] = [];
  for (const x of xattrs ?? []) {
    try {
      set(Buffer.from(x.name, 'base64'), Buffer.from(x.value, 'base64'));
    } catch (err) {
      problems.push(`cannot set extended attribute ${Buffer.from(x.name, 'base64').toString()}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** The owner to restore: by name when that name exists here, else by the recorded id. */
export function ownerOf(node: TreeNode): [number, number] {
  const uid = (node.user !== undefined ? uidOf(node.user) : undefined) ?? node.uid;
  const gid = (node.group !== undefined ? gidOf(node.group) : undefined) ?? node.gid;
  return [uid, gid];
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
