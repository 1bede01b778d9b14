// What a snapshot records about each entry of a tree. Shared by sources (which produce and
// consume it) and the repository (which stores it as JSON tree blobs); see docs/repository-format.md.
import { isUtf8 } from 'node:buffer';

export const NODE_TYPES = ['file', 'dir', 'symlink', 'fifo', 'chardev', 'blockdev', 'socket'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export interface Xattr {
  /** The attribute name, base64 of its raw bytes. */
  name: string;
  /** The value, base64. */
  value: string;
}

export interface TreeNode {
  /** The entry name when its bytes are valid UTF-8; otherwise a lossy display form. */
  name: string;
  /** Base64 of the name's raw bytes, present only when they are not valid UTF-8. */
  nameRaw?: string;
  type: NodeType;
  /** Permission bits including setuid, setgid and sticky (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  user?: string;
  group?: string;
  /** Times as nanoseconds since the epoch, in decimal strings (they exceed 2^53). */
  mtimeNs: string;
  ctimeNs: string;
  inode: string;
  device: string;
  links: number;
  size: number;
  /** Blob ids (hex) of the content, in order. Files only. */
  content?: string[];
  /** The tree blob id (hex) of a directory. */
  subtree?: string;
  /** Symlink target, base64 of raw bytes. */
  linkTarget?: string;
  /** [major, minor] of a device node. */
  rdev?: [number, number];
  xattrs?: Xattr[];
  /** The file had holes when it was read; restore recreates them. */
  sparse?: boolean;
  /** The file changed while it was read; its content may be inconsistent. */
  changedWhileRead?: boolean;
}

export interface Tree {
  nodes: TreeNode[];
}

/** The raw bytes of a node's name. */
export function nodeNameBytes(node: TreeNode): Buffer {
  return node.nameRaw !== undefined ? Buffer.from(node.nameRaw, 'base64') : Buffer.from(node.name, 'utf8');
}

/** Sets name/nameRaw from raw bytes, keeping non-UTF-8 names exact. */
export function nameFields(raw: Buffer): { name: string; nameRaw?: string } {
  const text = raw.toString('utf8');
  if (isUtf8(raw)) return { name: text };
  return { name: text, nameRaw: raw.toString('base64') };
}

/**
 * A key that tells raw names apart exactly, for maps of names: the name itself when its bytes
 * are UTF-8 (as nearly all are), and otherwise its bytes in base64 behind a NUL, which no name
 * contains.
 */
export function nameKey(raw: Buffer): string {
  return isUtf8(raw) ? raw.toString('utf8') : `\0${raw.toString('base64')}`;
}

/** nameKey of a node's raw name, without decoding it. */
export function nodeNameKey(node: TreeNode): string {
  return node.nameRaw === undefined ? node.name : `\0${node.nameRaw}`;
}

/** Trees keep nodes sorted by raw name bytes so the same directory always encodes the same. */
export function compareNodes(a: TreeNode, b: TreeNode): number {
  return Buffer.compare(nodeNameBytes(a), nodeNameBytes(b));
}

/**
 * Whether two node lists say the same, field by field (key order aside): a folder whose entries
 * all match its parent snapshot's keeps that tree, without encoding, naming and looking up a new
 * one. That was a tenth of a no-change backup.
 */
export function sameNodes(a: readonly TreeNode[], b: readonly TreeNode[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
  return true;
}

/** Equality of JSON values as JSON.stringify sees them: undefined members do not count. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let members = 0;
  for (const key in x) {
    if (x[key] === undefined) continue;
    if (!sameJson(x[key], y[key])) return false;
    members++;
  }
  for (const key in y) if (y[key] !== undefined) members--;
  return members === 0;
}
