// Prune: deletes data no snapshot references, and rewrites packs that are mostly unused. Runs
// under an exclusive lock. Memory: one byte per indexed blob (the "used" marks) and a few numbers
// per pack, besides the index itself; the new index is written a slice of packs at a time.
// Order, so that a kill at any point leaves a repository that passes check and the next prune
// finishes the job:
//   1. repack: still-used blobs of the chosen packs go into new packs (plus an index for them);
//   2. new index files for every pack that stays; only the last names the old files as superseded
//      (a reader ignores superseded index files; until the last is written the old ones still count);
//   3. delete the old index files, then the packs nothing indexes any more.
// Packs under S3 Object Lock retention are skipped and reported with the date they can go.
import { LifeboatError } from '../errors.ts';
import { monotonicMs, nowMs } from '../lib/clock.ts';
import { Limiter } from '../lib/limiter.ts';
import { packSizeFor } from './pack-check.ts';
import { readPackHeaders, unconfirmedEntries } from './pack-headers.ts';
import { PACK_HEADER_BYTES } from './pack.ts';
import type { Repository } from './repository.ts';

export interface PruneOptions {
  /** Unused bytes tolerated in kept packs, as a percentage of the used bytes' total. */
  maxUnusedPercent: number;
  /** Also rewrite packs below 80% of the target pack size. */
  repackSmall: boolean;
  dryRun: boolean;
  /**
   * Stops the prune where it is, with the signal's reason: like a kill at that moment, which the
   * write order makes safe (the next prune finishes the job).
   */
  signal?: AbortSignal;
  onPhase?: (phase: string) => void;
  /** Packs done of the current phase's total (repacking, deleting). */
  onProgress?: (done: number, total: number) => void;
}

export interface PruneReport {
  blobsUsed: number;
  blobsUnused: number;
  bytesUsed: number;
  bytesUnused: number;
  packs: number;
  packsDeleted: number;
  packsRepacked: number;
  /** Packs on storage that no index lists (left by interrupted backups or prunes). */
  packsUnindexed: number;
  bytesRepacked: number;
  /** Bytes deleted (dry run: would be), less what repacking wrote back. */
  bytesFreed: number;
  retained: Array<{ pack: string; until: string }>;
  durationMs: number;
}

const REPACK_READS = 2;

export async function prunePacks(repo: Repository, options: PruneOptions): Promise<PruneReport> {
  const started = monotonicMs();
  const phase = (name: string): void => {
    options.signal?.throwIfAborted();
    options.onPhase?.(name);
  };
  const index = repo.index;
  const load = repo.indexLoad!;
  if (load.damagedIndexFiles.length) {
    throw new LifeboatError('REPO_CORRUPT', `${load.damagedIndexFiles.length} index file(s) are damaged; prune deletes nothing until the index is whole`, { hint: 'Run "lifeboat check" to see which index files are damaged.' });
  }
  phase('finding the data snapshots use');
  const used = await markUsed(repo, options.signal);

  phase('weighing packs');
  const packCount = index.packCount;
  const packHex = index.packNames();
  const report: PruneReport = { blobsUsed: 0, blobsUnused: 0, bytesUsed: 0, bytesUnused: 0, packs: packCount, packsDeleted: 0, packsRepacked: 0, packsUnindexed: 0, bytesRepacked: 0, bytesFreed: 0, retained: [], durationMs: 0 };
  const usedBytes = new Float64Array(packCount);
  const listed = new Uint32Array(packCount);
  const blobsEnd = new Float64Array(packCount).fill(PACK_HEADER_BYTES);
  for (let i = 0; i < index.size; i++) {
    const p = index.packIndexAt(i);
    listed[p]++;
    blobsEnd[p] = Math.max(blobsEnd[p], index.offsetAt(i) + index.storedLengthAt(i));
    if (used[i]) {
      usedBytes[p] += index.storedLengthAt(i);
      report.blobsUsed++;
    } else report.blobsUnused++;
  }
  // A pack's own overhead (clear header, sealed entry table, trailer) counts as used while any blob in it is.
  for (let p = 0; p < packCount; p++) if (usedBytes[p] > 0) usedBytes[p] += packSizeFor(PACK_HEADER_BYTES, listed[p]);
  const sizeOf = new Map<string, number>();
  for await (const f of repo.backend.list('packs')) sizeOf.set(f.name, f.sizeBytes);
  const sizes = Float64Array.from(packHex, (name) => sizeOf.get(name) ?? 0);
  const known = new Set(packHex);
  const leftovers = [...sizeOf.keys()].filter((name) => !known.has(name));
  report.packsUnindexed = leftovers.length;
  // Nothing is deleted on an index file's word alone (another machine holding the key may have
  // written it): every pack that keeps a used blob must list it in its own header, and before a
  // pack no index lists is deleted, each used blob it holds must be intact where the index says.
  phase('reading the headers of the packs snapshots use');
  const holdingUsed = [...usedBytes.keys()].filter((p) => usedBytes[p] > 0);
  const doubt = (what: string, more: number): LifeboatError =>
    new LifeboatError('REPO_CORRUPT', `${what}${more > 0 ? ` (and ${more} more)` : ''}; prune deletes nothing`, {
      hint: 'Run "lifeboat check --read-data" to see what is damaged; "lifeboat repair index --read-all-packs" rebuilds the index from the packs themselves.',
    });
  const mismatches = await unconfirmedEntries(repo, holdingUsed, (i) => used[i] === 1, sizeOf);
  if (mismatches.length) throw doubt(`Pack ${mismatches[0].pack.slice(0, 12)}: ${mismatches[0].problem}`, mismatches.length - 1);
  const leftoverPacks = await readPackHeaders(repo, leftovers, sizeOf);

  // Decide: unused packs go; then the emptiest partly used ones are rewritten until what stays unused is within the limit.
  const fate = new Uint8Array(packCount); // 0 keep, 1 delete, 2 repack
  let totalUsed = 0;
  let keptUnused = 0;
  const partly: number[] = [];
  const unusedOf = (p: number) => sizes[p] - usedBytes[p];
  for (let p = 0; p < packCount; p++) {
    totalUsed += usedBytes[p];
    if (usedBytes[p] === 0) fate[p] = 1;
    else if (unusedOf(p) > 0) {
      keptUnused += unusedOf(p);
      partly.push(p);
    }
    if (options.repackSmall && usedBytes[p] > 0 && sizes[p] < 0.8 * repo.config.packTargetBytes) fate[p] = 2;
    // Some of its blobs are listed for another pack (an interrupted prune or two writers saved
    // them twice): an index entry for it would not describe it whole, so it is rewritten.
    if (usedBytes[p] > 0 && sizes[p] !== packSizeFor(blobsEnd[p], listed[p])) fate[p] = 2;
  }
  const pct = Math.min(options.maxUnusedPercent, 99.9);
  const tolerated = (totalUsed * pct) / (100 - pct);
  partly.sort((a, b) => unusedOf(b) / sizes[b] - unusedOf(a) / sizes[a]);
  for (const p of partly) {
    if (fate[p] === 2) keptUnused -= unusedOf(p);
  }
  for (const p of partly) {
    if (keptUnused <= tolerated) break;
    if (fate[p] === 2) continue;
    fate[p] = 2;
    keptUnused -= unusedOf(p);
  }
  report.bytesUsed = totalUsed;
  for (let p = 0; p < packCount; p++) {
    report.bytesUnused += unusedOf(p);
    if (fate[p] === 1) report.packsDeleted++;
    if (fate[p] === 2) {
      report.packsRepacked++;
      report.bytesRepacked += usedBytes[p];
    }
    if (fate[p] !== 0) report.bytesFreed += sizes[p] - (fate[p] === 2 ? usedBytes[p] : 0);
  }
  for (const name of leftovers) report.bytesFreed += sizeOf.get(name)!;
  // Another copy of a used blob goes with a pack no index lists, or with a pack deleted or
  // rewritten because the index shows the blob elsewhere: that elsewhere must hold the blob itself.
  const byPack = index.groupByPack();
  // (A pack the index lists with fewer entries than it counts has blobs listed first elsewhere:
  // the pack's own header says which.)
  const goingCopies = leftoverPacks.flatMap((u) => u.pack?.entries.map((e) => e.id) ?? []);
  const shadowing = packHex.filter((_, p) => fate[p] !== 0 && index.packEntryCount(p) > byPack.of(p).length);
  for (const u of await readPackHeaders(repo, shadowing, sizeOf)) {
    if (!u.pack) throw doubt(`Pack ${u.name.slice(0, 12)} shares blobs with another pack, and its header cannot be read (${u.problem})`, 0);
    goingCopies.push(...u.pack.entries.map((e) => e.id));
  }
  const unverified = await usedCopiesInDoubt(repo, goingCopies, used);
  if (unverified.length) throw doubt(`Blob ${unverified[0]} is damaged where the index places it, and a pack prune would delete holds another copy`, unverified.length - 1);
  if (options.dryRun || (report.packsDeleted + report.packsRepacked + leftovers.length === 0 && load.supersededIndexFiles.length === 0)) {
    report.durationMs = Math.round(monotonicMs() - started);
    return report;
  }

  // 1. Repack.
  options.signal?.throwIfAborted();
  if (report.packsRepacked) options.onPhase?.(`repacking ${report.packsRepacked} pack(s)`);
  const reads = new Limiter(REPACK_READS);
  let repacked = 0;
  const toRepack = [...fate.keys()].filter((p) => fate[p] === 2);
  await Promise.all(
    toRepack.map((p) =>
      reads.run(async () => {
        options.signal?.throwIfAborted();
        const sealed = await repo.backend.read('packs', packHex[p]);
        for (const i of byPack.of(p)) {
          if (!used[i]) continue;
          const [id, loc] = index.at(i);
          const stored = repo.openStoredBlob(id, loc, sealed.subarray(loc.offset, loc.offset + loc.storedLength));
          await repo.saveStoredBlob(loc.type, id, stored, loc.compression, loc.rawLength, true);
        }
        options.onProgress?.(++repacked, report.packsRepacked);
      }),
    ),
  );
  await repo.flush();

  // 2. The new index: every pack that stays, in slices (built as they are written, so memory
  // holds one slice); the last file supersedes the old ones.
  phase('writing the new index');
  const old = load.indexFiles.concat(load.supersededIndexFiles);
  function* kept() {
    for (let p = 0; p < packCount; p++) {
      if (fate[p] === 0) yield { id: index.pack(p).id, salt: index.pack(p).salt, entries: [...byPack.of(p)].map((i) => index.entryAt(i)) };
    }
  }
  await repo.replaceIndex(kept(), old);

  // 3. Delete the old index files, then the packs nothing indexes now.
  phase('deleting');
  // A superseded index file under Object Lock stays until its retention ends; readers skip it.
  for (const name of old) await repo.backend.delete('index', name).catch((err) => (err.code === 'ERETAINED' ? undefined : ignoreMissing(err)));
  const doomed = packHex.filter((_, p) => fate[p] !== 0).concat(leftovers);
  // Nothing is deleted unless this prune still holds its lock (`unlock --remove-all` meanwhile
  // would have let another process in, which may have decided to reuse these packs).
  await repo.assertLockHeld();
  const deletes = new Limiter(8);
  let deleted = 0;
  await Promise.all(doomed.map((name) => deletes.run(async () => {
    options.signal?.throwIfAborted();
    await deletePack(repo, name, report);
    options.onProgress?.(++deleted, doomed.length);
  })));
  report.durationMs = Math.round(monotonicMs() - started);
  return report;
}

/**
 * Of the used blobs whose `copies` are about to go, those whose indexed copy does not load (each
 * load checks the blob against its id): deleting the other copy could lose the only good one.
 * Reads only such blobs, which after a killed backup or prune are few.
 */
async function usedCopiesInDoubt(repo: Repository, copies: Buffer[], used: Uint8Array): Promise<string[]> {
  const ids = new Map<string, Buffer>();
  for (const id of copies) if (used[repo.index.position(id)] === 1) ids.set(id.toString('hex'), id);
  const reads = new Limiter(REPACK_READS);
  const bad: string[] = [];
  await Promise.all([...ids].map(([hex, id]) => reads.run(() => repo.loadBlob(id).then(() => undefined, () => void bad.push(hex.slice(0, 16))))));
  return bad;
}

/** One mark per indexed blob: set when some snapshot's tree reaches it. Fails on anything missing. */
async function markUsed(repo: Repository, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const used = new Uint8Array(repo.index.size);
  const { snapshots, damaged } = await repo.snapshots.list();
  if (damaged.length) {
    throw new LifeboatError('REPO_CORRUPT', `${damaged.length} snapshot file(s) cannot be read; prune deletes nothing while it cannot tell what they use`, { hint: 'Run "lifeboat check"; remove or repair the damaged snapshots first.' });
  }
  const mark = (hex: string): boolean => {
    const i = repo.index.position(Buffer.from(hex, 'hex'));
    if (i < 0) throw new LifeboatError('REPO_CORRUPT', `Blob ${hex.slice(0, 16)} that a snapshot uses is not in the index; prune deletes nothing`, { hint: 'Run "lifeboat check" to see what is damaged.' });
    const first = used[i] === 0;
    used[i] = 1;
    return first;
  };
  const visit = async (treeHex: string): Promise<void> => {
    if (!mark(treeHex)) return; // a tree seen before: everything below it is marked already
    signal?.throwIfAborted();
    const tree = await repo.loadTree(treeHex);
    if (tree.damaged.length) {
      throw new LifeboatError('REPO_CORRUPT', `Tree ${treeHex.slice(0, 16)} has entries that cannot be trusted (${tree.damaged[0].problem}); prune deletes nothing while it cannot tell what they use`, {
        hint: 'Run "lifeboat check" to see which snapshots hold it; forget them or run "lifeboat repair snapshots --forget".',
      });
    }
    for (const node of tree.nodes) {
      for (const hex of node.content ?? []) mark(hex);
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const s of snapshots) await visit(s.tree);
  return used;
}

async function deletePack(repo: Repository, name: string, report: PruneReport): Promise<void> {
  if (repo.config.objectLock && repo.backend.retainedUntil) {
    const until = await repo.backend.retainedUntil('packs', name);
    if (until && until.getTime() > nowMs()) {
      report.retained.push({ pack: name, until: until.toISOString() });
      return;
    }
  }
  await repo.backend.delete('packs', name).catch(ignoreMissing);
}

function ignoreMissing(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}

