// Reading one pack whole for check --read-data: its bytes must hash to its name, its header must
// open and agree with the index, and every blob must decrypt, decompress and MAC to its id.
import { createHash } from 'node:crypto';
import { nativeAddonIfBuilt } from '../lib/native-addon.ts';
import { decompressBlob } from '../lib/zstd.ts';
import type { BlobIndex, BlobLocation } from './blob-index.ts';
import { blobIdOf, fileKeyBytes, type RepositoryKeys } from './crypto.ts';
import type { Backend } from '../storage/open.ts';
import { openBlob, packSalt, readPackHeader, COMPRESSION_ZSTD, ENTRY_BYTES, PACK_HEADER_BYTES, type PackEntry } from './pack.ts';

export type { RepositoryKeys } from './crypto.ts';

export interface PackProblem {
  message: string;
  /** Set when the problem is one blob; otherwise the whole pack is suspect. */
  blob?: string;
  /**
   * The file as a whole is damaged (hash, header), but its blobs are judged one by one: each
   * carries its own MAC, bound to its id, at the offset the index gives.
   */
  fileOnly?: boolean;
}

/**
 * The size a pack must have for its listing in the index (every entry, shadowed duplicates
 * included) to describe it whole.
 */
export function listedPackSize(index: BlobIndex, packIndex: number): number {
  return packSizeFor(Math.max(PACK_HEADER_BYTES, index.packBlobsEnd(packIndex)), index.packEntryCount(packIndex));
}

/** A pack's size from where its last blob ends and how many entries its header has. */
export function packSizeFor(blobsEnd: number, entries: number): number {
  return blobsEnd + entries * ENTRY_BYTES + 16 + 4;
}

/** Where a blob lies in its pack and what it must decode to: what verifying needs of an index entry. */
export type BlobPlace = Pick<BlobLocation, 'offset' | 'storedLength' | 'compression' | 'rawLength'>;

/**
 * Verifies a pack's bytes, already read: its hash (`digest`, when the reader computed it), its
 * header and every blob (the blobs on libuv's thread pool: check --read-data runs several at once).
 */
export async function verifyPackBytes(keys: RepositoryKeys, name: string, bytes: Buffer, blobs: Array<[Buffer, BlobPlace]>, digest?: Buffer): Promise<PackProblem[]> {
  const problems: PackProblem[] = [];
  const hash = digest ?? createHash('sha256').update(bytes).digest();
  if (hash.toString('hex') !== name) problems.push({ message: 'content does not match its name (hash mismatch): the file was changed or damaged', fileOnly: true });
  try {
    const entries = readPackHeader(keys, bytes.subarray(0, PACK_HEADER_BYTES), bytes, bytes.length);
    const inHeader = new Set(entries.map((e) => e.id.toString('hex')));
    const missing = blobs.filter(([id]) => !inHeader.has(id.toString('hex')));
    if (missing.length) problems.push({ message: `header does not list ${missing.length} blob(s) the index places here`, fileOnly: true });
  } catch (err) {
    problems.push({ message: `header is damaged: ${(err as Error).message}`, fileOnly: true });
  }
  const key = fileKeyBytes(keys, bytes.subarray(8, PACK_HEADER_BYTES));
  const whole = await wholeBlobs(keys, key, bytes, blobs);
  for (let i = 0; i < blobs.length; i++) {
    if (whole?.[i] === 0) continue;
    const [id, loc] = blobs[i];
    const problem = blobProblem(keys, key, bytes, id, loc);
    if (problem) problems.push({ message: `blob ${id.toString('hex').slice(0, 16)} is damaged: ${problem}`, blob: id.toString('hex') });
  }
  return problems;
}

interface NativeVerify {
  /** One status per blob: 0 when it decrypts, decompresses and MACs to its id (native/verify_blobs.c). */
  verifyBlobs(pack: Uint8Array, packKey: Uint8Array, macKey: Uint8Array, ids: Uint8Array, places: Float64Array): Promise<Uint8Array>;
}

/**
 * The blobs found whole by the native loop, which does with one set of contexts and buffers what
 * blobProblem does with node:crypto's objects for each blob: 50-80 µs for a 4 KiB blob there, of
 * which the work is 15. Undefined without the addon. Blobs it does not find whole go through
 * blobProblem, which says what is wrong with them.
 */
async function wholeBlobs(keys: RepositoryKeys, packKey: Buffer, bytes: Buffer, blobs: Array<[Buffer, BlobPlace]>): Promise<Uint8Array | undefined> {
  const native = nativeAddonIfBuilt<NativeVerify>();
  if (!native) return undefined;
  const ids = Buffer.alloc(blobs.length * 32);
  const places = new Float64Array(blobs.length * 4);
  blobs.forEach(([id, loc], i) => {
    ids.set(id.subarray(0, 32), i * 32);
    places.set([loc.offset, loc.storedLength, loc.compression, loc.rawLength], i * 4);
  });
  return await native.verifyBlobs(bytes, packKey, keys.blobId, ids, places);
}

export interface SalvagedPack {
  salt: Buffer;
  /** The whole pack as read. */
  bytes: Buffer;
  /** Entries whose blobs decrypt, decompress and match their ids. */
  good: PackEntry[];
  bad: Array<{ blob: string; problem: string }>;
}

/**
 * Reads a pack whole and keeps the header's entries whose blobs are intact (repair index
 * --read-all-packs). Throws when the header itself cannot be read: then nothing says where the
 * blobs are, and the pack cannot be salvaged.
 */
export async function salvagePack(backend: Backend, keys: RepositoryKeys, name: string): Promise<SalvagedPack> {
  const bytes = await backend.read('packs', name);
  const salt = packSalt(bytes);
  const entries = readPackHeader(keys, bytes.subarray(0, PACK_HEADER_BYTES), bytes, bytes.length);
  const key = fileKeyBytes(keys, salt);
  const out: SalvagedPack = { salt, bytes, good: [], bad: [] };
  for (const e of entries) {
    const problem = blobProblem(keys, key, bytes, e.id, e);
    if (problem) out.bad.push({ blob: e.id.toString('hex'), problem });
    else out.good.push(e);
  }
  return out;
}

/** Why the blob at `loc` in the pack's `bytes` is not the blob `id`, or undefined when it is. */
function blobProblem(keys: RepositoryKeys, key: Buffer, bytes: Buffer, id: Buffer, loc: BlobPlace): string | undefined {
  try {
    if (loc.offset + loc.storedLength > bytes.length) throw new Error('lies beyond the end of the pack');
    let plain = openBlob(key, id, loc.offset, bytes.subarray(loc.offset, loc.offset + loc.storedLength));
    if (loc.compression === COMPRESSION_ZSTD) plain = decompressBlob(plain, loc.rawLength);
    if (plain.length !== loc.rawLength) throw new Error(`has ${plain.length} bytes, expected ${loc.rawLength}`);
    if (!blobIdOf(keys, plain).equals(id)) throw new Error('content does not match its id');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
