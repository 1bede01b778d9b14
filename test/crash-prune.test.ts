// Crash safety of prune and backup, many times over: kill -9 at random moments (LIFEBOAT_KILLS
// each, default 30). After every kill: check passes (leftovers allowed), the snapshots that were
// complete before restore exactly, and the next backup or prune completes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliOk, MAIN, newRepo, tempDir } from './helpers.ts';

const KILLS = Number(process.env.LIFEBOAT_KILLS ?? 30);
const ENV = { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' };

/**
 * Kill moments are drawn from the whole length of a run, which is learnt from the runs that finish.
 * Runs show progress (--progress) so that the phase each kill landed in is recorded: prune's last
 * phase line, backup's last percentage.
 */
class Killer {
  #typicalMs: number;
  readonly phases: Record<string, number> = {};
  constructor(firstGuessMs: number) {
    this.#typicalMs = firstGuessMs;
  }

  async run(args: string[]): Promise<boolean> {
    const started = performance.now();
    const child = spawn(process.execPath, [MAIN, ...args, '--progress'], { env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const timer = setTimeout(() => child.kill('SIGKILL'), randomInt(5, 100) * this.#typicalMs / 100);
    const code = await exited;
    clearTimeout(timer);
    if (code === 0) this.#typicalMs = (this.#typicalMs + 1.1 * (performance.now() - started)) / 2;
    else {
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

test(`kill -9 of backup and of prune, ${KILLS} times each: check passes, finished snapshots restore exactly, the next run completes`, async (t) => {
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
  const backups = new Killer(600);
  const prunes = new Killer(600);
  const outcomes = { backup: { killed: 0, finished: 0 }, prune: { killed: 0, finished: 0 } };
  for (let k = 0; k < KILLS; k++) {
    // Change some data, back up (killed at a random moment), forget all but the newest two, prune (killed too).
    writeFileSync(join(src, `f${randomInt(8)}.bin`), randomBytes(1 << 20));
    const b = await backups.run(['backup', '--repo', repo, src]);
    outcomes.backup[b ? 'finished' : 'killed']++;
    if (b) await remember();
    await verify();
    await cliOk(['forget', '--repo', repo, '--keep-last', '2']);
    // Slowed down (rate limits) so that the kills land in every phase, not only in start-up.
    const p = await prunes.run(['prune', '--repo', repo, '--max-unused', '0%', '--limit-download', '8192', '--limit-upload', '8192']);
    outcomes.prune[p ? 'finished' : 'killed']++;
    await verify();
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
  assert.ok(outcomes.backup.killed >= KILLS / 4 && outcomes.prune.killed >= KILLS / 4, `most runs were killed part-way: ${JSON.stringify(outcomes)}`);
});
