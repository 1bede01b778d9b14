// Pack files: many encrypted blobs in one storage file, so object stores see tens of MiB per
// request rather than millions of tiny objects. Layout:
//   "LBPK" | version u8 | 3 zero bytes | salt (32)                      -- 40-byte clear header
//   blob* : AES-GCM(fileKey, nonce(BLOB, offset), stored bytes, aad = blob id)
//   header: AES-GCM(fileKey, nonce(PACK_HEADER, offset), entries)      -- 46 bytes per blob
//   u32 LE length of the sealed header
// The pack's name is the SHA-256 of the whole file.
import { createHash, createSecretKey } from 'node:crypto';
import { fileKey, fileKeyBytes, newSalt, AuthenticationError, nonce, seal, sealWithKeyBytesInto, unseal, unsealWithKeyBytes, NONCE_BLOB, NONCE_PACK_HEADER, TAG_BYTES, type CipherKey, type RepositoryKeys } from './crypto.ts';
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

/**
 * Buffers of uploaded packs, kept for the next ones. A pack is built in one buffer: with a Buffer
 * per sealed blob, a full backup of the bench corpus peaked 40-80 MiB higher (four interleaved
 * pairs: 461-519 against 414-439 MiB), and V8, which counts memory outside its heap towards its
 * next full GC, ran 23 of them on the main thread instead of 19. Wall time did not change.
 */
const spareBuffers: Buffer[] = [];
const SPARE_BUFFERS = 2;

export class PackWriter {
  readonly type: BlobType;
  readonly salt: Buffer;
  readonly entries: PackEntry[] = [];
  readonly #key: CipherKey;
  readonly #keyBytes: Buffer;
  /** The pack so far: its clear header, then the sealed blobs. */
  #buffer: Buffer;
  #size = PACK_HEADER_BYTES;

  /** `capacity`: the room to start with, for the clear header and the sealed blobs (it grows if needed). */
  constructor(keys: RepositoryKeys, type: BlobType, capacity = 1024 * 1024) {
    this.type = type;
    this.salt = newSalt();
    this.#keyBytes = fileKeyBytes(keys, this.salt);
    this.#key = createSecretKey(this.#keyBytes);
    const spare = spareBuffers.findIndex((b) => b.byteLength >= capacity);
    this.#buffer = spare >= 0 ? spareBuffers.splice(spare, 1)[0] : Buffer.allocUnsafeSlow(Math.max(capacity, 4096));
    this.#buffer.fill(0, 0, PACK_HEADER_BYTES);
    this.#buffer.write(MAGIC, 0, 'latin1');
    this.#buffer[4] = 1;
    this.salt.copy(this.#buffer, 8);
  }

  get sizeBytes(): number {
    return this.#size;
  }

  /** Seals `stored` (already compressed or raw) at the end of the pack. */
  add(id: Buffer, stored: Uint8Array, compression: number, rawLength: number): PackEntry {
    const offset = this.#size;
    if (offset + stored.byteLength + TAG_BYTES > this.#buffer.byteLength) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.#buffer.byteLength, offset + stored.byteLength + TAG_BYTES));
      this.#buffer.copy(bigger, 0, 0, offset);
      this.#buffer = bigger;
    }
    const storedLength = sealWithKeyBytesInto(this.#keyBytes, nonce(NONCE_BLOB, offset), stored, id, this.#buffer, offset);
    const entry: PackEntry = { id, type: this.type, compression, offset, storedLength, rawLength };
    this.entries.push(entry);
    this.#size += storedLength;
    return entry;
  }

  /**
   * The complete pack file as a list of pieces (the first is a view of this writer's buffer: it is
   * valid until release()), and its name.
   */
  finishParts(): { name: string; parts: Buffer[] } {
    const header = Buffer.alloc(ENTRY_BYTES * this.entries.length);
    this.entries.forEach((e, i) => writeEntry(header, i * ENTRY_BYTES, e));
    const sealedHeader = seal(this.#key, nonce(NONCE_PACK_HEADER, this.#size), header);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(sealedHeader.byteLength);
    const parts = [this.#buffer.subarray(0, this.#size), sealedHeader, trailer];
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    return { name: hash.digest('hex'), parts };
  }

  /** The complete pack file in one buffer of its own, and its name. */
  finish(): { name: string; bytes: Buffer } {
    const { name, parts } = this.finishParts();
    return { name, bytes: Buffer.concat(parts) };
  }

  /** Gives the buffer to the next writer: the parts finishParts() returned must not be used any more. */
  release(): void {
    if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(this.#buffer);
    this.#buffer = Buffer.alloc(0);
  }
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

export function readEntry(buf: Buffer, at: number): PackEntry {
  const type = BLOB_TYPES[buf[at + 32]];
  if (type === undefined) throw new FileFormatError(`pack header has unknown blob type ${buf[at + 32]}`);
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
