// Pack files: many encrypted blobs in one storage file, so object stores see tens of MiB per
// request rather than millions of tiny objects. Layout:
//   "LBPK" | version u8 | 3 zero bytes | salt (32)                      -- 40-byte clear header
//   blob* : AES-GCM(fileKey, nonce(BLOB, offset), stored bytes, aad = blob id)
//   header: AES-GCM(fileKey, nonce(PACK_HEADER, offset), entries)      -- 46 bytes per blob
//   u32 LE length of the sealed header
// The pack's name is the SHA-256 of the whole file. pack-writer.ts builds them.
import { fileKey, AuthenticationError, nonce, unseal, unsealWithKeyBytes, NONCE_BLOB, NONCE_PACK_HEADER, TAG_BYTES, type RepositoryKeys } from './crypto.ts';
import { FileFormatError } from './sealed-file.ts';

export const PACK_HEADER_BYTES = 40;
const MAGIC = 'LBPK';

export const BLOB_TYPES = ['data', 'tree'] as const;
export type BlobType = (typeof BLOB_TYPES)[number];
export const COMPRESSION_NONE = 0;
export const COMPRESSION_ZSTD = 1;

export interface PackEntry {
  id: Buffer;
  type: BlobType;
  compression: number;
  offset: number;
  /** Length in the pack, including the GCM tag. */
  storedLength: number;
  /** Length of the plaintext after decompression. */
  rawLength: number;
}

/** The pack's 40-byte clear header: magic, version, and the salt of its file key. */
export function packLead(salt: Buffer): Buffer {
  const lead = Buffer.alloc(PACK_HEADER_BYTES);
  lead.write(MAGIC, 0, 'latin1');
  lead[4] = 1;
  salt.copy(lead, 8);
  return lead;
}

/** The 46-byte entry format shared by pack headers and index files. */
export const ENTRY_BYTES = 46;

export function writeEntry(buf: Buffer, at: number, e: PackEntry): void {
  e.id.copy(buf, at);
  buf[at + 32] = BLOB_TYPES.indexOf(e.type);
  buf[at + 33] = e.compression;
  buf.writeUInt32LE(e.offset, at + 34);
  buf.writeUInt32LE(e.storedLength, at + 38);
  buf.writeUInt32LE(e.rawLength, at + 42);
}

/**
 * The most a blob may decode to. Data blobs are at most the chunker's maximum (a few MiB); a tree
 * of a folder with a million entries is a few hundred. Readers allocate what an entry promises
 * before they decode, so a hostile entry must not be able to promise gigabytes.
 */
export const MAX_BLOB_BYTES = 512 * 1024 * 1024;

/** What is wrong with the entry at `at` (type, compression, lengths), or undefined. */
export function entryProblem(buf: Buffer, at: number): string | undefined {
  if (BLOB_TYPES[buf[at + 32]] === undefined) return `unknown blob type ${buf[at + 32]}`;
  const compression = buf[at + 33];
  const stored = buf.readUInt32LE(at + 38);
  const raw = buf.readUInt32LE(at + 42);
  if (compression !== COMPRESSION_NONE && compression !== COMPRESSION_ZSTD) return `unknown compression ${compression}`;
  if (raw > MAX_BLOB_BYTES) return `a blob of ${raw} bytes, more than any blob may hold`;
  if (compression === COMPRESSION_NONE ? stored !== raw + TAG_BYTES : stored < TAG_BYTES || stored > raw + TAG_BYTES) return 'a blob whose stored and raw lengths disagree';
  return undefined;
}

export function readEntry(buf: Buffer, at: number): PackEntry {
  const problem = entryProblem(buf, at);
  if (problem) throw new FileFormatError(`pack header lists ${problem}`);
  const type = BLOB_TYPES[buf[at + 32]];
  return {
    id: Buffer.from(buf.subarray(at, at + 32)),
    type,
    compression: buf[at + 33],
    offset: buf.readUInt32LE(at + 34),
    storedLength: buf.readUInt32LE(at + 38),
    rawLength: buf.readUInt32LE(at + 42),
  };
}

export function packSalt(lead: Buffer): Buffer {
  if (lead.byteLength < PACK_HEADER_BYTES || lead.toString('latin1', 0, 4) !== MAGIC) throw new FileFormatError('not a pack file');
  if (lead[4] !== 1) throw new FileFormatError(`unknown pack format version ${lead[4]}`);
  return Buffer.from(lead.subarray(8, 40));
}

/** Reads the entry list of a whole pack file (or its lead and tail, for a header-only read). */
export function readPackHeader(keys: RepositoryKeys, lead: Buffer, tail: Buffer, packSizeBytes: number): PackEntry[] {
  const salt = packSalt(lead);
  const headerLength = tail.readUInt32LE(tail.byteLength - 4);
  const headerOffset = packSizeBytes - 4 - headerLength;
  if (headerLength < TAG_BYTES || headerOffset < PACK_HEADER_BYTES || headerLength + 4 > tail.byteLength) {
    throw new FileFormatError('pack header length is out of range (truncated pack?)');
  }
  const sealed = tail.subarray(tail.byteLength - 4 - headerLength, tail.byteLength - 4);
  const plain = unseal(fileKey(keys, salt), nonce(NONCE_PACK_HEADER, headerOffset), sealed, 'pack header');
  if (plain.byteLength % ENTRY_BYTES !== 0) throw new FileFormatError('pack header has a partial entry');
  const entries: PackEntry[] = [];
  for (let at = 0; at < plain.byteLength; at += ENTRY_BYTES) entries.push(readEntry(plain, at));
  return entries;
}

/**
 * Decrypts one blob read from its pack at `offset` with the pack's key as bytes (result still
 * compressed); undefined when the blob does not authenticate.
 */
export function openBlobWithKeyBytes(packKey: Uint8Array, id: Buffer, offset: number, sealed: Uint8Array): Buffer | undefined {
  return unsealWithKeyBytes(packKey, nonce(NONCE_BLOB, offset), sealed, id);
}

/** openBlobWithKeyBytes, throwing an AuthenticationError that names the blob. */
export function openBlob(packKey: Uint8Array, id: Buffer, offset: number, sealed: Uint8Array): Buffer {
  const plain = openBlobWithKeyBytes(packKey, id, offset, sealed);
  if (!plain) throw new AuthenticationError(`blob ${id.toString('hex').slice(0, 16)}`);
  return plain;
}

/** How many bytes at the end of a pack to read to be likely to get the whole header in one go. */
export function packTailGuess(packSizeBytes: number): number {
  return Math.min(packSizeBytes, 64 * 1024);
}
