import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanDirectory } from './dir-scan.ts';
import { nativeAddon } from '../lib/native-addon.ts';

test('a folder scan lists every entry sorted by name bytes, with the numbers lstat gives, and knows which have xattrs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'b.txt'), 'bee');
  writeFileSync(join(dir, 'B-upper'), 'x'.repeat(5000));
  mkdirSync(join(dir, 'sub'));
  symlinkSync('b.txt', join(dir, 'link'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  const odd = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x6e, 0xff, 0x6f])]); // not UTF-8
  writeFileSync(odd, '');
  nativeAddon().setXattr(Buffer.from(join(dir, 'b.txt')), Buffer.from('user.test'), Buffer.from('v'));

  const entries = await scanDirectory(Buffer.from(dir));
  const names = entries.map((e) => e.name);
  assert.deepEqual(names, [...names].sort(Buffer.compare));
  assert.deepEqual(names.map((n) => n.toString('latin1')).sort(), ['B-upper', 'b.txt', 'fifo', 'link', 'n\xffo', 'sub'].sort());
  for (const e of entries) {
    assert.equal(e.error, undefined);
    const want = lstatSync(Buffer.concat([Buffer.from(dir + '/'), e.name]), { bigint: true });
    const got = e.stats!;
    for (const k of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'blocks', 'mtimeNs', 'ctimeNs'] as const) assert.equal(got[k], want[k], `${e.name}: ${k}`);
    for (const k of ['isFile', 'isDirectory', 'isSymbolicLink', 'isFIFO', 'isCharacterDevice', 'isBlockDevice'] as const) assert.equal(got[k](), want[k](), `${e.name}: ${k}`);
    assert.equal(got.xattrListBytes! > 0, e.name.toString() === 'b.txt', `${e.name}: xattrs`);
  }
});

test('a folder that cannot be scanned fails with the errno code the walk reports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'file'), '');
  await assert.rejects(scanDirectory(Buffer.from(join(dir, 'missing'))), { code: 'ENOENT' });
  await assert.rejects(scanDirectory(Buffer.from(join(dir, 'file'))), { code: 'ENOTDIR' });
  // A folder swapped for a symlink between being listed and being scanned is not followed.
  mkdirSync(join(dir, 'real'));
  symlinkSync('real', join(dir, 'swapped'));
  await assert.rejects(scanDirectory(Buffer.from(join(dir, 'swapped'))), (err: NodeJS.ErrnoException) => err.code === 'ELOOP' || err.code === 'ENOTDIR');
  assert.deepEqual(await scanDirectory(Buffer.from(join(dir, '.'))).then((e) => e.map((x) => x.name.toString())), ['file', 'real', 'swapped']);
});
