// check: verifies that the repository tells the truth. Structure: config and key files match
// their checksums, every index file opens, every indexed pack exists with the size its entries
// imply, every snapshot opens, and every tree and blob a snapshot references is indexed.
// With readData, packs are read whole: the file hash, the header, and every blob's MAC.
// Damage is reported with the snapshots and paths it touches.
import { randomInt } from 'node:crypto';
import type { Repository } from './repository.ts';
import { VerifyPool } from './verify-pool.ts';
import { Limiter } from '../lib/limiter.ts';
import { listKeyFiles } from './open-repository.ts';
import { listLocks } from './locks.ts';
import { listedPackSize, type PackProblem } from './pack-check.ts';
import { unconfirmedEntries } from './pack-headers.ts';
import type { SnapshotList } from './snapshots.ts';

export interface CheckOptions {
  /** Fraction of packs to read: undefined for none, or { n, of } for group n of `of`, or a percentage. */
  readData?: { kind: 'all' } | { kind: 'group'; n: number; of: number } | { kind: 'percent'; percent: number };
  onProgress?: (done: number, total: number) => void;
  /** Stops the check where it is (it changes nothing), rejecting with the signal's reason. */
  signal?: AbortSignal;
}

export interface CheckProblem {
  /** config, key, lock, index, pack, snapshot, tree, blob */
  kind: string;
  file: string;
  message: string;
}

export interface AffectedEntry {
  snapshot: string;
  path: string;
  reason: string;
}

export interface CheckReport {
  problems: CheckProblem[];
  affected: AffectedEntry[];
  unreferencedPacks: string[];
  stats: { snapshots: number; packs: number; packsRead: number; blobs: number; trees: number };
}

export async function checkRepository(repo: Repository, options: CheckOptions = {}): Promise<CheckReport> {
  const report: CheckReport = { problems: [], affected: [], unreferencedPacks: [], stats: { snapshots: 0, packs: 0, packsRead: 0, blobs: 0, trees: 0 } };
  const problem = (kind: string, file: string, message: string): void => {
    report.problems.push({ kind, file, message });
  };
  const pool = options.readData ? new VerifyPool(repo.keys) : undefined;
  await checkEverything(repo, options, pool, report, problem);
  return report;
}

async function checkEverything(
  repo: Repository, options: CheckOptions, pool: VerifyPool | undefined, report: CheckReport, problem: (k: string, f: string, m: string) => void,
): Promise<void> {
  await checkKeys(repo, problem);
  for (const l of await listLocks(repo.backend, repo.keys)) {
    if (l.damaged) problem('lock', l.name, `damaged lock file (${l.damaged}); it blocks other commands until "lifeboat unlock" removes it`);
  }
  // Snapshots are listed before the index is loaded: a snapshot is written after its index, so
  // every one listed has its index files in place, while one saved by a backup running meanwhile
  // (backups and check both hold shared locks) would refer to blobs the index loaded before did
  // not list yet, a false alarm.
  const listed = await repo.snapshots.list();
  options.signal?.throwIfAborted();
  const load = await repo.reloadIndex();
  options.signal?.throwIfAborted();
  for (const d of load.damagedIndexFiles) problem('index', d.name, d.problem);
  for (const u of load.unreadablePacks) problem('pack', u.name, `header unreadable: ${u.problem}`);

  // Packs: present, and of the size the index says.
  const sizes = new Map<string, number>();
  for await (const f of repo.backend.list('packs')) sizes.set(f.name, f.sizeBytes);
  const damagedBlobs = new Map<string, string>();
  const byPack = repo.index.groupByPack();
  const packNames = repo.index.packNames();
  const packsWithBlobs = packNames.keys().filter((p) => byPack.of(p).length > 0).toArray();
  report.stats.packs = packsWithBlobs.length;
  report.stats.blobs = repo.index.size;
  const selected = selectPacks(packsWithBlobs.map((p) => packNames[p]).sort(), options.readData);
  const markPack = (packIndex: number, why: string): void => {
    for (const i of byPack.of(packIndex)) damagedBlobs.set(repo.index.at(i)[0].toString('hex'), why);
  };
  const toRead: Array<{ packIndex: number; name: string; truncated: boolean }> = [];
  const unread: number[] = [];
  for (const packIndex of packsWithBlobs) {
    const name = packNames[packIndex];
    const size = sizes.get(name);
    if (size === undefined) {
      problem('pack', name, 'missing: the index lists it but it is not in the repository');
      markPack(packIndex, `pack ${name.slice(0, 12)} is missing`);
      continue;
    }
    const expected = listedPackSize(repo.index, packIndex);
    if (size !== expected) {
      problem('pack', name, `has ${size} bytes, the index implies ${expected} (${size < expected ? 'truncated' : 'extra data'})`);
      // Reading it tells which blobs survive; without reading, every blob in it is suspect.
      if (!selected.has(name)) {
        markPack(packIndex, `pack ${name.slice(0, 12)} is ${size < expected ? 'truncated' : 'damaged'}`);
        continue;
      }
    }
    if (selected.has(name)) toRead.push({ packIndex, name, truncated: size < expected });
    else unread.push(packIndex);
  }
  for (const name of sizes.keys()) if (!repo.index.hasPack(name)) report.unreferencedPacks.push(name);
  // An index file is only as honest as whoever wrote it: each pack's own authenticated header
  // must list what the index places in it (read whole with --read-data; otherwise its header).
  for (const m of await unconfirmedEntries(repo, unread, () => true, sizes)) {
    problem('pack', m.pack, m.problem);
    if (m.blob) damagedBlobs.set(m.blob, `no pack confirms where the index places blob ${m.blob.slice(0, 12)}`);
    else markPack(packNames.indexOf(m.pack), `pack ${m.pack.slice(0, 12)} cannot be confirmed`);
  }
  // The snapshots' trees are walked while the thread pool reads the data, on a main thread that would
  // otherwise wait for them. Blobs found damaged there change what the walk reports, so when
  // there are any, the trees are walked again; the first walk's findings are then dropped.
  const walk = checkSnapshots(repo, listed, damagedBlobs, options.signal);
  walk.catch(() => {}); // awaited below
  const damagedBefore = damagedBlobs.size;
  if (toRead.length) await readPacks(repo, pool!, toRead, byPack, options, report, problem, markPack, damagedBlobs);
  options.signal?.throwIfAborted();
  const walked = damagedBlobs.size > damagedBefore ? await checkSnapshots(repo, listed, damagedBlobs, options.signal) : await walk;
  report.problems.push(...walked.problems);
  report.affected.push(...walked.affected);
  report.stats.snapshots = walked.snapshots;
  report.stats.trees = walked.trees;
}

/** check --read-data: packs read a few ahead and verified on libuv's thread pool, one per core at once. */
async function readPacks(
  repo: Repository, pool: VerifyPool, toRead: Array<{ packIndex: number; name: string; truncated: boolean }>, byPack: { of(p: number): Uint32Array },
  options: CheckOptions, report: CheckReport, problem: (k: string, f: string, m: string) => void, markPack: (p: number, why: string) => void, damagedBlobs: Map<string, string>,
): Promise<void> {
  const reads = new Limiter(pool.inFlight);
  const localPath = repo.backend.localPath?.bind(repo.backend);
  let read = 0;
  await Promise.all(
    toRead.map(({ packIndex, name, truncated }) =>
      reads.run(async () => {
        options.signal?.throwIfAborted();
        const blobs = [...byPack.of(packIndex)].map((i) => repo.index.at(i));
        const issues: PackProblem[] = localPath
          ? await pool.verify(name, { path: localPath('packs', name) }, blobs)
          : await repo.backend.read('packs', name).then(
              (bytes) => pool.verify(name, bytes, blobs),
              (err) => [{ message: `cannot be read: ${(err as Error).message}` }],
            );
        for (const issue of issues) {
          problem('pack', name, issue.message);
          if (issue.blob) damagedBlobs.set(issue.blob, `blob damaged in pack ${name.slice(0, 12)}${truncated ? ' (truncated)' : ''}`);
          else if (!issue.fileOnly) markPack(packIndex, `pack ${name.slice(0, 12)} is damaged`);
        }
        report.stats.packsRead++;
        options.onProgress?.(++read, toRead.length);
      }),
    ),
  );
}

async function checkKeys(repo: Repository, problem: (k: string, f: string, m: string) => void): Promise<void> {
  for (const k of await listKeyFiles(repo.backend)) if (k.problem) problem('key', k.id, k.problem);
}

interface SnapshotsWalk {
  problems: CheckProblem[];
  affected: AffectedEntry[];
  snapshots: number;
  trees: number;
}

/** Walks every snapshot's trees; reports unreadable trees and files whose blobs are missing or damaged. */
async function checkSnapshots(repo: Repository, listed: SnapshotList, damaged: Map<string, string>, signal?: AbortSignal): Promise<SnapshotsWalk> {
  const { snapshots, damaged: badSnapshots } = listed;
  const walk: SnapshotsWalk = { problems: [], affected: [], snapshots: snapshots.length, trees: 0 };
  const problem = (kind: string, file: string, message: string): void => {
    walk.problems.push({ kind, file, message });
  };
  for (const d of badSnapshots) problem('snapshot', d.id, d.problem);
  const treeVerdicts = new Map<string, AffectedEntry[] | string>();
  const unindexed = new Set<string>();
  /** Trees being visited: one met again below itself is a cycle, reported and not followed. */
  const onPath = new Set<string>();
  const visitTree = async (id: string, path: string): Promise<Array<{ path: string; reason: string }>> => {
    signal?.throwIfAborted();
    const known = treeVerdicts.get(id);
    if (typeof known === 'string') return [{ path, reason: known }];
    if (known) return known.map((a) => ({ path: path + a.path, reason: a.reason }));
    if (onPath.has(id)) {
      const reason = 'the folder lists one of the folders it is in (a cycle)';
      problem('tree', id, reason);
      return [{ path: path || '/', reason }];
    }
    const out: Array<{ path: string; reason: string }> = [];
    let tree;
    try {
      const why = damaged.get(id) ?? (repo.index.has(Buffer.from(id, 'hex')) ? undefined : 'tree blob is missing from the index');
      if (why) throw new Error(why);
      tree = await repo.loadTree(id);
      walk.trees++;
    } catch (err) {
      const reason = `directory listing unreadable: ${(err as Error).message}`;
      problem('tree', id, reason);
      treeVerdicts.set(id, reason);
      return [{ path: path || '/', reason }];
    }
    for (const d of tree.damaged) {
      problem('tree', id, `entry "${d.name}" refused: ${d.problem}`);
      out.push({ path: `/${d.name}`, reason: `entry refused: ${d.problem}` });
    }
    onPath.add(id);
    for (const node of tree.nodes) {
      const child = `/${node.name}`;
      if (node.type === 'dir' && node.subtree) out.push(...(await visitTree(node.subtree, child)));
      for (const hex of node.content ?? []) {
        let why = damaged.get(hex);
        if (!why && !repo.index.has(Buffer.from(hex, 'hex'))) {
          why = 'a content blob is missing from the index';
          if (!unindexed.has(hex)) problem('blob', hex, 'referenced by a snapshot but listed in no index');
          unindexed.add(hex);
        }
        if (why) {
          out.push({ path: child, reason: why });
          break;
        }
      }
    }
    onPath.delete(id);
    treeVerdicts.set(id, out.map((a) => ({ snapshot: '', ...a })));
    return out.map((a) => ({ path: path + a.path, reason: a.reason }));
  };
  for (const s of snapshots) {
    for (const a of await visitTree(s.tree, '')) walk.affected.push({ snapshot: s.id, path: a.path, reason: a.reason });
  }
  return walk;
}

function selectPacks(names: string[], spec: CheckOptions['readData']): Set<string> {
  if (!spec) return new Set();
  if (spec.kind === 'all') return new Set(names);
  if (spec.kind === 'group') return new Set(names.filter((n) => parseInt(n.slice(0, 8), 16) % spec.of === spec.n - 1));
  // A fresh random sample each run, so repeated checks cover the whole repository over time.
  const count = Math.max(1, Math.ceil((names.length * spec.percent) / 100));
  const pool = [...names];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return new Set(pool.slice(0, count));
}

