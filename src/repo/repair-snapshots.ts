// repair snapshots: rewrites each damaged snapshot so that it drops only what cannot be read, and
// keeps everything else restorable. A file is unreadable when one of its blobs is not indexed or
// lies in a pack that is gone; a folder whose listing cannot be loaded is kept, empty. The new
// snapshot records what was dropped and why (`repaired`), is tagged "repaired" and marked
// incomplete; the damaged original stays unless `forget` is set. Blobs that are indexed but
// damaged inside their pack are only known after `repair index --read-all-packs` (which drops
// them from the index) or `check --read-data`; run those first.
import { nowIso } from '../lib/clock.ts';
import type { TreeNode } from '../model/tree.ts';
import type { Snapshot, SnapshotRecord } from '../model/snapshot.ts';
import type { LoadedTree, Repository } from './repository.ts';

export interface RepairSnapshotsOptions {
  /** Only these snapshots (full ids); all when empty. */
  ids: string[];
  dryRun: boolean;
  /** Remove each damaged original once its repaired snapshot is saved. */
  forget: boolean;
  /** Stops between snapshots: those repaired so far stay repaired. */
  signal?: AbortSignal;
}

export interface DroppedEntry {
  path: string;
  reason: string;
}

export interface RepairedSnapshot {
  snapshot: string;
  /** The new snapshot's id (undefined in a dry run, or when nothing of it was readable). */
  repairedAs?: string;
  dropped: DroppedEntry[];
  /** The root listing itself is unreadable: there is nothing to keep. */
  unrecoverable: boolean;
  forgotten: boolean;
}

export interface RepairSnapshotsReport {
  checked: number;
  repaired: RepairedSnapshot[];
  /** Snapshot files that cannot be opened at all (their listing is gone with them). */
  unreadableSnapshotFiles: Array<{ id: string; problem: string }>;
}

/** A snapshot records at most this many dropped paths; the count is always exact. */
const DROPPED_RECORDED = 10_000;

export async function repairSnapshots(repo: Repository, options: RepairSnapshotsOptions): Promise<RepairSnapshotsReport> {
  const packsPresent = new Set<string>();
  for await (const f of repo.backend.list('packs')) packsPresent.add(f.name);
  const readable = (hex: string): string | undefined => {
    const loc = repo.index.get(Buffer.from(hex, 'hex'));
    if (!loc) return 'a blob is missing from the index';
    if (!packsPresent.has(loc.pack.id.toString('hex'))) return `pack ${loc.pack.id.toString('hex').slice(0, 12)} is missing`;
    return undefined;
  };
  const { snapshots, damaged } = await repo.snapshots.list();
  const report: RepairSnapshotsReport = { checked: 0, repaired: [], unreadableSnapshotFiles: damaged.map((d) => ({ id: d.id, problem: d.problem })) };
  // Trees shared between snapshots are repaired once: tree id → new id and what it dropped below.

  type Repaired = { id: string; dropped: DroppedEntry[] } | { unreadable: string };
  const repairedTrees = new Map<string, Repaired>();
  const repairTree = async (id: string, dryRun: boolean): Promise<Repaired> => {
    const known = repairedTrees.get(id);
    if (known) return known;
    let tree: LoadedTree;
    try {
      const missing = readable(id);
      if (missing) throw new Error(missing);
      tree = await repo.loadTree(id);
    } catch (err) {
      const result = { unreadable: (err as Error).message };
      repairedTrees.set(id, result);
      return result;
    }
    // Until it is done, a tree met below itself (a cycle) counts as unreadable there.
    repairedTrees.set(id, { unreadable: 'the folder lists one of the folders it is in (a cycle)' });
    const dropped: DroppedEntry[] = tree.damaged.map((d) => ({ path: `/${d.name}`, reason: `entry refused: ${d.problem}` }));
    const nodes: TreeNode[] = [];
    for (const node of tree.nodes) {
      const path = `/${node.name}`;
      if (node.type === 'dir' && node.subtree) {
        const sub = await repairTree(node.subtree, dryRun);
        if ('unreadable' in sub) {
          dropped.push({ path: `${path}/`, reason: `folder listing unreadable (${sub.unreadable}); kept empty` });
          nodes.push({ ...node, subtree: dryRun ? node.subtree : await repo.saveTree({ nodes: [] }) });
          continue;
        }
        for (const d of sub.dropped) dropped.push({ path: path + d.path, reason: d.reason });
        nodes.push(sub.id === node.subtree ? node : { ...node, subtree: sub.id });
        continue;
      }
      const why = (node.content ?? []).map(readable).find((w) => w !== undefined);
      if (why) dropped.push({ path, reason: why });
      else nodes.push(node);
    }
    const result = { id: dropped.length === 0 || dryRun ? id : await repo.saveTree({ nodes }), dropped };
    repairedTrees.set(id, result);
    return result;
  };

  const wanted = options.ids.length ? snapshots.filter((s) => options.ids.includes(s.id)) : snapshots;
  for (const s of wanted) {
    options.signal?.throwIfAborted();
    report.checked++;
    const root = await repairTree(s.tree, options.dryRun);
    if ('unreadable' in root) {
      report.repaired.push({ snapshot: s.id, dropped: [{ path: '/', reason: `root listing unreadable (${root.unreadable})` }], unrecoverable: true, forgotten: false });
      continue;
    }
    const { id: tree, dropped } = root;
    if (dropped.length === 0) continue;
    const entry: RepairedSnapshot = { snapshot: s.id, dropped, unrecoverable: false, forgotten: false };
    report.repaired.push(entry);
    if (options.dryRun) continue;
    await repo.flush(); // the new trees are stored and indexed before a snapshot refers to them
    entry.repairedAs = await repo.snapshots.save(repairedSnapshot(s, tree, dropped));
    if (options.forget) {
      await repo.assertLockHeld();
      await repo.snapshots.remove(s.id);
      entry.forgotten = true;
    }
  }
  return report;
}

function repairedSnapshot(s: SnapshotRecord, tree: string, dropped: DroppedEntry[]): Snapshot {
  const { id, ...fields } = s;
  return {
    ...fields,
    tree,
    tags: s.tags.includes('repaired') ? s.tags : [...s.tags, 'repaired'],
    incomplete: true,
    errors: [...(s.errors ?? []), `repaired: ${dropped.length} unreadable entr${dropped.length === 1 ? 'y' : 'ies'} dropped`],
    repaired: { from: id, time: nowIso(), droppedCount: dropped.length, dropped: dropped.slice(0, DROPPED_RECORDED) },
  };
}
