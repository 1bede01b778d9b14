// The folder cache (src/engine/folder-cache.ts) must never change what a snapshot holds: each
// backup that uses it is compared with a backup of the same tree against the same parent that
// compares every folder in full (--no-cache).
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, IS_ROOT, newRepo, tempDir } from './helpers.ts';

const COUNTERS = ['filesNew', 'filesChanged', 'filesUnchanged', 'dirsNew', 'dirsChanged', 'dirsUnchanged', 'totalFiles', 'totalBytes', 'bytesRead'] as const;

function makeTree(root: string): void {
  for (const dir of ['a/b/c', 'a/b2', 'x/y/z', 'empty']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'top.txt'), 'top\n');
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(root, 'a/b/c', `f${i}`), `c ${i}\n`.repeat(100 * i + 1));
    writeFileSync(join(root, 'x/y/z', `g${i}`), `z ${i}\n`.repeat(50 * i + 1));
  }
  writeFileSync(join(root, 'a/b2/h'), 'h\n');
  symlinkSync('../top.txt', join(root, 'x/link'));
}

async function backup(repo: string, source: string, extra: string[]): Promise<Record<string, unknown> & { snapshotId: string; foldersFromCache: number }> {
  return JSON.parse((await cliOk(['backup', '--repo', repo, '--json', ...extra, source])).stdout);
}

/**
 * The tree of the backed-up folder itself, not the snapshot's root: the root also holds the
 * folders above it (/tmp), which other tests running meanwhile change between two backups.
 */
async function treeOf(repo: string, id: string, source: string): Promise<string> {
  let tree: string = JSON.parse((await cliOk(['cat', 'snapshot', id, '--repo', repo])).stdout).tree;
  for (const name of source.split('/').filter(Boolean)) {
    const { nodes } = JSON.parse((await cliOk(['cat', 'tree', tree, '--repo', repo])).stdout) as { nodes: Array<{ name: string; subtree?: string }> };
    tree = nodes.find((n) => n.name === name)!.subtree!;
  }
  return tree;
}

test('backups using the folder cache hold exactly what backups comparing every folder hold', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source);
  let parent = (await backup(repo, source, [])).snapshotId;
  const changes: Array<[string, () => void]> = [
    ['nothing', () => {}],
    ['a file deep down grows', () => appendFileSync(join(source, 'a/b/c/f1'), 'more\n')],
    ['a new file, and a folder removed', () => {
      writeFileSync(join(source, 'x/y/new'), 'new\n');
      rmSync(join(source, 'a/b2'), { recursive: true });
    }],
    ['a folder\'s mode, a file renamed', () => {
      chmodSync(join(source, 'a/b'), 0o750);
      renameSync(join(source, 'x/y/z/g1'), join(source, 'x/y/z/g1-renamed'));
    }],
    ['a file rewritten with its old mtime (only ctime tells)', () => {
      const file = join(source, 'x/y/z/g2');
      const { mtime } = statSync(file);
      writeFileSync(file, 'Z 2\n'.repeat(51));
      utimesSync(file, mtime, mtime);
    }],
    ['a new folder deep down', () => mkdirSync(join(source, 'a/b/c/d/e'), { recursive: true })],
  ];
  for (const [what, change] of changes) {
    change();
    const cached = await backup(repo, source, ['--parent', parent]);
    const full = await backup(repo, source, ['--parent', parent, '--no-cache']);
    assert.equal(full.foldersFromCache, 0, what);
    assert.ok(cached.foldersFromCache > 0, `${what}: the cache was used`);
    assert.equal(await treeOf(repo, cached.snapshotId, source), await treeOf(repo, full.snapshotId, source), `${what}: same snapshot`);
    for (const c of COUNTERS) assert.equal(cached[c], full[c], `${what}: ${c}`);
    parent = cached.snapshotId;
  }
  const last = await backup(repo, source, ['--parent', parent]);
  assert.equal(last.foldersFromCache, 10, 'every folder: the backed-up one and the nine below it');
  assert.equal(last.dirsUnchanged, 10);
});

test('the folder cache is not used for another parent, after the index is rewritten, or with other options', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source);
  const first = await backup(repo, source, []);
  const second = await backup(repo, source, []);
  assert.ok(second.foldersFromCache > 0);
  const third = await backup(repo, source, ['--parent', first.snapshotId]);
  assert.equal(third.foldersFromCache, 0, 'the cache describes the second snapshot, not the first');
  assert.ok((await backup(repo, source, [])).foldersFromCache > 0, 'written again for the third');
  await cliOk(['repair', 'index', '--repo', repo]);
  const afterRepair = await backup(repo, source, []);
  assert.equal(afterRepair.foldersFromCache, 0, 'the index files it was written beside are gone');
  assert.equal(afterRepair.filesUnchanged, 12);
  const excluding = await backup(repo, source, ['--exclude', 'a/b2']);
  assert.equal(excluding.foldersFromCache, 0, 'other options, another cache');
  const cached = await backup(repo, source, ['--exclude', 'a/b2']);
  assert.ok(cached.foldersFromCache > 0);
  const full = await backup(repo, source, ['--exclude', 'a/b2', '--no-cache', '--parent', excluding.snapshotId]);
  assert.equal(await treeOf(repo, cached.snapshotId, source), await treeOf(repo, full.snapshotId, source), 'an excluded subfolder stays out');
});

test('a damaged folder cache is ignored; cache files unused for 60 days are removed', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source);
  const home = tempDir(t);
  const env = { XDG_CACHE_HOME: home };
  const run = async (): Promise<{ foldersFromCache: number; filesUnchanged: number }> => JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source], { env })).stdout);
  await run();
  const dir = join(home, 'lifeboat', 'folders');
  const [file] = readdirSync(dir);
  assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600);
  const old = join(dir, 'f'.repeat(64));
  const recent = join(dir, 'e'.repeat(64));
  writeFileSync(old, 'left by a repository long gone');
  writeFileSync(recent, 'in use elsewhere');
  const longAgo = new Date(Date.now() - 61 * 86_400_000);
  utimesSync(old, longAgo, longAgo);
  truncateSync(join(dir, file), statSync(join(dir, file)).size - 5);
  const afterDamage = await run();
  assert.equal(afterDamage.foldersFromCache, 0);
  assert.equal(afterDamage.filesUnchanged, 12);
  assert.deepEqual(readdirSync(dir).sort(), [file, recent.slice(dir.length + 1)].sort());
  assert.ok((await run()).foldersFromCache > 0, 'written whole again');
});

test('a folder with an unreadable file is not taken from the folder cache: the file is tried again', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source);
  writeFileSync(join(source, 'a/b/secret.txt'), 'unreadable');
  chmodSync(join(source, 'a/b/secret.txt'), 0o000);
  // As root every file is readable: drop the capabilities that let root ignore permissions.
  const wrapper = IS_ROOT ? ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];
  const run = async (): Promise<{ foldersFromCache: number; errors: unknown[]; incomplete: boolean }> => {
    const r = await cli(['backup', '--repo', repo, '--json', source], { wrapper });
    assert.equal(r.code, 3, r.stderr);
    return JSON.parse(r.stdout);
  };
  await run();
  const second = await run();
  assert.equal(second.incomplete, true);
  assert.deepEqual(second.errors, [{ path: `${source}/a/b/secret.txt`, code: 'IO', message: 'permission denied' }]);
  assert.equal(second.foldersFromCache, 6, 'all nine but the folder of the unreadable file and its two ancestors');
});
