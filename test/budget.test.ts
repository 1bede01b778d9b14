// One budget of computing threads for everything a process runs: a backup, a check --read-data
// and a restore at once, in one process with a budget of one thread, all finish and are right,
// and never more than one computing job ran at a time.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupSource } from '../src/engine/backup.ts';
import { restoreSnapshot } from '../src/engine/restore.ts';
import { processBudget } from '../src/lib/budget.ts';
import { checkRepository } from '../src/repo/maintenance.ts';
import { Repository } from '../src/repo/repository.ts';
import { filesSource } from '../src/sources/files-source.ts';
import { FilesTarget } from '../src/sources/files-target.ts';
import { LocalBackend } from '../src/storage/local.ts';
import { cli, cliOk, newRepo, tempDir } from './helpers.ts';
import { PASSWORD } from './hostile-repo.ts';

process.env.LIFEBOAT_THREADS = '1'; // before the budget is made, on first use

test('a backup, a check and a restore at once share one budget of threads', async (t) => {
  const repoDir = await newRepo(t);
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  const files = Array.from({ length: 40 }, (_, i) => [`f${i}.bin`, randomBytes(i % 4 === 0 ? 3 << 20 : 50_000)] as const);
  for (const [name, data] of files) writeFileSync(join(source, name), data);
  await cliOk(['backup', '--repo', repoDir, source]);
  for (let i = 0; i < 10; i++) writeFileSync(join(source, `new${i}.bin`), randomBytes(2 << 20));

  // Each operation opens the repository itself, as a server's jobs will: check reloads the index
  // it loaded, which must not be the one a backup is adding to.
  const open = async () => {
    const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD, { lock: { exclusive: false, purpose: 'test' } });
    t.after(() => repo.close());
    return repo;
  };
  const [forBackup, forCheck, forRestore] = [await open(), await open(), await open()];
  const [first] = (await forRestore.snapshots.list()).snapshots;
  const target = tempDir(t);
  const [backup, check, restore] = await Promise.all([
    backupSource(forBackup, await filesSource([source]), {}),
    checkRepository(forCheck, { readData: { kind: 'all' } }),
    restoreSnapshot(forRestore, first, new FilesTarget({ folder: target })),
  ]);
  assert.equal(backup.summary.filesNew, 10);
  assert.deepEqual(check.problems, []);
  assert.equal(restore.files, 40);
  for (const [name, data] of files) assert.deepEqual(readFileSync(join(target, source, name)), data);
  assert.equal(processBudget().threadCount, 1);
  assert.equal(processBudget().peakThreads, 1, 'never more than the budget');
});

test('a LIFEBOAT_THREADS that is not a number of threads is a usage error', async () => {
  const r = await cli(['check', '--repo', '/nonexistent'], { env: { LIFEBOAT_THREADS: 'lots' } });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /LIFEBOAT_THREADS must be a whole number from 1 to 256, not "lots"/);
});
