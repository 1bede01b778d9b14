// Restoring snapshots that a taken-over machine sharing the repository wrote: names that are not
// one path component, links in the way, trees that are not what their ids say, decompression
// bombs. Nothing outside the target may change, and every reader stops or goes on with the rest.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { zstdCompressSync } from 'node:zlib';
import { Crafter, entry } from './hostile-repo.ts';
import { cli, cliOk, IS_ROOT, newRepo, tempDir } from './helpers.ts';

/** Every path below `dir` with its type, mode, owner and mtime, except below `skip`. */
function listing(dir: string, skip: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (p === skip) continue;
      const st = lstatSync(p);
      out.push(`${p} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.isFile() ? readFileSync(p, 'latin1') : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.concat(`${dir} ${statSync(dir).mode.toString(8)} ${statSync(dir).uid}`);
}

test('restore refuses entry names that are not one path component, and changes nothing outside the target', async (t) => {
  const repo = await newRepo(t);
  const base = tempDir(t);
  const target = join(base, 'a', 'b', 'target');
  mkdirSync(target, { recursive: true });
  writeFileSync(join(base, 'a', 'keep.txt'), 'untouched');
  const c = await Crafter.open(repo);
  const owner = { uid: 65534, gid: 65534, mode: 0o777 };
  const root = await c.tree([
    await c.dir('..', [await c.file('escaped-dotdot', 'x')], owner),
    await c.dir('../..', [await c.file('escaped-two-up', 'x')], owner),
    await c.file('../../escaped-name', 'x'),
    await c.file('a/b', 'x'),
    await c.file('', 'x'),
    await c.file('.', 'x'),
    await c.file('nul\0byte', 'x'),
    entry('raw-slash', 'file', { nameRaw: Buffer.from('x/y').toString('base64') }),
    await c.file('dup', 'first'),
    await c.dir('dup', [await c.file('below-dup', 'x')]),
    { name: 'not-a-node' },
    await c.file('good.txt', 'restored'),
  ]);
  const id = await c.snapshot(root);
  await c.close();
  const before = listing(base, target);
  const r = await cli(['restore', '--repo', repo, id, '--target', target]);
  assert.equal(r.code, 3, r.stderr);
  assert.deepEqual(listing(base, target), before, 'nothing outside the target changed');
  assert.equal(readFileSync(join(target, 'good.txt'), 'utf8'), 'restored');
  assert.equal(readFileSync(join(target, 'dup'), 'utf8'), 'first', 'the first of two entries with one name');
  assert.deepEqual(readdirSync(target).sort(), ['dup', 'good.txt']);
  for (const shown of ['/..', '/../..', '/../../escaped-name', '/a/b', '/.', '/dup', '/not-a-node']) {
    assert.ok(r.stderr.includes(`error: ${shown}: refused: `), `${shown} is refused by name: ${r.stderr}`);
  }
  // The other readers refuse the same entries and go on with the rest.
  const ls = await cli(['ls', '--repo', repo, id]);
  assert.equal(ls.code, 3);
  assert.deepEqual(ls.stdout.trim().split('\n'), ['/dup', '/good.txt']);
  const dump = await cli(['dump', '--repo', repo, id, '/']);
  assert.equal(dump.code, 3);
  const members = execFileSync('tar', ['-t'], { input: dump.stdoutBytes }).toString().trim().split('\n');
  assert.deepEqual(members, ['root/', 'root/dup', 'root/good.txt']);
  assert.equal((await cli(['find', '--repo', repo, 'escaped*'])).code, 3);
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21, check.stdout + check.stderr);
  assert.match(check.stdout + check.stderr, /entry "\.\." refused: the name is "\.\."/);
});

test('restore never follows a link in its way: links already in the target are replaced, not written through', async (t) => {
  const repo = await newRepo(t);
  const base = tempDir(t);
  const outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'secret');
  const target = join(base, 'target');
  mkdirSync(target);
  symlinkSync(outside, join(target, 'docs'));
  symlinkSync(join(outside, 'secret'), join(target, 'report.txt'));
  const c = await Crafter.open(repo);
  const root = await c.tree([
    await c.dir('docs', [await c.file('f', 'inside'), await c.file('secret', 'overwritten?')], { mode: 0o700 }),
    await c.file('report.txt', 'the report', { mode: 0o666 }),
    entry('lnk', 'symlink', { linkTarget: Buffer.from(outside).toString('base64') }),
  ]);
  const id = await c.snapshot(root);
  await c.close();
  const before = listing(base, target);
  await cliOk(['restore', '--repo', repo, id, '--target', target, '--existing', 'overwrite']);
  assert.deepEqual(listing(base, target), before, 'nothing outside the target changed');
  assert.ok(lstatSync(join(target, 'docs')).isDirectory());
  assert.equal(readFileSync(join(target, 'docs', 'secret'), 'utf8'), 'overwritten?');
  assert.ok(lstatSync(join(target, 'report.txt')).isFile());
  assert.equal(readlinkSync(join(target, 'lnk')), outside, 'a link is restored as a link');
});

test('a path longer than PATH_MAX restores exactly', async (t) => {
  const repo = await newRepo(t);
  const target = join(tempDir(t), 'target');
  const c = await Crafter.open(repo);
  const names = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}-${'n'.repeat(117)}`);
  let node = await c.file('leaf.txt', 'deep down', { mode: 0o600 });
  for (const name of names.toReversed()) node = await c.dir(name, [node], { mode: 0o750 });
  const id = await c.snapshot(await c.tree([node]));
  await c.close();
  await cliOk(['restore', '--repo', repo, id, '--target', target]);
  const found = execFileSync('find', [target, '-name', 'leaf.txt', '-printf', '%m %s %d\n']).toString().trim();
  assert.equal(found, '600 9 41', 'the file is there, 41 levels down, with its mode and size');
  const dirs = execFileSync('find', [target, '-mindepth', '1', '-type', 'd', '-printf', '%m\n']).toString().trim().split('\n');
  assert.deepEqual(new Set(dirs), new Set(['750']));
  assert.equal(dirs.length, 40);
});

test('a tree deeper than PATH_MAX backs up and restores exactly, by descriptor both ways', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'deep');
  mkdirSync(source);
  // 40 levels of 120-byte names: 4,840 bytes of path, past what any one system call takes. Made
  // one step at a time, each folder from the one above it held open.
  const names = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}-${'n'.repeat(117)}`);
  let fd = openSync(source, constants.O_RDONLY | constants.O_DIRECTORY);
  for (const name of names) {
    mkdirSync(`/proc/self/fd/${fd}/${name}`, { mode: 0o750 });
    const below = openSync(`/proc/self/fd/${fd}/${name}`, constants.O_RDONLY | constants.O_DIRECTORY);
    closeSync(fd);
    fd = below;
  }
  writeFileSync(`/proc/self/fd/${fd}/leaf.txt`, 'deep down', { mode: 0o600 });
  symlinkSync('leaf.txt', `/proc/self/fd/${fd}/link`);
  closeSync(fd);
  const backup = await cli(['backup', '--repo', repo, source]);
  assert.equal(backup.code, 0, backup.stderr);
  const target = join(tempDir(t), 'target');
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target]);
  const listing = (root: string): string => execFileSync('find', ['.', '-printf', '%y %m %s %l %P\n'], { cwd: root }).toString().split('\n').filter(Boolean).sort().join('\n');
  assert.equal(listing(source).split('\n').length, 43, 'the folder, 40 below it, the file and the link');
  assert.equal(listing(join(target, source)), listing(source), 'every entry, with its type, mode, size and link target');
});

test('one bad entry does not stop a restore: the rest is restored, with every folder\'s metadata', async (t) => {
  const repo = await newRepo(t);
  const target = join(tempDir(t), 'target');
  const c = await Crafter.open(repo);
  const mtimeNs = '1600000000123456789';
  const root = await c.tree([
    await c.dir('one', [await c.dir('x'.repeat(300), [await c.file('f', 'in a folder whose name is too long for any file system')]), await c.file('ok.txt', 'ok')], { mode: 0o751, mtimeNs }),
    await c.dir('two', [await c.dir('three', [await c.file('deep.txt', 'deep')], { mode: 0o705, mtimeNs })], { mode: 0o750, mtimeNs }),
  ]);
  const id = await c.snapshot(root);
  await c.close();
  const r = await cli(['restore', '--repo', repo, id, '--target', target]);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /error: \/one\/x{300}: ENAMETOOLONG/);
  assert.equal(readFileSync(join(target, 'one', 'ok.txt'), 'utf8'), 'ok');
  assert.equal(readFileSync(join(target, 'two', 'three', 'deep.txt'), 'utf8'), 'deep');
  for (const [dir, mode] of [['one', 0o751], ['two', 0o750], ['two/three', 0o705]] as const) {
    const st = statSync(join(target, dir), { bigint: true });
    assert.equal(Number(st.mode & 0o7777n), mode, dir);
    assert.equal(st.mtimeNs, BigInt(mtimeNs), dir);
  }
});

test('privileged metadata (setuid, security.* and trusted.* attributes, device nodes) comes back only when asked', { skip: !IS_ROOT && 'needs root' }, async (t) => {
  const repo = await newRepo(t);
  const base = tempDir(t);
  const attr = (name: string) => ({ name: Buffer.from(name).toString('base64'), value: Buffer.from('v').toString('base64') });
  const c = await Crafter.open(repo);
  const root = await c.tree([
    await c.file('tool', '#!/bin/sh\n', { mode: 0o4755, uid: 1234, xattrs: [attr('trusted.lifeboat'), attr('user.ordinary')] }),
    entry('disk', 'blockdev', { mode: 0o666, rdev: [7, 0] }),
  ]);
  const id = await c.snapshot(root);
  await c.close();
  const attrs = (p: string) => execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', p]).toString();
  const plain = join(base, 'plain');
  const r = await cliOk(['restore', '--repo', repo, id, '--target', plain]);
  assert.equal(statSync(join(plain, 'tool')).mode & 0o7777, 0o755);
  assert.equal(statSync(join(plain, 'tool')).uid, 1234);
  assert.doesNotMatch(attrs(join(plain, 'tool')), /trusted\.lifeboat/);
  assert.match(attrs(join(plain, 'tool')), /user\.ordinary/);
  assert.deepEqual(readdirSync(plain), ['tool']);
  assert.match(r.stderr, /\/tool: held back setuid bit, attribute trusted\.lifeboat \(--restore-privileged/);
  assert.match(r.stderr, /\/disk: held back device node/);
  const full = join(base, 'full');
  await cliOk(['restore', '--repo', repo, id, '--target', full, '--restore-privileged']);
  assert.equal(statSync(join(full, 'tool')).mode & 0o7777, 0o4755);
  assert.match(attrs(join(full, 'tool')), /trusted\.lifeboat/);
  assert.ok(lstatSync(join(full, 'disk')).isBlockDevice());
});

test('a tree that is not what its id says is damage: readers report it and stop, never loop', async (t) => {
  const repo = await newRepo(t);
  const c = await Crafter.open(repo);
  // A tree that lists itself as its own subfolder: only possible under an id that is not its MAC.
  const id = randomBytes(32);
  const loop = Buffer.from(JSON.stringify({ nodes: [entry('loop', 'dir', { subtree: id.toString('hex') })] }));
  await c.forge('tree', id, loop, 0, loop.length);
  const snapshot = await c.snapshot(await c.tree([entry('top', 'dir', { subtree: id.toString('hex') })]));
  await c.close();
  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21);
  assert.match(check.stdout + check.stderr, /does not match its id/);
  const ls = await cli(['ls', '--repo', repo, snapshot]);
  assert.equal(ls.code, 3);
  assert.match(ls.stderr, /\/top: cannot read this folder's listing: .*does not match its id/);
  const restore = await cli(['restore', '--repo', repo, snapshot, '--target', join(tempDir(t), 'r')]);
  assert.equal(restore.code, 3);
  assert.equal((await cli(['stats', '--repo', repo])).code, 15);
  assert.equal((await cli(['prune', '--repo', repo])).code, 15, 'prune deletes nothing it cannot account for');
});

test('a decompression bomb is damage, not gigabytes of memory', async (t) => {
  const repo = await newRepo(t);
  const c = await Crafter.open(repo);
  const bomb = zstdCompressSync(Buffer.alloc(256 << 20));
  const id = randomBytes(32);
  await c.forge('data', id, bomb, 1, 100_000);
  const snapshot = await c.snapshot(await c.tree([entry('bomb.bin', 'file', { size: 100_000, content: [id.toString('hex')] }), await c.file('fine.txt', 'fine')]));
  await c.close();
  const target = join(tempDir(t), 'r');
  const restore = await cli(['restore', '--repo', repo, snapshot, '--target', target]);
  assert.equal(restore.code, 3, restore.stderr);
  assert.match(restore.stderr, /\/bomb\.bin: .*(cannot be decompressed|damaged)/);
  assert.equal(readFileSync(join(target, 'fine.txt'), 'utf8'), 'fine');
  const dump = await cli(['dump', '--repo', repo, snapshot, '/bomb.bin']);
  assert.equal(dump.code, 15);
  assert.match(dump.stderr, /cannot be decompressed/);
});

test('copy does not launder damage: a refused entry or a blob that is not its id stops the copy of that snapshot', async (t) => {
  const from = await newRepo(t);
  const to = await newRepo(t);
  const c = await Crafter.open(from);
  const refused = await c.snapshot(await c.tree([await c.file('..', 'x'), await c.file('fine.txt', 'fine')]));
  await c.close();
  const env = { LIFEBOAT_FROM_PASSWORD: 'correct horse' };
  const r = await cli(['copy', '--from-repo', from, '--repo', to, refused], { env });
  assert.equal(r.code, 15, r.stderr);
  assert.match(r.stderr, /has an entry that cannot be trusted \("\.\.": the name is "\.\."\); the snapshot is not copied/);
  assert.match((await cliOk(['snapshots', '--repo', to])).stdout, /0 snapshots|no snapshots/i);
});
