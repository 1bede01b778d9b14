// repair index: builds a new index from the packs themselves, for when index files are damaged,
// lost, or list packs that are gone. Runs under an exclusive lock.
// A pack whose size matches what the current index says of it keeps that listing (no read);
// any other pack is indexed from its own header (two small range reads). With readAllPacks every
// pack is read whole; a pack with damaged blobs has its intact ones written to new packs and is
// then deleted, so a damaged blob counts as missing: check and `repair snapshots` see it, and the
// next backup of the same data stores it again. The write order is prune's: new index files, the last superseding every
// old one, then the old files are deleted; a kill at any point leaves a readable repository.
import { Limiter } from '../lib/limiter.ts';
import { packSizeFor, PACK_HEADER_BYTES, readPackEntries, salvagePack, type IndexedPack, type Repository } from '../repo/repository.ts';
import { entryAt } from './prune.ts';

export interface RepairIndexOptions {
  readAllPacks: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface RepairIndexReport {
  packs: number;
  /** Packs listed from the old index without reading them. */
  packsFromIndex: number;
  /** Packs listed from their own headers (or read whole). */
  packsRead: number;
  blobs: number;
  /** Packs on storage that could not be indexed (header unreadable): their blobs are missing now. */
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

  const positions = new Map<string, number[]>();
  for (let i = 0; i < index.size; i++) {
    const name = index.packs[index.packIndexAt(i)].id.toString('hex');
    let list = positions.get(name);
    if (!list) positions.set(name, (list = []));
    list.push(i);
  }
  for (const p of index.packs) if (!onStorage.has(p.id.toString('hex'))) report.missingPacks.push(p.id.toString('hex'));
  /** The old listing describes the pack whole: every entry is ours and the sizes agree. */
  const wholeListing = (listed: number[] | undefined, size: number): listed is number[] => {
    if (!listed) return false;
    const p = index.packIndexAt(listed[0]);
    return listed.length === index.packEntryCount(p) && packSizeFor(Math.max(PACK_HEADER_BYTES, index.packBlobsEnd(p)), listed.length) === size;
  };

  const packs: IndexedPack[] = [];
  const reads = new Limiter(READS_IN_FLIGHT);
  let done = 0;
  await Promise.all(
    [...onStorage].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, size]) =>
      reads.run(async () => {
        const id = Buffer.from(name, 'hex');
        const listed = positions.get(name);
        try {
          if (!options.readAllPacks && wholeListing(listed, size)) {
            packs.push({ id, salt: index.packs[index.packIndexAt(listed[0])].salt, entries: listed.map((i) => entryAt(repo, i)) });
            report.packsFromIndex++;
          } else if (options.readAllPacks) {
            const { salt, bytes, good, bad } = await salvagePack(repo.backend, repo.keys, name);
            report.packsRead++;
            if (bad.length === 0) packs.push({ id, salt, entries: good });
            else {
              // Its intact blobs move to new packs; the damaged pack goes once nothing indexes it.
              for (const b of bad) report.damagedBlobs.push({ pack: name, ...b });
              for (const e of good) {
                const loc = { pack: { id, salt }, packIndex: -1, ...e };
                await repo.saveStoredBlob(e.type, e.id, repo.openStoredBlob(e.id, loc, bytes.subarray(e.offset, e.offset + e.storedLength)), e.compression, e.rawLength, true);
              }
              report.packsReplaced.push(name);
              report.blobs += good.length;
            }
          } else {
            const { salt, entries } = await readPackEntries(repo.backend, repo.keys, name, size);
            packs.push({ id, salt, entries });
            report.packsRead++;
          }
        } catch (err) {
          report.unreadablePacks.push({ pack: name, problem: (err as Error).message });
        }
        options.onProgress?.(++done, onStorage.size);
      }),
    ),
  );
  // A blob stored in two packs stays listed in both: a pack's listing must describe it whole.
  for (const p of packs) report.blobs += p.entries.length;
  await repo.flush(); // the salvaged blobs' new packs, with an index file of their own
  await repo.replaceIndex(packs, oldFiles);
  await repo.assertLockHeld();
  const tolerated = (err: NodeJS.ErrnoException) => (err.code === 'ERETAINED' || err.code === 'ENOENT' ? undefined : Promise.reject(err));
  for (const name of oldFiles) await repo.backend.delete('index', name).catch(tolerated);
  for (const name of report.packsReplaced) await repo.backend.delete('packs', name).catch(tolerated);
  return report;
}
