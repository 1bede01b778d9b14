// repair index: builds a new index from the packs themselves, for when index files are damaged,
// lost, or list packs that are gone. Runs under an exclusive lock.
// Every pack is indexed from its own header (two small range reads), never from what an index
// file says of it: an index file is written by whoever holds the key, and another machine sharing
// the repository may be taken over. A pack whose header cannot be read keeps what the old index
// listed of it, less the blobs some readable header lists (so a junk pack cannot shadow them).
// With readAllPacks every
// pack is read whole; a pack with damaged blobs has its intact ones written to new packs and is
// then deleted, so a damaged blob counts as missing: check and `repair snapshots` see it, and the
// next backup of the same data stores it again. The write order is prune's: new index files, the last superseding every
// old one, then the old files are deleted; a kill at any point leaves a readable repository.
import { Limiter } from '../lib/limiter.ts';
import { BlobIndex } from './blob-index.ts';
import type { IndexedPack } from './index-file.ts';
import { addPackToIndex, readPackEntries } from './index-loader.ts';
import { salvagePack } from './pack-check.ts';
import type { Repository } from './repository.ts';

export interface RepairIndexOptions {
  readAllPacks: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Stops before the next pack is read, and before any old index file is deleted: like a kill then. */
  signal?: AbortSignal;
}

export interface RepairIndexReport {
  packs: number;
  /** Packs whose header could not be read, listed as the old index listed them. */
  packsFromIndex: number;
  /** Packs listed from their own headers (or read whole). */
  packsRead: number;
  blobs: number;
  /**
   * Packs on storage that could not be read. One the old index listed keeps that listing; one it
   * did not is left out (its blobs are missing).
   */
  unreadablePacks: Array<{ pack: string; problem: string }>;
  /** Packs with damaged blobs whose intact blobs were written to new packs (readAllPacks only); deleted. */
  packsReplaced: string[];
  /** Blobs left out because they are damaged (readAllPacks only). */
  damagedBlobs: Array<{ pack: string; blob: string; problem: string }>;
  /** Packs the old index listed that are not on storage. */
  missingPacks: string[];
  oldIndexFiles: number;
}

const READS_IN_FLIGHT = 4;

export async function repairIndex(repo: Repository, options: RepairIndexOptions): Promise<RepairIndexReport> {
  const index = repo.index;
  const onStorage = new Map<string, number>();
  for await (const f of repo.backend.list('packs')) onStorage.set(f.name, f.sizeBytes);
  const oldFiles: string[] = [];
  for await (const f of repo.backend.list('index')) oldFiles.push(f.name);
  const report: RepairIndexReport = { packs: onStorage.size, packsFromIndex: 0, packsRead: 0, blobs: 0, unreadablePacks: [], packsReplaced: [], damagedBlobs: [], missingPacks: [], oldIndexFiles: oldFiles.length };

  const packIndexOf = new Map(index.packNames().map((name, p) => [name, p]));
  for (const name of packIndexOf.keys()) if (!onStorage.has(name)) report.missingPacks.push(name);
  const byPack = index.groupByPack();
  const replacement = repo.indexReplacement(oldFiles);
  /** Every blob a readable header lists: what an unreadable pack's old listing must not shadow. */
  const confirmed = new BlobIndex();
  const unreadableListings: IndexedPack[] = [];
  const add = (pack: IndexedPack): Promise<void> => {
    report.blobs += pack.entries.length;
    addPackToIndex(confirmed, pack.id, pack.salt, pack.entries);
    return replacement.add(pack);
  };

  const reads = new Limiter(READS_IN_FLIGHT);
  let done = 0;
  await Promise.all(
    [...onStorage].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, size]) =>
      reads.run(async () => {
        options.signal?.throwIfAborted();
        try {
          await indexPack(name, size);
        } finally {
          options.onProgress?.(++done, onStorage.size);
        }
      }),
    ),
  );
  async function indexPack(name: string, size: number): Promise<void> {
    const id = Buffer.from(name, 'hex');
    const p = packIndexOf.get(name);
    // Only a failure to read the pack makes it "unreadable"; a failure to write is the
    // command's failure, before any old index file is deleted.
    const salvaged = await (options.readAllPacks ? salvagePack(repo.backend, repo.keys, name) : readPackEntries(repo.backend, repo.keys, name, size).then((r) => ({ ...r, bytes: undefined, good: r.entries, bad: [] })))
      .catch((err: Error) => void report.unreadablePacks.push({ pack: name, problem: err.message }));
    if (!salvaged) {
      // Unreadable now (damaged, or storage failing): what the old index knew of it is kept
      // rather than dropped, once every readable header is in; each blob's own MAC still tells
      // whether it is intact.
      if (p !== undefined && byPack.of(p).length) unreadableListings.push({ id, salt: index.pack(p).salt, entries: [...byPack.of(p)].map((i) => index.entryAt(i)) });
      return;
    }
    report.packsRead++;
    if (salvaged.bad.length === 0) await add({ id, salt: salvaged.salt, entries: salvaged.good });
    else {
      // Its intact blobs move to new packs; the damaged pack goes once nothing indexes it.
      for (const b of salvaged.bad) report.damagedBlobs.push({ pack: name, ...b });
      for (const e of salvaged.good) {
        const loc = { pack: { id, salt: salvaged.salt }, packIndex: -1, position: -1, ...e }; // a pack no index lists
        await repo.saveStoredBlob(e.type, e.id, repo.openStoredBlob(e.id, loc, salvaged.bytes!.subarray(e.offset, e.offset + e.storedLength)), e.compression, e.rawLength, true);
      }
      report.packsReplaced.push(name);
      report.blobs += salvaged.good.length;
    }
  }
  for (const pack of unreadableListings) {
    const entries = pack.entries.filter((e) => !confirmed.has(e.id));
    if (entries.length === 0) continue;
    report.packsFromIndex++;
    await add({ ...pack, entries });
  }
  options.signal?.throwIfAborted();
  await repo.flush(); // the salvaged blobs' new packs, with an index file of their own
  await replacement.finish();
  options.signal?.throwIfAborted();
  await repo.assertLockHeld();
  const tolerated = (err: NodeJS.ErrnoException) => (err.code === 'ERETAINED' || err.code === 'ENOENT' ? undefined : Promise.reject(err));
  for (const name of oldFiles) await repo.backend.delete('index', name).catch(tolerated);
  for (const name of report.packsReplaced) await repo.backend.delete('packs', name).catch(tolerated);
  return report;
}
