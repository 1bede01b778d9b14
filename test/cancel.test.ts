// Cancelling in the middle, in-process, as a server that runs many jobs will: a backup, a restore,
// a prune, a check, a copy and a repair each stop when their signal is aborted, reject with its reason, and leave a
// repository that checks clean; a Ctrl-C of the CLI does the same and releases the lock.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupSource } from '../src/engine/backup.ts';
import { filesSource } from '../src/sources/files-source.ts';
import { checkRepository, prunePacks, repairIndex } from '../src/repo/maintenance.ts';
import { copySnapshots } from '../src/engine/copy.ts';
import { restoreSnapshot } from '../src/engine/restore.ts';
import { FilesTarget } from '../src/sources/files-target.ts';
import { Repository } from '../src/repo/repository.ts';
import { LocalBackend } from '../src/storage/local.ts';
import { cliOk, MAIN, newRepo, tempDir } from './helpers.ts';
import { PASSWORD } from './hostile-repo.ts';

function source(t: Parameters<typeof tempDir>[0], files: number): string {
  const dir = join(tempDir(t), 'src');
  for (let d = 0; d < 4; d++) mkdirSync(join(dir, `d${d}`), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(dir, `d${i % 4}`, `f${i}.bin`), randomBytes(200_000));
  return dir;
}

const open = (repo: string) => Repository.open(new LocalBackend(repo), PASSWORD, { lock: { exclusive: false, purpose: 'test' } });
const stopped = { name: 'AbortError' };

test('a backup, a restore and a prune stop in the middle when their signal is aborted, and the repository checks clean', async (t) => {
  const repo = await newRepo(t);
  const src = source(t, 60);
  await cliOk(['backup', '--repo', repo, src]);
  for (let i = 0; i < 60; i += 2) writeFileSync(join(src, `d${i % 4}`, `f${i}.bin`), randomBytes(200_000));

  const cancelAfter = (n: number) => {
    const controller = new AbortController();
    let seen = 0;
    return { signal: controller.signal, tick: () => ++seen === n && controller.abort() };
  };
  let r = await open(repo);
  const backup = cancelAfter(10);
  await assert.rejects(backupSource(r, await filesSource([src]), { signal: backup.signal, events: { progress: backup.tick } }), stopped);
  await r.close();
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout).length, 1, 'no snapshot from the cancelled backup');
  await cliOk(['check', '--repo', repo, '--read-data']);

  r = await open(repo);
  const restore = cancelAfter(10);
  const [snapshot] = (await r.snapshots.list()).snapshots;
  const target = tempDir(t);
  await assert.rejects(restoreSnapshot(r, snapshot, new FilesTarget({ folder: target }), { signal: restore.signal, events: { progress: restore.tick } }), stopped);
  await r.close();
  const restored = readdirSync(target, { recursive: true }).filter((p) => String(p).endsWith('.bin')).length;
  assert.ok(restored < 60, `it stopped before the end (${restored} of 60 files)`);

  await cliOk(['backup', '--repo', repo, src]);
  await cliOk(['forget', '--repo', repo, '--keep-last', '1']);
  r = await Repository.open(new LocalBackend(repo), PASSWORD, { lock: { exclusive: true, purpose: 'prune' } });
  // Stopped as it starts deleting: the new index is written, the old index files are gone, the packs not yet.
  const prune = new AbortController();
  const onPhase = (name: string) => name === 'deleting' && prune.abort();
  await assert.rejects(prunePacks(r, { maxUnusedPercent: 0, repackSmall: false, dryRun: false, signal: prune.signal, onPhase }), stopped);
  await r.close();
  await cliOk(['check', '--repo', repo, '--read-data']);
  const finished = JSON.parse((await cliOk(['prune', '--repo', repo, '--json', '--max-unused', '0%'])).stdout);
  assert.ok(finished.packsUnindexed > 0, 'the next prune deletes the packs the stopped one had unlisted');
  const after = JSON.parse((await cliOk(['prune', '--repo', repo, '--json', '--dry-run', '--max-unused', '0%'])).stdout);
  assert.deepEqual([after.packsUnindexed, after.packsDeleted, after.packsRepacked], [0, 0, 0]);
  await cliOk(['check', '--repo', repo, '--read-data']);
});

test('check, copy and repair index stop when their signal is aborted; the copy and the repair are finished by the next run, and the repositories check clean', async (t) => {
  const repo = await newRepo(t);
  const src = source(t, 24);
  await cliOk(['backup', '--repo', repo, src]);
  for (let i = 0; i < 5; i++) { // a few packs more, for check to be stopped among them
    writeFileSync(join(src, 'd0', `new${i}.bin`), randomBytes(300_000));
    await cliOk(['backup', '--repo', repo, src]);
  }

  let r = await open(repo);
  const check = new AbortController();
  let packsRead = 0;
  const onProgress = () => ++packsRead === 1 && check.abort();
  await assert.rejects(checkRepository(r, { readData: { kind: 'all' }, signal: check.signal, onProgress }), stopped);
  const packs = readdirSync(join(repo, 'data'), { recursive: true }).filter((p) => /[0-9a-f]{64}$/.test(String(p))).length;
  assert.ok(packsRead < packs, `it stopped before reading every pack (${packsRead} of ${packs})`);

  const destination = await newRepo(t);
  const to = await open(destination);
  const copy = new AbortController();
  const onSnapshot = () => copy.abort();
  await assert.rejects(copySnapshots(r, to, { signal: copy.signal, onSnapshot }), stopped);
  await to.close();
  await r.close();
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', destination, '--json'])).stdout).length, 1, 'stopped after the first snapshot');
  await cliOk(['check', '--repo', destination, '--read-data']);
  const rest = JSON.parse((await cliOk(['copy', '--repo', destination, '--from-repo', repo, '--json'], { env: { LIFEBOAT_FROM_PASSWORD: PASSWORD } })).stdout);
  assert.deepEqual([rest.copied.length, rest.skipped.length], [5, 1]);
  r = await open(repo);
  assert.deepEqual((await checkRepository(r, { readData: { kind: 'all' } })).problems, []);
  await r.close();

  // repair index, stopped after its first pack: the old index files are still there, and the
  // next repair finishes the job.
  r = await Repository.open(new LocalBackend(repo), PASSWORD, { lock: { exclusive: true, purpose: 'repair' } });
  const repair = new AbortController();
  await assert.rejects(repairIndex(r, { readAllPacks: false, signal: repair.signal, onProgress: () => repair.abort() }), stopped);
  await r.close();
  await cliOk(['check', '--repo', repo, '--read-data']);
  await cliOk(['repair', 'index', '--repo', repo]);
  await cliOk(['check', '--repo', repo, '--read-data']);
});

test('Ctrl-C of a backup of files stops it cleanly: exit 130, its lock released, no snapshot', async (t) => {
  const repo = await newRepo(t);
  const src = source(t, 60);
  // Slowed down so that Ctrl-C comes in the middle; the pack being uploaded is finished first.
  const child = spawn(process.execPath, [MAIN, 'backup', '--repo', repo, '--limit-upload', '2048', src], {
    env: { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: PASSWORD },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const locks = () => readdirSync(join(repo, 'locks')).filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (let i = 0; i < 500 && locks().length === 0; i++) await sleep(20);
  await sleep(500);
  child.kill('SIGINT');
  const asked = performance.now();
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.diagnostic(`stopped ${Math.round(performance.now() - asked)} ms after Ctrl-C`);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping/);
  assert.deepEqual(locks(), [], 'the lock is released, not left for 30 minutes');
  await cliOk(['check', '--repo', repo, '--read-data']);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout).length, 0);
});
