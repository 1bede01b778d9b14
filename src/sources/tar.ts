// A pax (POSIX.1-2001) tar writer for `dump` of a folder: long and non-UTF-8 names, nanosecond
// mtimes, owner names, xattrs (SCHILY.xattr) and hard links survive, and GNU tar and bsdtar read it.
import type { TreeNode } from '../model/tree.ts';

const BLOCK = 512;
const TYPEFLAG: Record<string, string> = { file: '0', dir: '5', symlink: '2', fifo: '6', chardev: '3', blockdev: '4' };

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: Buffer, node: TreeNode, typeflag: string, size: number, linkname: Buffer): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(100, name.length));
  h.write(octal(node.mode & 0o7777, 8), 100, 'latin1');
  h.write(octal(node.uid < 0o7777777 ? node.uid : 0, 8), 108, 'latin1');
  h.write(octal(node.gid < 0o7777777 ? node.gid : 0, 8), 116, 'latin1');
  h.write(octal(size < 8 ** 11 ? size : 0, 12), 124, 'latin1');
  h.write(octal(Math.max(0, Number(BigInt(node.mtimeNs) / 1_000_000_000n)), 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(typeflag, 156, 'latin1');
  linkname.copy(h, 157, 0, Math.min(100, linkname.length));
  h.write('ustar\0' + '00', 257, 'latin1');
  h.write((node.user ?? '').slice(0, 31), 265, 'utf8');
  h.write((node.group ?? '').slice(0, 31), 297, 'utf8');
  if (node.rdev) {
    h.write(octal(node.rdev[0], 8), 329, 'latin1');
    h.write(octal(node.rdev[1], 8), 337, 'latin1');
  }
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'latin1');
  return h;
}

/** The header blocks (pax extended header, then ustar header) of one entry. */
export function tarHeader(path: Buffer, node: TreeNode, hardLinkTo?: Buffer): Buffer {
  const typeflag = hardLinkTo ? '1' : TYPEFLAG[node.type] ?? '0';
  const size = typeflag === '0' ? node.size : 0;
  const linkname = hardLinkTo ?? (node.type === 'symlink' ? Buffer.from(node.linkTarget ?? '', 'base64') : Buffer.alloc(0));
  const ns = BigInt(node.mtimeNs);
  const records = [
    paxRecord('path', path),
    paxRecord('mtime', Buffer.from(`${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`)),
    paxRecord('uid', Buffer.from(String(node.uid))),
    paxRecord('gid', Buffer.from(String(node.gid))),
    paxRecord('size', Buffer.from(String(size))),
  ];
  if (linkname.length) records.push(paxRecord('linkpath', linkname));
  if (node.user) records.push(paxRecord('uname', Buffer.from(node.user)));
  if (node.group) records.push(paxRecord('gname', Buffer.from(node.group)));
  for (const x of node.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${Buffer.from(x.name, 'base64').toString('utf8')}`, Buffer.from(x.value, 'base64')));
  if (!Buffer.from(path.toString('utf8')).equals(path)) records.unshift(paxRecord('hdrcharset', Buffer.from('BINARY')));
  const pax = Buffer.concat(records);
  const paxHeader = header(Buffer.from('PaxHeader'), { ...node, mode: 0o644 }, 'x', pax.length, Buffer.alloc(0));
  return Buffer.concat([paxHeader, pax, padding(pax.length), header(path, node, typeflag, size, linkname)]);
}

export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

export const TAR_END = Buffer.alloc(BLOCK * 2);
