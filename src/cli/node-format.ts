// How a tree node is shown: one line like `ls -l`, or a JSON object for scripts.
import type { TreeNode } from '../model/tree.ts';

const TYPE_CHAR: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b', socket: 's' };

export function modeString(node: TreeNode): string {
  const m = node.mode;
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (m & (1 << (8 - i)) ? c : '-'));
  if (m & 0o4000) bits[2] = bits[2] === 'x' ? 's' : 'S';
  if (m & 0o2000) bits[5] = bits[5] === 'x' ? 's' : 'S';
  if (m & 0o1000) bits[8] = bits[8] === 'x' ? 't' : 'T';
  return (TYPE_CHAR[node.type] ?? '?') + bits.join('');
}

export function mtimeIso(node: TreeNode): string {
  const ns = BigInt(node.mtimeNs);
  const ms = Number(ns / 1_000_000n);
  return new Date(ms).toISOString().replace('Z', '') + String(ns % 1_000_000n).padStart(6, '0').slice(0, 6) + 'Z';
}

export function longLine(node: TreeNode, path: string): string {
  const owner = `${node.user ?? node.uid}`.padEnd(8) + ' ' + `${node.group ?? node.gid}`.padEnd(8);
  const target = node.type === 'symlink' ? ` -> ${Buffer.from(node.linkTarget ?? '', 'base64').toString('utf8')}` : '';
  return `${modeString(node)} ${owner} ${String(node.size).padStart(12)} ${mtimeIso(node).slice(0, 19).replace('T', ' ')} ${path}${target}`;
}

export function nodeJson(node: TreeNode, path: string): Record<string, unknown> {
  return { path, name: node.name, type: node.type, mode: node.mode, size: node.size, uid: node.uid, gid: node.gid, user: node.user, group: node.group, mtime: mtimeIso(node), mtimeNs: node.mtimeNs };
}
