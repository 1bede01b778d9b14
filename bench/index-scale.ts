// Index scale: a repository with N small blobs in real packs (half of them used by one snapshot,
// half by a second that is then forgotten), then the CLI's index load (`lifeboat snapshots` does
// not load it; `check` does, plus a walk of the trees) and a prune, each under GNU time for wall
// time and peak RSS. Memory per blob = (peak RSS at N - peak RSS of the same command on an empty
// repository) / N. Usage: npx node bench/index-scale.ts N [WORK]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { gnuTimeOk } from './gnu-time.ts';
import { emptySummary, programName, snapshotOwner } from '../src/engine/backup.ts';
import { monotonicMs, nowLocalIso } from '../src/lib/clock.ts';
import type { TreeNode } from '../src/model/tree.ts';
import { Repository } from '../src/repo/repository.ts';
import { openBackend } from '../src/storage/open.ts';
import { releaseFreeMemory } from '../src/lib/native-addon.ts';

if (process.argv[2] === 'open') {
  await openIndex(process.argv[3]);
  process.exit(0);
}
if (process.argv[2] === 'load') {
  await measureLoad(Number(process.argv[3]), process.argv[4] ?? '/var/tmp/lifeboat-index-load');
  process.exit(0);
}
const n = Number(process.argv[2]);
if (!(n > 0)) throw new Error('usage: npx node bench/index-scale.ts N [WORK] | npx node bench/index-scale.ts load N [WORK]');
const work = process.argv[3] ?? '/var/tmp/lifeboat-index-scale';
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
const env = { ...process.env, LIFEBOAT_PASSWORD: 'bench', LIFEBOAT_KDF_MEMORY_KIB: '1024' };
const BLOBS_PER_FILE = 1000;

/** Wall seconds and peak RSS (MiB) of one CLI command. */
function timed(args: string[]): { seconds: number; peakMiB: number } {
  const t = gnuTimeOk([process.execPath, MAIN, ...args], env);
  return { seconds: t.wallSeconds, peakMiB: t.peakRssKiB / 1024 };
}

async function build(dir: string, blobs: number): Promise<{ seconds: number; second: string }> {
  const repo = await Repository.init(await openBackend(dir), 'bench');
  await repo.reloadIndex();
  const started = monotonicMs();
  // Two snapshots, each a folder of files of BLOBS_PER_FILE blobs; blob i goes to snapshot i % 2.
  const files: TreeNode[][] = [[], []];
  let content: string[][] = [[], []];
  for (let i = 0; i < blobs; i++) {
    const { id } = await repo.saveBlob('data', randomBytes(64));
    content[i % 2].push(id.toString('hex'));
    if (content[i % 2].length === BLOBS_PER_FILE || i >= blobs - 2) {
      const k = i % 2;
      if (content[k].length) files[k].push(fileNode(`f${files[k].length}`, content[k]));
      content[k] = [];
    }
  }
  let second = '';
  for (const k of [0, 1]) {
    const tree = await repo.saveTree({ nodes: files[k] });
    await repo.flush();
    second = await repo.snapshots.save({ version: 1, time: nowLocalIso(), host: 'bench', ...snapshotOwner(), paths: [`/s${k}`], tags: [`s${k}`], tree, program: programName(), summary: emptySummary() });
  }
  await repo.close();
  return { seconds: (monotonicMs() - started) / 1000, second };
}

function fileNode(name: string, content: string[]): TreeNode {
  return { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', inode: '0', device: '0', links: 1, size: content.length * 64, content };
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const empty = `${work}/empty`;
await build(empty, 0);
const baseCheck = timed(['check', '-q', '--repo', empty]);
const basePrune = timed(['prune', '-q', '--repo', empty]);
const repo = `${work}/repo`;
const { seconds: buildSeconds, second } = await build(repo, n);
const check = timed(['check', '-q', '--repo', repo]);
if (process.env.KEEP === '1') execFileSync('cp', ['-a', repo, `${repo}-before-forget`]);
execFileSync(process.execPath, [MAIN, 'forget', '-q', '--repo', repo, second], { env, stdio: 'inherit' });
const prune = timed(['prune', '-q', '--repo', repo, '--max-unused', '0%']);
const perBlob = (r: { peakMiB: number }, base: { peakMiB: number }) => (((r.peakMiB - base.peakMiB) * 1048576) / n).toFixed(0);
console.log(`${n} blobs written in ${buildSeconds.toFixed(1)} s`);
console.log(`| command | wall s | peak RSS MiB | empty repository MiB | bytes per blob |`);
console.log(`|---|---:|---:|---:|---:|`);
console.log(`| check (index load + tree walk) | ${check.seconds.toFixed(2)} | ${check.peakMiB.toFixed(0)} | ${baseCheck.peakMiB.toFixed(0)} | ${perBlob(check, baseCheck)} |`);
console.log(`| prune (half the blobs unused) | ${prune.seconds.toFixed(2)} | ${prune.peakMiB.toFixed(0)} | ${basePrune.peakMiB.toFixed(0)} | ${perBlob(prune, basePrune)} |`);
if (process.env.KEEP !== '1') rmSync(work, { recursive: true, force: true });

/**
 * Index load alone, at a scale no real backup here reaches quickly: index files as backups write
 * them (64 packs of 100 blobs each per file) for N blobs of packs that do not exist, then a
 * Repository.open in a process of its own (openIndex below). Memory is measured after GCs, so it
 * is what stays.
 */
async function measureLoad(blobs: number, dir: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  const created = await Repository.init(await openBackend(dir), 'bench');
  for (let done = 0; done < blobs; ) {
    const packs = [];
    for (let p = 0; p < 64 && done < blobs; p++) {
      const entries = [];
      for (let b = 0; b < 100 && done < blobs; b++, done++) entries.push({ id: randomBytes(32), type: 'data' as const, compression: 1, offset: 40 + b * 5000, storedLength: 5000, rawLength: 9000 });
      packs.push({ id: randomBytes(32), salt: randomBytes(32), entries });
    }
    await created.replaceIndex(packs, []);
  }
  await created.close();
  execFileSync(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, 'open', dir], { stdio: 'inherit' });
  if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
}

/** Opens the repository and reports the load's time and what it added to the process's RSS. */
async function openIndex(dir: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  // V8 frees a dead ArrayBuffer's memory on a thread of its own after the GC that found it, and
  // the loader hands the C heap's free pages back: the same settling before as after, so that
  // the difference is what the index keeps, not the load's transient tables.
  const settle = async (): Promise<NodeJS.MemoryUsage> => {
    gc();
    await sleep(200);
    gc();
    releaseFreeMemory();
    return process.memoryUsage();
  };
  const before = await settle();
  const started = monotonicMs();
  const repo = await Repository.open(await openBackend(dir), 'bench');
  const seconds = (monotonicMs() - started) / 1000;
  const after = await settle();
  const grown = after.rss - before.rss;
  const blobs = repo.index.size;
  console.log(`index of ${blobs} blobs in ${repo.index.packCount} packs: loaded in ${seconds.toFixed(2)} s (key derivation included); memory after load +${(grown / 1048576).toFixed(0)} MiB RSS (${(grown / blobs).toFixed(1)} bytes per blob), peak RSS of the process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
  await repo.close();
}
