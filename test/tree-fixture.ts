// Builds a directory tree with every kind of entry a backup must carry, and compares two trees
// by everything that must survive: content, type, mode bits, owner, nanosecond mtime, symlink
// targets, xattrs, sparseness and hard-link identity.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, linkSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { nativeAddon } from '../src/lib/native-addon.ts';
import { IS_ROOT } from './helpers.ts';

const b = (s: string): Buffer => Buffer.from(s);

export function buildFixture(root: string): void {
  mkdirSync(join(root, 'docs/deep/er/still'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  writeFileSync(join(root, 'docs/report.txt'), 'quarterly report\n'.repeat(1000));
  writeFileSync(join(root, 'docs/deep/er/still/big.bin'), randomBytes(3 * 1024 * 1024 + 17));
  writeFileSync(join(root, 'empty-file'), '');
  writeFileSync(join(root, 'setuid-prog'), '#!/bin/sh\n');
  chmodSync(join(root, 'setuid-prog'), 0o4755);
  writeFileSync(join(root, 'setgid-prog'), 'x');
  chmodSync(join(root, 'setgid-prog'), 0o2750);
  mkdirSync(join(root, 'sticky'));
  chmodSync(join(root, 'sticky'), 0o1777);
  writeFileSync(join(root, 'private'), 'secret');
  chmodSync(join(root, 'private'), 0o600);
  symlinkSync('docs/report.txt', join(root, 'link-relative'));
  symlinkSync('/nonexistent/target', join(root, 'link-dangling'));
  writeFileSync(join(root, 'hard-a'), 'shared inode content');
  linkSync(join(root, 'hard-a'), join(root, 'docs/hard-b'));
  linkSync(join(root, 'hard-a'), join(root, 'hard-c'));
  // A sparse file: 8 MiB with data only at 1 MiB and at the end.
  const fd = openSync(join(root, 'sparse.img'), 'w');
  writeSync(fd, randomBytes(4096), 0, 4096, 1024 * 1024);
  writeSync(fd, Buffer.from('tail'), 0, 4, 8 * 1024 * 1024 - 4);
  ftruncateSync(fd, 8 * 1024 * 1024);
  closeSync(fd);
  // Names that are not valid UTF-8, and other odd names.
  writeFileSync(Buffer.concat([b(root + '/latin1-'), Buffer.from([0xe9, 0x74, 0xe9]), b('.txt')]), 'latin-1 name');
  writeFileSync(join(root, 'spaces and \u00e9moji \ud83d\ude80.txt'), 'unicode name');
  writeFileSync(join(root, '-leading-dash'), 'dash');
  execFileSync('mkfifo', [join(root, 'a-fifo')]);
  nativeAddon().setXattr(b(join(root, 'docs/report.txt')), b('user.lifeboat.test'), b('xattr value'));
  nativeAddon().setXattr(b(join(root, 'docs')), b('user.on-a-dir'), Buffer.from([0, 1, 2, 255]));
  if (IS_ROOT) {
    nativeAddon().mknod(b(join(root, 'a-chardev')), 0o020000 | 0o600, 1, 3);
    nativeAddon().mknod(b(join(root, 'a-blockdev')), 0o060000 | 0o600, 7, 200);
    lchownSync(join(root, 'private'), 1234, 5678);
    lchownSync(join(root, 'link-relative'), 4321, 8765);
    execFileSync('setfacl', ['-m', 'u:1234:r', join(root, 'docs/report.txt')]);
  }
  // Nanosecond mtimes on files, directories and symlinks, set last (deepest first).
  const times: Array<[string, number]> = [
    ['docs/report.txt', 123456789], ['sparse.img', 1], ['link-relative', 999999999], ['docs/deep/er/still', 42],
    ['docs/deep/er', 43], ['docs/deep', 44], ['docs', 555555555], ['empty-dir', 7], ['sticky', 8],
  ];
  for (const [p, ns] of times) nativeAddon().utimens(b(join(root, p)), 1_600_000_000, ns, 1_600_000_000, ns);
  nativeAddon().utimens(b(root), 1_500_000_000, 1, 1_500_000_000, 1);
}

export interface EntryFacts {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  size: bigint;
  content?: string;
  target?: string;
  xattrs: string;
  sparse: boolean;
  rdev: bigint;
  /** Paths of the same inode within the tree, for hard-link identity. */
  linkGroup?: string;
}

export function describeTree(root: string): Map<string, EntryFacts> {
  const out = new Map<string, EntryFacts>();
  const inodes = new Map<bigint, string[]>();
  const visit = (rel: Buffer): void => {
    const full = Buffer.concat([b(root), rel]);
    const st = lstatSync(full, { bigint: true });
    const names = nativeAddon().listXattrs(full).sort(Buffer.compare);
    const facts: EntryFacts = {
      type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : 'other',
      mode: Number(st.mode), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, size: st.isFile() ? st.size : 0n,
      xattrs: names.map((n) => `${n}=${nativeAddon().getXattr(full, n).toString('hex')}`).join(','),
      sparse: st.isFile() && st.blocks * 512n < st.size / 2n, rdev: st.rdev,
    };
    if (st.isFile()) {
      facts.content = createHash('sha256').update(readFileSync(full)).digest('hex');
      if (st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel.toString('latin1')]);
    }
    if (st.isSymbolicLink()) facts.target = (readlinkSync(full, { encoding: 'buffer' }) as Buffer).toString('latin1');
    out.set(rel.toString('latin1') || '/', facts);
    if (st.isDirectory()) for (const name of readdirSync(full, { encoding: 'buffer' }) as Buffer[]) visit(Buffer.concat([rel, b('/'), name]));
  };
  visit(Buffer.alloc(0));
  for (const group of inodes.values()) for (const p of group) out.get(p)!.linkGroup = [...group].sort().join('|');
  return out;
}
