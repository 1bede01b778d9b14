// Compares a restored tree with its source: every entry's type, content (SHA-256), size, mode,
// owner, modification time (nanoseconds), symlink target, extended attributes, hard-link groups,
// and whether a sparse file stayed sparse. Returns the differences by category, each with a few
// example paths; an identical tree gives {}.
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { nativeAddon } from '../src/lib/native-addon.ts';

export type Differences = Record<string, { count: number; examples: string[] }>;

export async function compareTrees(source: string, restored: string): Promise<Differences> {
  const diffs: Differences = {};
  const note = (category: string, path: string): void => {
    const d = (diffs[category] ??= { count: 0, examples: [] });
    d.count++;
    if (d.examples.length < 3) d.examples.push(path);
  };
  // Hard links: source inode → the restored inode its first path got.
  const links = new Map<bigint, bigint>();
  // Paths as bytes throughout: the corpus has names that are not UTF-8.
  const sourceRoot = Buffer.from(source);
  const restoredRoot = Buffer.from(restored);
  const under = (root: Buffer, rel: Buffer): Buffer => (rel.length ? Buffer.concat([root, Buffer.from('/'), rel]) : root);
  const walk = async (rel: Buffer): Promise<void> => {
    const names = readdirSync(under(sourceRoot, rel), { encoding: 'buffer' }).sort(Buffer.compare);
    const restoredNames = new Set(readdirSync(under(restoredRoot, rel), { encoding: 'buffer' }).map((n) => n.toString('hex')));
    const sourceNames = new Set(names.map((n) => n.toString('hex')));
    const child = (n: Buffer): Buffer => (rel.length ? Buffer.concat([rel, Buffer.from('/'), n]) : n);
    for (const n of readdirSync(under(restoredRoot, rel), { encoding: 'buffer' })) if (!sourceNames.has(n.toString('hex'))) note('extra', child(n).toString());
    for (const n of names) {
      const relPath = child(n);
      const path = relPath.toString();
      const a = under(sourceRoot, relPath);
      const b = under(restoredRoot, relPath);
      if (!restoredNames.has(n.toString('hex'))) {
        note('missing', path);
        continue;
      }
      const sa = lstatSync(a, { bigint: true });
      const sb = lstatSync(b, { bigint: true });
      if (kind(sa) !== kind(sb)) {
        note('type', path);
        continue;
      }
      if ((sa.mode & 0o7777n) !== (sb.mode & 0o7777n)) note('mode', path);
      if (sa.uid !== sb.uid || sa.gid !== sb.gid) note('owner', path);
      if (!sa.isSymbolicLink() && sa.mtimeNs !== sb.mtimeNs) note('mtime', path);
      if (xattrsOf(a) !== xattrsOf(b)) note('xattrs', path);
      if (sa.isSymbolicLink() && !readlinkSync(a, { encoding: 'buffer' }).equals(readlinkSync(b, { encoding: 'buffer' }))) note('symlink target', path);
      if (sa.isDirectory()) await walk(relPath);
      if (!sa.isFile()) continue;
      if (sa.nlink > 1n) {
        const seen = links.get(sa.ino);
        if (seen === undefined) links.set(sa.ino, sb.ino);
        else if (seen !== sb.ino) note('hard link', path);
      }
      if (sa.size !== sb.size) note('size', path);
      else if ((await digest(a)) !== (await digest(b))) note('content', path);
      // Sparse: the source holds far fewer blocks than its size needs; the copy should too.
      if (sa.blocks * 512n < sa.size / 2n && sb.blocks * 512n >= sa.size / 2n) note('sparse lost', path);
    }
  };
  await walk(Buffer.alloc(0));
  return diffs;
}

function kind(s: BigIntStats): string {
  return s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : 'other';
}

function xattrsOf(path: Buffer): string {
  try {
    return nativeAddon()
      .listXattrs(path)
      .filter((n) => n.toString().startsWith('user.'))
      .map((n) => `${n.toString('hex')}=${nativeAddon().getXattr(path, n).toString('hex')}`)
      .sort()
      .join(',');
  } catch {
    return '?';
  }
}

function digest(path: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (d) => hash.update(d)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });
}
