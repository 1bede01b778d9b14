// The files source: reads what a snapshot records about a filesystem entry (type, permission bits,
// owner ids and names, nanosecond times, symlink target, device numbers, xattrs, sparseness).
// Paths are Buffers throughout, so names that are not valid UTF-8 survive byte for byte.
// A folder's entries and their lstat come from dir-scan.ts in one call. The other metadata calls
// (a top-level path's lstat, readlink, a changed entry's xattrs) are synchronous on purpose: they
// take microseconds on a local disk, while their promise versions cost far more per entry.
import { lstatSync, readlinkSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import type { EntryStats } from './dir-scan.ts';
import { nameFields, type NodeType, type TreeNode, type Xattr } from '../model/tree.ts';
import { groupName, userName } from './ids.ts';
import { nativeAddon } from '../lib/native-addon.ts';

export const SLASH = Buffer.from('/');

/**
 * dir + "/" + name. The result has its own exactly sized memory: paths are kept for the length of
 * a backup or restore, and a slice of Node's shared buffer pool would keep a whole slab alive.
 */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  const atRoot = dir.length === 1 && dir[0] === 0x2f;
  const out = Buffer.allocUnsafeSlow(dir.length + (atRoot ? 0 : 1) + name.length);
  dir.copy(out, 0);
  if (!atRoot) out[dir.length] = 0x2f;
  name.copy(out, out.length - name.length);
  return out;
}

export function nodeType(st: EntryStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return 'socket';
}

export async function statEntry(path: Buffer): Promise<BigIntStats> {
  return lstatSync(path, { bigint: true });
}

export function readXattrs(path: Buffer): { xattrs?: Xattr[]; problem?: string } {
  try {
    const names = nativeAddon().listXattrs(path);
    if (names.length === 0) return {};
    const xattrs = names.sort(Buffer.compare).map((name) => ({ name: name.toString('base64'), value: nativeAddon().getXattr(path, name).toString('base64') }));
    return { xattrs };
  } catch (err) {
    return { problem: `cannot read extended attributes: ${(err as Error).message}` };
  }
}

/**
 * Everything about an entry but its content (files) or subtree (directories). `previous` is the
 * parent snapshot's node of the same name: when its inode and ctime are the ones `st` reports, its
 * extended attributes and symlink target are taken over instead of read again. Both can only
 * change through calls that set ctime (setxattr, removexattr; a symlink is replaced, not edited),
 * the same evidence unchanged files rely on; a no-change backup of the bench corpus spent 6% of
 * its time listing attributes that were not there.
 */
export async function describeEntry(path: Buffer, name: Buffer, st: EntryStats, previous?: TreeNode): Promise<{ node: TreeNode; problems: string[] }> {
  const type = nodeType(st);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const node: TreeNode = {
    ...nameFields(name),
    type,
    mode: Number(st.mode & 0o7777n),
    uid,
    gid,
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    inode: st.ino.toString(),
    device: st.dev.toString(),
    links: Number(st.nlink),
    size: type === 'file' ? Number(st.size) : 0,
  };
  const user = userName(uid);
  const group = groupName(gid);
  if (user !== undefined) node.user = user;
  if (group !== undefined) node.group = group;
  const problems: string[] = [];
  const same = previous !== undefined && previous.type === type && previous.inode === node.inode && previous.device === node.device && previous.ctimeNs === node.ctimeNs;
  if (type === 'symlink') node.linkTarget = same && previous.linkTarget !== undefined ? previous.linkTarget : readlinkSync(path, { encoding: 'buffer' }).toString('base64');
  if (type === 'chardev' || type === 'blockdev') node.rdev = nativeAddon().devParts(Number(st.rdev));
  if (type === 'file' && st.blocks * 512n < st.size) node.sparse = true;
  const { xattrs, problem } = same ? { xattrs: previous.xattrs } : st.xattrListBytes === 0 ? {} : readXattrs(path);
  if (xattrs) node.xattrs = xattrs;
  if (problem) problems.push(problem);
  return { node, problems };
}

/** A parent-snapshot node can stand for this file (`node`, as describeEntry found it) without reading it again. */
export function unchangedSince(previous: TreeNode | undefined, node: TreeNode): boolean {
  return (
    previous !== undefined &&
    previous.type === 'file' &&
    previous.content !== undefined &&
    previous.size === node.size &&
    previous.mtimeNs === node.mtimeNs &&
    previous.ctimeNs === node.ctimeNs &&
    previous.inode === node.inode
  );
}
