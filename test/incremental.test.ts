import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliOk, newRepo, tempDir } from './helpers.ts';

function makeTree(root: string, files: number): void {
  for (let i = 0; i < files; i++) {
    mkdirSync(join(root, `d${i % 5}`), { recursive: true });
    writeFileSync(join(root, `d${i % 5}`, `f${i}.txt`), `file ${i}\n`.repeat(200 + i));
  }
}

test('a second backup reads no unchanged file, and reads exactly the changed ones', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source, 40);
  const first = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.equal(first.filesNew, 40);

  const second = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.deepEqual([second.filesNew, second.filesChanged, second.filesUnchanged, second.bytesRead, second.bytesAdded], [0, 0, 40, 0, 0]);
  assert.equal(second.dirsUnchanged, 6, 'the five subfolders and the folder itself');

  appendFileSync(join(source, 'd1', 'f1.txt'), 'one more line\n');
  writeFileSync(join(source, 'd2', 'new.txt'), 'brand new');
  const third = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  assert.deepEqual([third.filesNew, third.filesChanged, third.filesUnchanged], [1, 1, 39]);
  assert.equal(third.bytesRead, readFileSync(join(source, 'd1', 'f1.txt')).length + 'brand new'.length);
});

test('unchanged files are never opened: the kernel sees no open() of them (strace)', async (t) => {
  const strace = spawnSync('strace', ['-V']);
  assert.equal(strace.status, 0, 'strace is needed for this test (.ci/run installs it)');
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source, 20);
  await cliOk(['backup', '--repo', repo, source]);
  writeFileSync(join(source, 'd0', 'f0.txt'), 'changed content');
  const log = join(tempDir(t), 'strace.log');
  await cliOk(['backup', '--repo', repo, source], { wrapper: ['strace', '-f', '-qq', '-e', 'trace=open,openat', '-o', log] });
  const opened = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes(source) && /O_RDONLY/.test(l) && !l.includes('O_DIRECTORY'));
  assert.ok(opened.some((l) => l.includes('d0/f0.txt')), 'the changed file was read');
  assert.deepEqual(opened.filter((l) => !l.includes('d0/f0.txt')), [], 'no unchanged file was opened');
});

test('--force reads everything again; --parent picks the snapshot to compare with', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  makeTree(source, 10);
  const first = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  const forced = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--force', source])).stdout);
  assert.equal(forced.filesUnchanged, 0);
  assert.ok(forced.bytesRead > 0);
  assert.equal(forced.bytesAdded, 0, 'nothing new is stored: every chunk deduplicates');
  const withParent = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--parent', first.snapshotId.slice(0, 10), source])).stdout);
  assert.equal(withParent.filesUnchanged, 10);
});

test('excludes: patterns, exclude files, marker files, CACHEDIR.TAG and size limits', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  for (const d of ['keep', 'tmpdir', 'marked', 'cache', 'node_modules/pkg']) mkdirSync(join(source, d), { recursive: true });
  writeFileSync(join(source, 'keep', 'a.txt'), 'a');
  writeFileSync(join(source, 'keep', 'b.tmp'), 'b');
  writeFileSync(join(source, 'keep', 'big.bin'), Buffer.alloc(200_000, 1));
  writeFileSync(join(source, 'tmpdir', 'x'), 'x');
  writeFileSync(join(source, 'marked', '.nobackup'), '');
  writeFileSync(join(source, 'marked', 'secret'), 's');
  writeFileSync(join(source, 'cache', 'CACHEDIR.TAG'), 'Signature: 8a477f597d28d172789f06886806bc55\n');
  writeFileSync(join(source, 'cache', 'blob'), 'cached');
  writeFileSync(join(source, 'node_modules', 'pkg', 'index.js'), '');
  const excludeFile = join(tempDir(t), 'excludes');
  writeFileSync(excludeFile, '# comment\nnode_modules/\n');
  await cliOk(['backup', '--repo', repo, source, '--exclude', '*.tmp', '--exclude', 'tmpdir/', '--exclude-file', excludeFile,
    '--exclude-if-present', '.nobackup', '--exclude-caches', '--exclude-larger-than', '100K']);
  const listed = (await cliOk(['ls', '--repo', repo, 'latest', source])).stdout.trim().split('\n').map((p) => p.slice(source.length));
  assert.deepEqual(listed.sort(), ['/cache', '/cache/CACHEDIR.TAG', '/keep', '/keep/a.txt', '/marked'].sort());
});
