// npm run bench: Lifeboat, restic and borg side by side on one corpus, interleaved phase by phase
// (each phase runs for every tool before the next phase starts; the order of tools is reversed
// on even repetitions). Phases: init, full backup, re-backup with no change, re-backup after a
// small change (1% of files edited, an append to a large file, 100 new files), restore of the
// latest snapshot (then verified against the source: content and metadata), check --read-data,
// and, after all those of every repetition, the same restore right after deleting the tree the
// first one restored (as a server or a drill that cleans up after itself restores every time).
// Per phase and tool: wall time, throughput, CPU time, peak RSS (GNU time) and repository size;
// then time ratios Lifeboat / peer. Every measurement is also appended as a JSON line.
// Env: CORPUS (a directory; else bench/corpus-gen.sh builds one, CORPUS_SCALE=0.6 about 1 GiB;
// bench/real-corpus.sh makes one of this machine's programs and libraries),
// TOOLS ("lifeboat restic borg"), REPS (1), BENCH_WORK (a real disk), RESULTS (JSON lines file),
// BENCH_SETTLE_S (90: the wait before measuring, see below).
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, hostname, totalmem } from 'node:os';
import { join } from 'node:path';
import { gnuTime } from './gnu-time.ts';
import { mutate } from './mutate.ts';
import { PHASES, report, type Measurement, type Phase } from './report.ts';
import { TOOLS, type Tool } from './tools.ts';
import { compareTrees } from './verify-tree.ts';

const here = new URL('.', import.meta.url).pathname;
const corpus = process.env.CORPUS ?? '/var/tmp/lifeboat-bench-corpus';
const work = process.env.BENCH_WORK ?? '/var/tmp/lifeboat-bench-work';
const results = process.env.RESULTS ?? join(here, 'results.jsonl');
const reps = Number(process.env.REPS ?? 1);
const runId = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
if (!existsSync(corpus)) {
  console.error(`building the corpus in ${corpus} (CORPUS_SCALE=${process.env.CORPUS_SCALE ?? '0.6'})`);
  execFileSync('bash', [join(here, 'corpus-gen.sh'), corpus], { stdio: 'inherit', env: { ...process.env, CORPUS_SCALE: process.env.CORPUS_SCALE ?? '0.6' } });
}
const tools: Tool[] = [];
for (const name of (process.env.TOOLS ?? 'lifeboat restic borg').split(/\s+/).filter(Boolean)) {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`unknown tool "${name}" (known: ${Object.keys(TOOLS).join(', ')})`);
  const why = tool.missing();
  if (why) console.error(`skipping ${name}: ${why}`);
  else tools.push(tool);
}
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
// Nothing is deleted while the run measures, but by restore_after_delete, whose point it is.
// This VM's ext4 (no journal) does not hand out an inode again for 60 s after it was freed, and
// creating a file then scans past every such inode (`perf`: recently_deleted): a restore after a
// tree was deleted took twice as long, for every tool, and the repetitions' restores varied by
// that much. So each repetition's copy of the corpus and each tool's repository are made apart
// and kept to the end, the copies before the first phase; then the run waits for what an earlier
// run (or this one's clean-up above) freed to be reusable.
const sources: string[] = [];
for (let rep = 1; rep <= reps; rep++) {
  // GNU cp keeps holes, hard links, xattrs and times: each copy has the corpus's metadata.
  sources.push(join(work, `source-${rep}`));
  execFileSync('cp', ['-a', corpus, sources.at(-1)!]);
}
execFileSync('sync');
const settleSeconds = Number(process.env.BENCH_SETTLE_S ?? 90);
console.error(`waiting ${settleSeconds} s (BENCH_SETTLE_S) for freed inodes to be reusable before measuring`);
await new Promise((resolve) => setTimeout(resolve, settleSeconds * 1000));
const versions = new Map(tools.map((t) => [t.name, t.version()]));
console.error(`run ${runId}: ${[...versions.values()].join('; ')}; ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ${hostname()}`);

const measurements: Measurement[] = [];
// Deleting comes last: a deleted tree slows every file creation on this VM's ext4 for minutes
// (above), so every repetition's restore_after_delete runs once all other phases are measured.
const deleting = 'restore_after_delete';
const corpusBytesOf = new Map<number, number>();
for (let rep = 1; rep <= reps; rep++) {
  for (const phase of PHASES) if (phase !== deleting) await measurePhase(rep, phase);
}
for (let rep = 1; rep <= reps; rep++) await measurePhase(rep, deleting);
process.stdout.write(report(measurements, tools.map((t) => t.name), runId, reps) + `\nJSON lines appended to ${results}.\n`);
rmSync(work, { recursive: true, force: true });

/** Runs commands one after another under GNU time: wall summed, CPU summed, RSS the largest. */
function timed(commands: string[][], env: Record<string, string>, cwd?: string): Pick<Measurement, 'wallSeconds' | 'userSeconds' | 'sysSeconds' | 'peakRssKiB' | 'exitCode'> {
  const out = { wallSeconds: 0, userSeconds: 0, sysSeconds: 0, peakRssKiB: 0, exitCode: 0 };
  for (const command of commands) {
    const t = gnuTime(command, { ...process.env, ...env }, cwd);
    out.wallSeconds += t.wallSeconds;
    out.userSeconds += t.userSeconds;
    out.sysSeconds += t.sysSeconds;
    out.peakRssKiB = Math.max(out.peakRssKiB, t.peakRssKiB);
    if (t.status !== 0) {
      out.exitCode = t.status;
      console.error(`${command.join(' ')} exited ${t.status}:\n${t.stderr.slice(-2000)}`);
    }
  }
  return out;
}

function treeBytes(path: string): number {
  if (!existsSync(path)) return 0;
  return Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);
}

/** Runs one phase for every tool, in the repetition's order, and records it. */
async function measurePhase(rep: number, phase: Phase): Promise<void> {
  // Each repetition backs up a fresh copy, so the change is the same.
  const source = sources[rep - 1];
  if (!corpusBytesOf.has(rep)) corpusBytesOf.set(rep, treeBytes(source)); // before the change, as every phase reports it
  const corpusBytes = corpusBytesOf.get(rep)!;
  const order = rep % 2 === 0 ? [...tools].reverse() : tools;
  if (phase === 'backup_incr') mutate(source, `rep-${rep}`);
  for (const tool of order) {
    // Repositories and restored trees stay until the end of the run (see the copies above), but
    // for the tree the restore_after_delete phase deletes, untimed, just before it restores.
    const repo = join(work, `repo-${tool.name}-${rep}`);
    const target = join(work, `restore-${tool.name}-${rep}`);
    if (phase === deleting) rmSync(target, { recursive: true, force: true });
    if (phase.startsWith('restore')) mkdirSync(target);
    const plan = phase === 'init' ? { commands: tool.init(repo) }
      : phase.startsWith('backup') ? { commands: tool.backup(repo, source, `${phase}-${rep}`) }
      : phase.startsWith('restore') ? tool.restore(repo, target)
      : { commands: tool.checkReadData(repo) };
    // The previous tool's writes and deletions are flushed first, not charged to this one.
    execFileSync('sync');
    const m = timed(plan.commands, { ...tool.env, BORG_BASE_DIR: join(work, 'borg-base') }, plan.cwd);
    execFileSync('sync');
    const record: Measurement = { run: runId, rep, tool: tool.name, phase, ...m, repoBytes: treeBytes(repo), bytes: phase === 'init' ? 0 : corpusBytes };
    if (phase.startsWith('restore')) {
      record.verify = await compareTrees(source, tool.restoredRoot(target, source));
    }
    measurements.push(record);
    appendFileSync(results, JSON.stringify({ ...record, machine: { cores: cpus().length, host: hostname() }, versions: versions.get(tool.name) }) + '\n');
    console.error(`  rep ${rep} ${tool.name.padEnd(9)} ${phase.padEnd(16)} ${m.wallSeconds.toFixed(2)} s, ${(m.peakRssKiB / 1024).toFixed(0)} MiB${m.exitCode ? `, EXIT ${m.exitCode}` : ''}${record.verify ? `, restore ${Object.keys(record.verify).length ? `DIFFERS: ${JSON.stringify(record.verify)}` : 'identical'}` : ''}`);
  }
}
