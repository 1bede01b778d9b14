// Trees as stored: JSON tree blobs parsed with validation, never cast. Another machine sharing the
// repository may be taken over and write any tree it likes, so every entry is checked before a
// reader acts on it: a name is one path component (no "/", no NUL, not "." or ".."), names are
// unique within a tree, ids are ids and numbers are in range. A bad entry is left out of `nodes`
// and listed in `damaged`, so that readers refuse it and go on with the rest.
import { NODE_TYPES, nodeNameBytes, nodeNameKey, type Tree, type TreeNode } from '../model/tree.ts';

const HEX_ID = /^[0-9a-f]{64}$/;
const DECIMAL = /^-?[0-9]{1,20}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const TYPES = new Set<unknown>(NODE_TYPES);

const uint = (x: unknown, max: number): boolean => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= max;
const text = (x: unknown, re: RegExp): boolean => typeof x === 'string' && re.test(x);
const isText = (x: unknown): boolean => x === undefined || typeof x === 'string';
const isFlag = (x: unknown): boolean => x === undefined || typeof x === 'boolean';
const isIdList = (x: unknown): boolean => Array.isArray(x) && x.every((id) => text(id, HEX_ID));
const isRdev = (x: unknown): boolean => Array.isArray(x) && x.length === 2 && uint(x[0], 0xffff_ffff) && uint(x[1], 0xffff_ffff);
const isXattr = (x: unknown): boolean => typeof x === 'object' && x !== null && text((x as Record<string, unknown>).name, BASE64) && text((x as Record<string, unknown>).value, BASE64);
const isXattrList = (x: unknown): boolean => Array.isArray(x) && x.every(isXattr);

/**
 * What is wrong with an entry's fields, or undefined. Written out rather than with the validation
 * library the config and key files use: a folder listing is parsed on every restore and every
 * re-backup, and the library took twice as long as JSON.parse itself (5-7 µs an entry).
 */
function fieldProblem(n: Record<string, unknown>): string | undefined {
  if (typeof n.name !== 'string') return 'name is not text';
  if (n.nameRaw !== undefined && !text(n.nameRaw, BASE64)) return 'nameRaw is not base64';
  if (!TYPES.has(n.type)) return 'unknown type';
  if (!uint(n.mode, 0o7777)) return 'mode out of range';
  if (!uint(n.uid, 0xffff_ffff) || !uint(n.gid, 0xffff_ffff)) return 'owner out of range';
  if (!isText(n.user) || !isText(n.group)) return 'owner name is not text';
  if (!text(n.mtimeNs, DECIMAL) || !text(n.ctimeNs, DECIMAL) || !text(n.inode, DECIMAL) || !text(n.device, DECIMAL)) return 'a time, inode or device is not a decimal number';
  if (!uint(n.links, 0xffff_ffff) || !uint(n.size, Number.MAX_SAFE_INTEGER)) return 'links or size out of range';
  if (n.content !== undefined && !isIdList(n.content)) return 'content is not a list of blob ids';
  if (n.subtree !== undefined && !text(n.subtree, HEX_ID)) return 'subtree is not a blob id';
  if (n.linkTarget !== undefined && !text(n.linkTarget, BASE64)) return 'linkTarget is not base64';
  if (n.rdev !== undefined && !isRdev(n.rdev)) return 'rdev is not [major, minor]';
  if (n.xattrs !== undefined && !isXattrList(n.xattrs)) return 'xattrs are not a list of base64 names and values';
  if (!isFlag(n.sparse) || !isFlag(n.changedWhileRead)) return 'a flag is not true or false';
  return undefined;
}

/** An entry of a stored tree that readers must refuse: where it is and what is wrong with it. */
export interface DamagedEntry {
  /** The name as well as it can be shown (it may be the cause of the damage). */
  name: string;
  problem: string;
}

/** A tree read from the repository: its valid entries, and the ones left out. */
export interface LoadedTree extends Tree {
  damaged: DamagedEntry[];
}

/** Why `raw` cannot be an entry's name on any file system, or undefined when it can. */
function badNameReason(raw: Buffer): string | undefined {
  if (raw.byteLength === 0) return 'the name is empty';
  if (raw.byteLength <= 2 && (raw.toString('latin1') === '.' || raw.toString('latin1') === '..')) return `the name is "${raw.toString('latin1')}"`;
  if (raw.includes(0x2f)) return 'the name contains "/"';
  if (raw.includes(0)) return 'the name contains a NUL byte';
  return undefined;
}

function badTextName(name: string): string | undefined {
  if (name === '') return 'the name is empty';
  if (name === '.' || name === '..') return `the name is "${name}"`;
  if (name.includes('/')) return 'the name contains "/"';
  if (name.includes('\0')) return 'the name contains a NUL byte';
  return undefined;
}

/**
 * Parses a tree blob's plaintext. Throws when it is not a tree at all (not JSON, no `nodes` list);
 * an entry that is not valid is left out and described in `damaged`.
 */
export function decodeTree(bytes: Uint8Array): LoadedTree {
  const parsed: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as Tree).nodes)) throw new Error('it has no list of entries');
  const nodes: TreeNode[] = [];
  const damaged: DamagedEntry[] = [];
  const seen = new Set<string>();
  for (const raw of (parsed as { nodes: unknown[] }).nodes) {
    const fields = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? fieldProblem(raw as Record<string, unknown>) : 'not an object';
    if (fields) {
      const shown = typeof (raw as TreeNode | null)?.name === 'string' ? (raw as TreeNode).name : '?';
      damaged.push({ name: shown, problem: `invalid entry (${fields})` });
      continue;
    }
    // The entry as stored: its fields keep their order, so a folder saved again from it encodes
    // (and is named) exactly as before.
    const node = raw as TreeNode;
    // A UTF-8 name is judged as text: no Buffer per entry.
    const problem = (node.nameRaw === undefined ? badTextName(node.name) : badNameReason(nodeNameBytes(node))) ?? shapeProblem(node);
    if (problem) {
      damaged.push({ name: node.name, problem });
      continue;
    }
    const key = nodeNameKey(node);
    if (seen.has(key)) {
      damaged.push({ name: node.name, problem: 'the name occurs more than once in its folder' });
      continue;
    }
    seen.add(key);
    nodes.push(node);
  }
  return { nodes, damaged };
}

/** Fields that belong to another type of entry (a file with a subtree, a folder with content). */
function shapeProblem(node: TreeNode): string | undefined {
  if (node.subtree !== undefined && node.type !== 'dir') return `a ${node.type} with a subfolder`;
  if (node.content !== undefined && node.type !== 'file') return `a ${node.type} with file content`;
  if (node.type === 'dir' && node.subtree === undefined) return 'a folder without a listing';
  return undefined;
}
