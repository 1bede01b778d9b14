// Crash safety of prune and backup, many times over: kill -9 at random moments until each was
// killed LIFEBOAT_KILLS times (6 in the everyday run; .ci/run asks for 30). After every kill:
// check --read-data passes (leftovers allowed), a snapshot that was complete before restores
// exactly, and the next run completes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, MAIN, newRepo, tempDir } from './helpers.ts';

const KILLS = Number(process.env.LIFEBOAT_KILLS ?? 6);
const ENV = { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' };

/**
 * Where kills land: one in six during start-up (opening, locking, loading the index), drawn from
 * the time until the first progress output; the rest after that, drawn uniformly from the length
 * of the run's working part, which is learnt from the runs that finish (the first guess is long,
 * so early runs finish and teach it). Runs show progress (--progress), so the phase each kill
 * landed in is recorded: prune's last phase line, backup's last percentage.
 */
class Killer {
  #workMs = 3000;
  #startupMs = 500;
  readonly phases: Record<string, number> = {};

  async run(args: string[]): Promise<boolean> {
    const started = performance.now();
    const child = spawn(process.execPath, [MAIN, ...args, '--progress'], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    let workStarted = 0;
    const kill = () => child.kill('SIGKILL');
    const inStartup = randomInt(6) === 0;
    if (inStartup) timer = setTimeout(kill, randomInt(0, 100) * this.#startupMs / 100);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      if (workStarted) return;
      workStarted = performance.now();
      this.#startupMs = (this.#startupMs + (workStarted - started)) / 2;
      if (!inStartup) timer = setTimeout(kill, randomInt(0, 100) * this.#workMs / 100);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    if (code === 0) {
      if (workStarted) this.#workMs = (this.#workMs + (performance.now() - workStarted)) / 2;
    } else {
      assert.equal(code, null, `${args[0]} failed by itself (exit ${code}): ${stderr}`);
      const phase = phaseOf(stderr);
      this.phases[phase] = (this.phases[phase] ?? 0) + 1;
    }
    return code === 0;
  }
}

/** Where a run was when it was killed, from its progress output. */
function phaseOf(stderr: string): string {
  const lines = stderr.replace(/\x1b\[K/g, '').split(/[\r\n]+/).filter((l) => l.trim());
  const phase = lines.filter((l) => l.endsWith('…')).pop();
  if (phase) return phase.replace(/\d+ pack\(s\)/, 'N pack(s)').replace(/…$/, '');
  const pct = lines.map((l) => /\((\d+(?:\.\d+)?)%\)/.exec(l)?.[1]).filter((x) => x !== undefined).pop();
  if (pct === undefined) return 'start-up (before any progress)';
  const p = Number(pct);
  return p >= 100 ? 'all data read (index, snapshot)' : `reading ${Math.floor(p / 25) * 25}-${Math.floor(p / 25) * 25 + 25}%`;
}

test(`kill -9 of backup and of prune, ${KILLS} kills each: check passes, finished snapshots restore exactly, the next run completes`, async (t) => {
  const repo = await newRepo(t);
  const src = join(tempDir(t), 'data');
  mkdirSync(src);
  for (let i = 0; i < 8; i++) writeFileSync(join(src, `f${i}.bin`), randomBytes(1 << 20));
  await cliOk(['backup', '--repo', repo, src]);
  /** Snapshot id → content of f0 and f7 when it was taken. */
  const expected = new Map<string, Buffer[]>();
  const remember = async () => {
    const snaps = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout) as Array<{ id: string }>;
    const latest = snaps[snaps.length - 1].id;
    if (!expected.has(latest)) expected.set(latest, [readFileSync(join(src, 'f0.bin')), readFileSync(join(src, 'f7.bin'))]);
  };
  await remember();
  const verify = async () => {
    await cliOk(['check', '--repo', repo, '--read-data']);
    const snaps = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout) as Array<{ id: string }>;
    const present = new Set(snaps.map((s) => s.id));
    const known = [...expected.keys()].filter((id) => present.has(id));
    const id = known[randomInt(known.length)];
    const target = tempDir(t);
    await cliOk(['restore', '--repo', repo, id, '--target', target]);
    assert.deepEqual([readFileSync(join(target, src, 'f0.bin')), readFileSync(join(target, src, 'f7.bin'))], expected.get(id), `snapshot ${id.slice(0, 8)} restores exactly`);
  };
  const backups = new Killer();
  const prunes = new Killer();
  const outcomes = { backup: { killed: 0, finished: 0 }, prune: { killed: 0, finished: 0 } };
  // Rounds go on until each command was killed KILLS times (a run the kill came too late for
  // finishes, and only teaches the Killer how long runs take).
  for (let round = 0; (outcomes.backup.killed < KILLS || outcomes.prune.killed < KILLS) && round < KILLS * 4; round++) {
    // Change some data, back up (killed at a random moment), forget all but the newest two, prune (killed too).
    writeFileSync(join(src, `f${randomInt(8)}.bin`), randomBytes(1 << 20));
    if (outcomes.backup.killed < KILLS) {
      const b = await backups.run(['backup', '--repo', repo, src]);
      outcomes.backup[b ? 'finished' : 'killed']++;
      // A kill after the snapshot was written still made a snapshot of these files (they do not
      // change during the run): it is remembered like a finished one.
      await remember();
      if (!b) await verify();
    } else {
      await cliOk(['backup', '--repo', repo, src]);
      await remember();
    }
    await cliOk(['forget', '--repo', repo, '--keep-last', '2']);
    if (outcomes.prune.killed < KILLS) {
      // Slowed down (rate limits) so that the kills reach the later phases too.
      const p = await prunes.run(['prune', '--repo', repo, '--max-unused', '0%', '--limit-download', '8192', '--limit-upload', '8192']);
      outcomes.prune[p ? 'finished' : 'killed']++;
      if (!p) await verify();
    }
  }
  // The next runs complete and leave nothing behind.
  await cliOk(['backup', '--repo', repo, src]);
  await cliOk(['prune', '--repo', repo, '--max-unused', '0%']);
  const last = JSON.parse((await cliOk(['prune', '--repo', repo, '--dry-run', '--json', '--max-unused', '0%'])).stdout);
  assert.deepEqual([last.packsUnindexed, last.packsDeleted, last.packsRepacked], [0, 0, 0]);
  await cliOk(['check', '--repo', repo, '--read-data']);
  t.diagnostic(`kills: ${JSON.stringify(outcomes)}`);
  t.diagnostic(`backup killed in: ${JSON.stringify(backups.phases)}`);
  t.diagnostic(`prune killed in: ${JSON.stringify(prunes.phases)}`);
  assert.ok(outcomes.backup.killed >= KILLS && outcomes.prune.killed >= KILLS, `each command was killed ${KILLS} times: ${JSON.stringify(outcomes)}`);
});

test('check beside running backups never reports false damage', async (t) => {
  const repo = await newRepo(t);
  const src = join(tempDir(t), 'data');
  mkdirSync(src);
  const rounds = Math.max(4, Math.round(KILLS / 3));
  let backing = true;
  const backups = (async () => {
    for (let i = 0; i < rounds; i++) {
      writeFileSync(join(src, `f${i}.bin`), randomBytes(256 << 10));
      await cliOk(['backup', '--repo', repo, src]);
    }
    backing = false;
  })();
  let checks = 0;
  while (backing) {
    const r = await cli(['check', '--repo', repo]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    checks++;
  }
  await backups;
  t.diagnostic(`${checks} checks beside ${rounds} backups`);
  assert.ok(checks > 0);
});
