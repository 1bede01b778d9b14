// forget: the same policies on the same snapshot times keep the same snapshots as Debian's restic
// (boundary cases: several snapshots a day, ISO weeks across the new year, month ends, a time
// zone 5:30 east of UTC); the refusal to empty a group; and forget by id.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Repository } from '../src/repo/repository.ts';
import { LocalBackend } from '../src/storage/local.ts';
import { cli, cliOk, newRepo, tempDir } from './helpers.ts';
import { have } from './services/daemon.ts';

const hasRestic = have('restic');
const TZ = 'Asia/Kolkata';
const TIMES = [
  '2024-06-15 08:00:00', '2024-11-30 23:59:00', '2024-12-01 00:01:00', '2024-12-28 10:00:00', '2024-12-29 23:00:00',
  '2024-12-30 00:30:00', '2024-12-31 12:00:00', '2025-01-01 00:10:00', '2025-01-01 12:00:00', '2025-01-01 23:50:00',
  '2025-01-05 09:00:00', '2025-01-06 09:00:00', '2025-01-31 23:59:59', '2025-02-01 00:00:01', '2025-02-28 18:00:00',
  '2025-03-01 05:29:00', '2025-03-01 05:31:00', '2025-06-30 22:00:00', '2025-12-28 10:00:00', '2025-12-29 10:00:00',
  '2025-12-31 23:00:00', '2026-01-01 01:00:00', '2026-01-01 01:20:00', '2026-01-01 02:00:00', '2026-01-03 04:00:00',
];
const TAGGED = '2025-02-28 18:00:00';
const POLICIES = [
  ['--keep-last', '3'], ['--keep-hourly', '5'], ['--keep-daily', '6'], ['--keep-weekly', '5'], ['--keep-monthly', '4'], ['--keep-yearly', '3'],
  ['--keep-daily', '3', '--keep-weekly', '3', '--keep-monthly', '3', '--keep-yearly', '3'],
  ['--keep-within', '10d'], ['--keep-within', '1m2d'], ['--keep-within', '1y'],
  ['--keep-within-hourly', '2d', '--keep-within-daily', '1m'], ['--keep-within-weekly', '1y'], ['--keep-within-monthly', '1y6m', '--keep-within-yearly', '5y'],
  ['--keep-last', '1', '--keep-tag', 'special'], ['--keep-weekly', '2', '--keep-within', '3d', '--keep-tag', 'special'],
];

test('forget keeps exactly what restic keeps for the same snapshot times and policies', { skip: !hasRestic && 'restic not installed' }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'data.txt');
  writeFileSync(file, 'same content every time\n');
  const env = { ...process.env, TZ, RESTIC_PASSWORD: 'x', RESTIC_REPOSITORY: join(dir, 'restic'), RESTIC_CACHE_DIR: join(dir, 'cache') };
  execFileSync('restic', ['init', '-q'], { env });
  for (const time of TIMES) execFileSync('restic', ['backup', '-q', '--host', 'h', '--time', time, ...(time === TAGGED ? ['--tag', 'special'] : []), file], { env });

  // Lifeboat: one real backup with --time, the others as copies of its snapshot with their own times.
  const repo = await newRepo(t);
  await cliOk(['backup', '--host', 'h', '--time', TIMES[0], file], { env: { TZ, LIFEBOAT_REPOSITORY: repo } });
  const opened = await Repository.open(new LocalBackend(repo), 'correct horse', { loadIndex: false });
  const [first] = (await opened.snapshots.list()).snapshots;
  const { id: _id, ...record } = first;
  for (const time of TIMES.slice(1)) {
    const local = execFileSync('date', ['-d', time, '+%Y-%m-%dT%H:%M:%S%:z'], { env: { TZ } }).toString().trim();
    await opened.snapshots.save({ ...record, time: local, tags: time === TAGGED ? ['special'] : [] });
  }
  await opened.close();

  const keptTimes = (json: Array<{ keep: Array<{ time: string }> }>) => json.flatMap((g) => g.keep.map((s) => Date.parse(s.time))).sort();
  for (const policy of POLICIES) {
    const restic = JSON.parse(execFileSync('restic', ['forget', '--dry-run', '--json', ...policy], { env }).toString());
    const ours = JSON.parse((await cliOk(['forget', '--dry-run', '--json', '--repo', repo, ...policy], { env: { TZ } })).stdout);
    assert.deepEqual(keptTimes(ours), keptTimes(restic), `policy ${policy.join(' ')}`);
    assert.ok(keptTimes(ours).length > 0);
  }
});

test('forget: a policy that empties a group is refused without --allow-empty; forget by id removes one snapshot', async (t) => {
  const repo = await newRepo(t);
  const file = join(tempDir(t), 'f.txt');
  writeFileSync(file, 'x');
  for (const time of ['2026-01-01 10:00', '2026-01-02 10:00', '2026-01-03 10:00']) await cliOk(['backup', '--repo', repo, '--time', time, file]);
  const refused = await cli(['forget', '--repo', repo, '--keep-tag', 'none-has-it']);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /would remove every snapshot.*--allow-empty/s);
  const listed = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout);
  assert.equal(listed.length, 3, 'nothing was removed');
  await cliOk(['forget', '--repo', repo, listed[1].id.slice(0, 8)]);
  const after = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout);
  assert.deepEqual(after.map((s: { id: string }) => s.id), [listed[0].id, listed[2].id]);
  const dry = JSON.parse((await cliOk(['forget', '--repo', repo, '--keep-last', '1', '--dry-run', '--json'])).stdout);
  assert.equal(dry[0].remove.length, 1);
  assert.deepEqual(dry[0].reasons[0].matches, ['last snapshot']);
  await cliOk(['forget', '--repo', repo, '--keep-tag', 'none-has-it', '--allow-empty']);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout).length, 0);
});
