// What packs say of themselves. An index file is written by whoever holds the key, and another
// machine sharing the repository may be taken over: before prune deletes a pack because the index
// says its blobs live elsewhere, the pack that index names must list them in its own authenticated
// header, and a pack no index lists is read before it is deleted. Reads are headers only (two
// small range reads a pack), several at once.
import { Limiter } from '../lib/limiter.ts';
import type { Backend } from '../storage/open.ts';
import type { BlobIndex } from './blob-index.ts';
import type { RepositoryKeys } from './crypto.ts';
import type { IndexedPack } from './index-file.ts';
import { readPackEntries } from './index-loader.ts';

/** What reading pack headers needs of a repository. */
interface PackSource {
  backend: Backend;
  keys: RepositoryKeys;
  index: BlobIndex;
}

const READS_IN_FLIGHT = 8;

/** An index entry that its pack's own header does not confirm, or a header that cannot be read. */
export interface HeaderMismatch {
  pack: string;
  /** The blob (hex), when one entry is at fault rather than the whole header. */
  blob?: string;
  problem: string;
}

/**
 * Reads the header of each indexed pack in `packs` (index positions of packs) and returns every
 * entry for which `wanted(position)` holds that the header does not list at the same place with
 * the same lengths. `sizes` holds each pack file's size on storage.
 */
export async function unconfirmedEntries(repo: PackSource, packs: number[], wanted: (position: number) => boolean, sizes: Map<string, number>): Promise<HeaderMismatch[]> {
  const index = repo.index;
  const byPack = index.groupByPack();
  const names = index.packNames();
  const out: HeaderMismatch[] = [];
  const reads = new Limiter(READS_IN_FLIGHT);
  await Promise.all(packs.map((p) => reads.run(async () => {
    const name = names[p];
    const positions = [...byPack.of(p)].filter(wanted);
    if (positions.length === 0) return;
    const size = sizes.get(name);
    if (size === undefined) return void out.push({ pack: name, problem: 'missing: the index lists it but it is not in the repository' });
    let listed: Map<string, string>;
    try {
      const { entries } = await readPackEntries(repo.backend, repo.keys, name, size);
      listed = new Map(entries.map((e) => [e.id.toString('hex'), placeOf(e)]));
    } catch (err) {
      return void out.push({ pack: name, problem: `its header cannot be read (${(err as Error).message}), so nothing confirms what the index places in it` });
    }
    for (const i of positions) {
      const entry = index.entryAt(i);
      const hex = entry.id.toString('hex');
      if (listed.get(hex) !== placeOf(entry)) out.push({ pack: name, blob: hex, problem: `an index places blob ${hex.slice(0, 16)} in this pack, but the pack's own header does not list it there` });
    }
  })));
  return out;
}

/** The packs named, read from their own headers; one whose header cannot be read comes with the reason. */
export async function readPackHeaders(repo: PackSource, names: string[], sizes: Map<string, number>): Promise<Array<{ name: string; pack?: IndexedPack; problem?: string }>> {
  const reads = new Limiter(READS_IN_FLIGHT);
  return await Promise.all(names.map((name) => reads.run(async () => {
    try {
      const { salt, entries } = await readPackEntries(repo.backend, repo.keys, name, sizes.get(name) ?? 0);
      return { name, pack: { id: Buffer.from(name, 'hex'), salt, entries } };
    } catch (err) {
      return { name, problem: (err as Error).message };
    }
  })));
}

function placeOf(e: { type: string; compression: number; offset: number; storedLength: number; rawLength: number }): string {
  return `${e.type} ${e.compression} ${e.offset} ${e.storedLength} ${e.rawLength}`;
}
