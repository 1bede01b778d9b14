// Loads every index file into one BlobIndex. A damaged index file does not make the repository
// unreadable: it is reported, and the packs no surviving index describes are indexed from their
// own (encrypted) headers instead.
import type { Backend, FileInfo } from '../storage/open.ts';
import type { RepositoryKeys } from './crypto.ts';
import { Limiter } from '../lib/limiter.ts';
import { releaseFreeMemory } from '../lib/native-addon.ts';
import { BlobIndex } from './blob-index.ts';
import { readIndex, type IndexedPack } from './index-file.ts';
import { packSalt, packTailGuess, readPackHeader, type PackEntry } from './pack.ts';

const READS_IN_FLIGHT = 8;
const STORED_BYTES_PER_ENTRY = 32;

export interface IndexLoadResult {
  index: BlobIndex;
  indexFiles: string[];
  damagedIndexFiles: Array<{ name: string; problem: string }>;
  /** Index files a newer one replaces (left by an interrupted prune): not loaded; prune deletes them. */
  supersededIndexFiles: string[];
  /** Packs that were indexed from their headers because no index file described them. */
  recoveredPacks: string[];
  unreadablePacks: Array<{ name: string; problem: string }>;
}

/** Adds a pack's listing; a pack listed before (by another index file) keeps its first listing. */
export function addPackToIndex(index: BlobIndex, id: Buffer, salt: Buffer, entries: PackEntry[]): void {
  if (index.findPack(id) !== -1) return;
  const p = index.addPack(id, salt);
  for (const e of entries) index.add(e.id, p, e.type, e.compression, e.offset, e.storedLength, e.rawLength);
}

export async function loadIndex(backend: Backend, keys: RepositoryKeys): Promise<IndexLoadResult> {
  let result = await loadIndexFiles(backend, keys, new Set());
  if (result.supersededIndexFiles.length) {
    // Rare (a prune was interrupted between writing the new index and deleting the old one):
    // load again without the replaced files, so every blob is found where the new index says.
    result = await loadIndexFiles(backend, keys, new Set(result.supersededIndexFiles));
  }
  if (result.damagedIndexFiles.length > 0) {
    const unlisted = await indexUnlistedPacks(backend, keys, result.index);
    result.recoveredPacks = unlisted.indexed.map((p) => p.id.toString('hex'));
    result.unreadablePacks = unlisted.unreadable;
  }
  return result;
}

/** Adds the packs on storage that `index` does not list yet, from their own headers. */
export async function indexUnlistedPacks(backend: Backend, keys: RepositoryKeys, index: BlobIndex): Promise<{ indexed: IndexedPack[]; unreadable: Array<{ name: string; problem: string }> }> {
  const out: { indexed: IndexedPack[]; unreadable: Array<{ name: string; problem: string }> } = { indexed: [], unreadable: [] };
  for await (const pack of backend.list('packs')) {
    if (index.hasPack(pack.name)) continue;
    try {
      const { salt, entries } = await readPackEntries(backend, keys, pack.name, pack.sizeBytes);
      const id = Buffer.from(pack.name, 'hex');
      addPackToIndex(index, id, salt, entries);
      out.indexed.push({ id, salt, entries });
    } catch (err) {
      out.unreadable.push({ name: pack.name, problem: (err as Error).message });
    }
  }
  return out;
}

async function loadIndexFiles(backend: Backend, keys: RepositoryKeys, skip: Set<string>): Promise<IndexLoadResult> {
  const index = new BlobIndex(1 << 14);
  const result: IndexLoadResult = { index, indexFiles: [], damagedIndexFiles: [], supersededIndexFiles: [...skip], recoveredPacks: [], unreadablePacks: [] };
  const superseded = new Set<string>();
  const files: FileInfo[] = [];
  for await (const info of backend.list('index')) if (!skip.has(info.name)) files.push(info);
  // Sized once, from the files' sizes, rather than grown (and rehashed) as it fills. An entry takes
  // 46 bytes before compression, and its 32-byte id does not compress (the rest nearly vanishes):
  // so at most one entry per 32 bytes stored, and about 34 in practice.
  index.reserve(Math.ceil(files.reduce((n, f) => n + f.sizeBytes, 0) / STORED_BYTES_PER_ENTRY));
  // Several files are read at once (remote storage answers slowly; a local disk too, file by
  // file); each is taken in as it arrives, so memory holds only the files in flight.
  const reads = new Limiter(READS_IN_FLIGHT);
  index.beginBulk();
  await Promise.all(
    files.map((info) =>
      reads.run(async () => {
        try {
          const { supersedes } = readIndex(keys, info.name, await backend.read('index', info.name), (id, salt, table, count) => {
            if (index.findPack(id) !== -1) return; // listed by another file too: one listing counts
            index.addTable(index.addPack(id, salt), table, count);
          });
          for (const s of supersedes) superseded.add(s.toString('hex'));
          result.indexFiles.push(info.name);
        } catch (err) {
          result.damagedIndexFiles.push({ name: info.name, problem: (err as Error).message });
        }
      }),
    ),
  );
  index.endBulk();
  // The index files' buffers are gone, but the C heap keeps their pages: 30 of the 80 MiB an
  // index of 1,000,000 blobs added to the process.
  releaseFreeMemory();
  if (skip.size === 0) result.supersededIndexFiles = result.indexFiles.filter((n) => superseded.has(n));
  return result;
}

/** Reads a pack's entry list with two small range reads (lead and tail), not the whole pack. */
export async function readPackEntries(backend: Backend, keys: RepositoryKeys, name: string, sizeBytes: number): Promise<{ salt: Buffer; entries: PackEntry[] }> {
  const lead = await backend.read('packs', name, { offset: 0, length: Math.min(40, sizeBytes) });
  let tailLength = packTailGuess(sizeBytes);
  let tail = await backend.read('packs', name, { offset: sizeBytes - tailLength, length: tailLength });
  const needed = tail.readUInt32LE(tail.byteLength - 4) + 4;
  if (needed > tailLength && needed <= sizeBytes) {
    tailLength = needed;
    tail = await backend.read('packs', name, { offset: sizeBytes - tailLength, length: tailLength });
  }
  return { salt: packSalt(lead), entries: readPackHeader(keys, lead, tail, sizeBytes) };
}
