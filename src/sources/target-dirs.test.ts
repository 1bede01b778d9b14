import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createDirectoryAt, entryPath, removeEntryAt } from './files-at.ts';
import { TargetDirs } from './target-dirs.ts';

function scratch(t: { after: (f: () => void) => void }): { target: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'lifeboat-target-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(join(base, 'target'));
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(base, 'outside', 'secret'), 'secret');
  return { target: join(base, 'target'), outside: join(base, 'outside') };
}

test('a folder held by descriptor stays the folder written into when a link replaces its name', async (t) => {
  const { target, outside } = scratch(t);
  const dirs = TargetDirs.open(target);
  t.after(() => dirs.close());
  await dirs.with('', (fd) => createDirectoryAt(fd, Buffer.from('docs')));
  const fd = dirs.acquire('docs');
  // Another user swaps the folder for a link to elsewhere while the restore is inside it.
  renameSync(join(target, 'docs'), join(target, 'moved'));
  symlinkSync(outside, join(target, 'docs'));
  writeFileSync(entryPath(fd, Buffer.from('f')), 'restored');
  dirs.release('docs');
  assert.equal(readFileSync(join(target, 'moved', 'f'), 'utf8'), 'restored');
  assert.ok(!existsSync(join(outside, 'f')), 'nothing written through the link');
});

test('a folder is never entered through a link: the open fails, and removal removes the link itself', async (t) => {
  const { target, outside } = scratch(t);
  symlinkSync(outside, join(target, 'lnk'));
  mkdirSync(join(target, 'real'));
  symlinkSync(outside, join(target, 'real', 'inner'));
  const dirs = TargetDirs.open(target);
  t.after(() => dirs.close());
  const refused = (err: NodeJS.ErrnoException) => err.code === 'ENOTDIR' || err.code === 'ELOOP'; // O_PATH opens say ENOTDIR
  assert.throws(() => dirs.acquire('lnk'), refused);
  assert.throws(() => dirs.acquire('lnk/below'), refused);
  await dirs.with('', (fd) => removeEntryAt(fd, Buffer.from('real')));
  assert.ok(!existsSync(join(target, 'real')));
  assert.equal(readFileSync(join(outside, 'secret'), 'utf8'), 'secret', 'the link\'s target survives');
});

test('held descriptors are bounded: folders no one holds are closed past the idle limit and opened again', (t) => {
  const { target } = scratch(t);
  for (let i = 0; i < 600; i++) mkdirSync(join(target, `d${i}`));
  const dirs = TargetDirs.open(target);
  t.after(() => dirs.close());
  const openFds = () => readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 600; i++) {
    dirs.acquire(`d${i}`);
    dirs.release(`d${i}`);
  }
  assert.ok(openFds() < 600, `descriptor table ${openFds()}`);
  writeFileSync(entryPath(dirs.acquire('d0'), Buffer.from('again')), 'x');
  assert.equal(readFileSync(join(target, 'd0', 'again'), 'utf8'), 'x');
});
