// Files that cannot be read or written. As root every file is readable, so these tests drop the
// capabilities that let root ignore permissions (setpriv, from util-linux): the kernel then
// refuses for real, with EACCES.
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, closeSync, mkdirSync, openSync, ftruncateSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, IS_ROOT, newRepo, tempDir } from './helpers.ts';

const WITHOUT_DAC = IS_ROOT ? ['setpriv', '--inh-caps=-dac_override,-dac_read_search', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];

test('a file that cannot be read is reported with its path and reason; the backup goes on and is marked incomplete (exit 3)', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'locked-dir'), { recursive: true });
  writeFileSync(join(source, 'ok.txt'), 'readable');
  writeFileSync(join(source, 'secret.txt'), 'unreadable');
  writeFileSync(join(source, 'locked-dir', 'inside.txt'), 'unreachable');
  chmodSync(join(source, 'secret.txt'), 0o000);
  chmodSync(join(source, 'locked-dir'), 0o000);
  const r = await cli(['backup', '--repo', repo, '--json', source], { wrapper: WITHOUT_DAC });
  chmodSync(join(source, 'locked-dir'), 0o755); // so the temporary directory can be removed
  assert.equal(r.code, 3, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.incomplete, true);
  // Each problem as data: where, a stable code, and the reason in words.
  const errors = summary.errors as Array<{ path: string; code: string; message: string }>;
  assert.deepEqual(errors.filter((e) => e.path === `${source}/secret.txt`), [{ path: `${source}/secret.txt`, code: 'IO', message: 'permission denied' }]);
  assert.ok(errors.some((e) => e.path === `${source}/locked-dir` && e.message === 'permission denied'), JSON.stringify(errors));
  const snapshots = JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout);
  assert.equal(snapshots.length, 1);
  assert.equal(snapshots[0].incomplete, true);
  assert.equal((await cliOk(['dump', '--repo', repo, 'latest', `${source}/ok.txt`])).stdout, 'readable');
});

test('a file that cannot be written on restore is reported; the rest is restored (exit 3)', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'blocked'), { recursive: true });
  writeFileSync(join(source, 'a.txt'), 'first');
  writeFileSync(join(source, 'blocked', 'b.txt'), 'second');
  writeFileSync(join(source, 'c.txt'), 'third');
  await cliOk(['backup', '--repo', repo, source]);
  const target = tempDir(t);
  mkdirSync(join(target, source, 'blocked'), { recursive: true });
  chmodSync(join(target, source, 'blocked'), 0o555);
  const r = await cli(['restore', '--repo', repo, 'latest', '--target', target], { wrapper: WITHOUT_DAC });
  chmodSync(join(target, source, 'blocked'), 0o755);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /blocked\/b\.txt: permission denied/);
  assert.match(r.stdout, /PARTIAL restore: 1 entries failed/);
  assert.equal(readFileSync(join(target, source, 'a.txt'), 'utf8'), 'first');
  assert.equal(readFileSync(join(target, source, 'c.txt'), 'utf8'), 'third');
});

test('a file that changes while it is read is detected, reported and marked', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(source);
  const growing = join(source, 'growing.log');
  // 768 MiB of holes: reading it takes long enough for the appends below to land mid-read.
  const fd = openSync(growing, 'w');
  ftruncateSync(fd, 768 * 1024 ** 2);
  closeSync(fd);
  const appender = setInterval(() => appendFileSync(growing, 'another line\n'), 20);
  t.after(() => clearInterval(appender));
  const r = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', source])).stdout);
  clearInterval(appender);
  const changed = { path: growing, code: 'CHANGED', message: 'changed while it was read; the stored copy may be inconsistent' };
  assert.ok(r.warnings.some((w: unknown) => JSON.stringify(w) === JSON.stringify(changed)), JSON.stringify(r.warnings));
  const node = JSON.parse((await cliOk(['ls', '--repo', repo, 'latest', growing, '--json'])).stdout);
  assert.equal(node.path, growing);
});
