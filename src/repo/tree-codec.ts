// Trees as stored: JSON tree blobs parsed with validation, never cast. Another machine sharing the
// repository may be taken over and write any tree it likes, so every entry is checked before a
// reader acts on it: a name is one path component (no "/", no NUL, not "." or ".."), names are
// unique within a tree, ids are ids and numbers are in range. A bad entry is left out of `nodes`
// and listed in `damaged`, so that readers refuse it and go on with the rest.
import * as v from 'valibot';
import { NODE_TYPES, nodeNameBytes, nodeNameKey, type Tree, type TreeNode } from '../model/tree.ts';

const hexId = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/));
const uint = v.pipe(v.number(), v.integer(), v.minValue(0));
const id32 = v.pipe(uint, v.maxValue(0xffff_ffff));
const decimal = v.pipe(v.string(), v.regex(/^-?[0-9]{1,20}$/));
const base64 = v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/));

const nodeSchema = v.object({
  name: v.string(),
  nameRaw: v.optional(base64),
  type: v.picklist(NODE_TYPES),
  mode: v.pipe(uint, v.maxValue(0o7777)),
  uid: id32,
  gid: id32,
  user: v.optional(v.string()),
  group: v.optional(v.string()),
  mtimeNs: decimal,
  ctimeNs: decimal,
  inode: decimal,
  device: decimal,
  links: uint,
  size: v.pipe(uint, v.maxValue(Number.MAX_SAFE_INTEGER)),
  content: v.optional(v.array(hexId)),
  subtree: v.optional(hexId),
  linkTarget: v.optional(base64),
  rdev: v.optional(v.tuple([id32, id32])),
  xattrs: v.optional(v.array(v.object({ name: base64, value: base64 }))),
  sparse: v.optional(v.boolean()),
  changedWhileRead: v.optional(v.boolean()),
});

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
export function badNameReason(raw: Buffer): string | undefined {
  if (raw.byteLength === 0) return 'the name is empty';
  if (raw.byteLength <= 2 && (raw.toString('latin1') === '.' || raw.toString('latin1') === '..')) return `the name is "${raw.toString('latin1')}"`;
  if (raw.includes(0x2f)) return 'the name contains "/"';
  if (raw.includes(0)) return 'the name contains a NUL byte';
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
    const result = v.safeParse(nodeSchema, raw);
    if (!result.success) {
      const shown = typeof (raw as TreeNode | null)?.name === 'string' ? (raw as TreeNode).name : '?';
      const issue = result.issues[0];
      damaged.push({ name: shown, problem: `invalid entry (${v.getDotPath(issue) ?? 'entry'}: ${issue.message})` });
      continue;
    }
    // The entry as stored, not the parser's copy: its fields keep their order, so a folder
    // saved again from it encodes (and is named) exactly as before.
    const node = raw as TreeNode;
    const problem = badNameReason(nodeNameBytes(node)) ?? shapeProblem(node);
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
