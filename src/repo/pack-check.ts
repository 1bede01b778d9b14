// Verifying one pack for check --read-data, read whole or (a file on this machine) as it streams
// in: its bytes must hash to its name, its header must open and agree with the index, and every
// blob must decrypt, decompress and MAC to its id.
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { layoutOf, nativeAddon, nativeAddonIfBuilt } from '../lib/native-addon.ts';
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
  const hash = digest ?? createHash('sha256').update(bytes).digest();
  const problems = [...hashProblems(name, hash), ...headerProblems(keys, bytes.subarray(0, PACK_HEADER_BYTES), bytes, bytes.length, blobs)];
  const key = fileKeyBytes(keys, bytes.subarray(8, PACK_HEADER_BYTES));
  const native = nativeAddonIfBuilt();
  const whole = native && (await native.verifyBlobs(bytes, key, keys.blobId, ...blobTables(blobs)));
  for (let i = 0; i < blobs.length; i++) {
    if (whole?.[i] === 0) continue;
    const [id, loc] = blobs[i];
    problems.push(...blobProblems(keys, key, id, loc, sealedIn(bytes, loc)));
  }
  return problems;
}

/**
 * verifyPackBytes for a pack in a file on this machine, read as it is verified (native/verify_blobs.c):
 * a window of its largest blob and 1 MiB in memory, not the whole pack.
 */
export async function verifyPackFile(keys: RepositoryKeys, name: string, path: string, blobs: Array<[Buffer, BlobPlace]>): Promise<PackProblem[]> {
  const file = await open(path, 'r');
  try {
    const lead = Buffer.alloc(PACK_HEADER_BYTES);
    if ((await file.read(lead, 0, PACK_HEADER_BYTES, 0)).bytesRead < PACK_HEADER_BYTES) {
      return await verifyPackBytes(keys, name, await file.readFile(), blobs); // not even a header: a few bytes, judged as before
    }
    const key = fileKeyBytes(keys, lead.subarray(8));
    const status = new Uint8Array(blobs.length);
    const digest = Buffer.alloc(32);
    // The header's entries as the index counts them, and room to spare for more.
    const tail = Buffer.alloc(packSizeFor(0, blobs.length) + 64 * 1024);
    const size = await nativeAddon().packVerifyFile(file.fd, key, keys.blobId, ...blobTables(blobs), status, digest, tail);
    let end: Buffer = tail.subarray(Math.max(0, tail.length - size));
    const headerLength = end.length >= 4 ? end.readUInt32LE(end.length - 4) : 0;
    if (headerLength + 4 > end.length && headerLength + 4 <= size) end = await readAt(file, size - headerLength - 4, headerLength + 4);
    const problems = [...hashProblems(name, digest), ...headerProblems(keys, lead, end, size, blobs)];
    for (let i = 0; i < blobs.length; i++) {
      if (status[i] === 0) continue;
      const [id, loc] = blobs[i];
      const sealed = loc.offset + loc.storedLength <= size ? await readAt(file, loc.offset, loc.storedLength) : undefined;
      problems.push(...blobProblems(keys, key, id, loc, sealed));
    }
    return problems;
  } finally {
    await file.close();
  }
}

function hashProblems(name: string, digest: Buffer): PackProblem[] {
  return digest.toString('hex') === name ? [] : [{ message: 'content does not match its name (hash mismatch): the file was changed or damaged', fileOnly: true }];
}

/** The header must open and list every blob the index places in the pack. */
function headerProblems(keys: RepositoryKeys, lead: Buffer, tail: Buffer, size: number, blobs: Array<[Buffer, BlobPlace]>): PackProblem[] {
  try {
    const inHeader = new Set(readPackHeader(keys, lead, tail, size).map((e) => e.id.toString('hex')));
    const missing = blobs.filter(([id]) => !inHeader.has(id.toString('hex')));
    return missing.length ? [{ message: `header does not list ${missing.length} blob(s) the index places here`, fileOnly: true }] : [];
  } catch (err) {
    return [{ message: `header is damaged: ${(err as Error).message}`, fileOnly: true }];
  }
}

function blobProblems(keys: RepositoryKeys, key: Buffer, id: Buffer, loc: BlobPlace, sealed: Buffer | undefined): PackProblem[] {
  const problem = blobProblem(keys, key, id, loc, sealed);
  return problem ? [{ message: `blob ${id.toString('hex').slice(0, 16)} is damaged: ${problem}`, blob: id.toString('hex') }] : [];
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const bytes = Buffer.alloc(length);
  const { bytesRead } = await file.read(bytes, 0, length, position);
  return bytes.subarray(0, bytesRead);
}

/**
 * The blobs as the native loop takes them: ids 32 bytes each, places in the addon's layout. That loop
 * does with one set of contexts and buffers what blobProblem does with node:crypto's objects for
 * each blob: 50-80 µs for a 4 KiB blob there, of which the work is 15. Blobs it does not find
 * whole go through blobProblem, which says what is wrong with them.
 */
function blobTables(blobs: Array<[Buffer, BlobPlace]>): [Buffer, Float64Array] {
  const { fields } = layoutOf('verify', { fields: 4 }); // the four numbers set below, in this order
  const ids = Buffer.alloc(blobs.length * 32);
  const places = new Float64Array(blobs.length * fields);
  blobs.forEach(([id, loc], i) => {
    ids.set(id.subarray(0, 32), i * 32);
    places.set([loc.offset, loc.storedLength, loc.compression, loc.rawLength], i * fields);
  });
  return [ids, places];
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
    const problem = blobProblem(keys, key, e.id, e, sealedIn(bytes, e));
    if (problem) out.bad.push({ blob: e.id.toString('hex'), problem });
    else out.good.push(e);
  }
  return out;
}

/** A blob's sealed bytes in a pack read whole; undefined when its place lies beyond the end. */
function sealedIn(bytes: Buffer, loc: BlobPlace): Buffer | undefined {
  return loc.offset + loc.storedLength <= bytes.length ? bytes.subarray(loc.offset, loc.offset + loc.storedLength) : undefined;
}

/** Why the blob `id` sealed as `sealed` at `loc` is not that blob, or undefined when it is. */
function blobProblem(keys: RepositoryKeys, key: Buffer, id: Buffer, loc: BlobPlace, sealed: Buffer | undefined): string | undefined {
  try {
    if (!sealed || sealed.length < loc.storedLength) throw new Error('lies beyond the end of the pack');
    let plain = openBlob(key, id, loc.offset, sealed);
    if (loc.compression === COMPRESSION_ZSTD) plain = decompressBlob(plain, loc.rawLength);
    if (plain.length !== loc.rawLength) throw new Error(`has ${plain.length} bytes, expected ${loc.rawLength}`);
    if (!blobIdOf(keys, plain).equals(id)) throw new Error('content does not match its id');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
