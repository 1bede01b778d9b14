// Builds one pack file (format: pack.ts). Blobs are sealed into segments of a few MiB. With a
// spool (a repository on this machine's disks) each filled segment is hashed and written to the
// pack's temporary file at once, then reused: a pack being filled holds two or three segments of
// memory, not the pack. Without one (remote storage, which takes a file in one request) the
// segments are kept and handed over as the file's pieces.
import { createHash, createSecretKey } from 'node:crypto';
import { nativeAddonIfBuilt } from '../lib/native-addon.ts';
import type { SpoolFile } from '../storage/open.ts';
import { fileKeyBytes, newSalt, nonce, seal, sealWithKeyBytesInto, NONCE_BLOB, NONCE_PACK_HEADER, TAG_BYTES, type CipherKey, type RepositoryKeys } from './crypto.ts';
import { packLead, writeEntry, ENTRY_BYTES, PACK_HEADER_BYTES, type BlobType, type PackEntry } from './pack.ts';

/** Room for the largest chunk sealed (4 MiB); a bigger blob (a huge folder's tree) gets a segment of its own size. */
const SEGMENT_BYTES = 4 * 1024 * 1024 + 64 * 1024;
/**
 * Segments of finished packs, kept for the next ones. Fresh memory costs a page fault per page
 * on first use; and V8 counts live ArrayBuffers towards its next full collection.
 */
const spareSegments: Buffer[] = [];
const SPARE_SEGMENTS = 12;
const NO_SEGMENT = Buffer.alloc(0);
/**
 * A spooled segment's bytes start this far into it, at the offset that agrees with their place in
 * the pack modulo 4 KiB: the spool then writes their whole 4 KiB blocks past the page cache
 * (native/direct_write.c). Segments come from the addon, aligned, where it is built.
 */
const BLOCK = 4096;
const native = nativeAddonIfBuilt();

function takeSegment(bytes: number): Buffer {
  if (bytes <= SEGMENT_BYTES) {
    const spare = spareSegments.pop();
    if (spare) return spare;
  }
  const size = Math.max(bytes, SEGMENT_BYTES);
  return native ? native.alignedBuffer(size) : Buffer.allocUnsafeSlow(size);
}

function giveBack(segment: Buffer): void {
  if (segment.byteLength === SEGMENT_BYTES && spareSegments.length < SPARE_SEGMENTS) spareSegments.push(segment);
}

/**
 * A spooled pack's SHA-256 (its name), taken as its segments leave. The addon hashes each segment
 * on the thread pool, after the one before (native/sha256_stream.c says why); without it,
 * node:crypto hashes it here.
 */
class PackHash {
  readonly #native = native?.sha256Create();
  readonly #here = this.#native ? undefined : createHash('sha256');
  #hashed: Promise<void> = Promise.resolve();

  /** Settles once `piece` is hashed; the piece must stay as it is until then. */
  update(piece: Buffer): Promise<void> {
    if (this.#here) {
      this.#here.update(piece);
      return this.#hashed;
    }
    return (this.#hashed = this.#hashed.then(() => native!.sha256Update(this.#native!, piece)));
  }

  /** The hex digest, once every update has settled. */
  digest(): string {
    return this.#native ? native!.sha256Digest(this.#native).toString('hex') : this.#here!.digest('hex');
  }
}

export class PackWriter {
  readonly type: BlobType;
  readonly salt: Buffer;
  readonly entries: PackEntry[] = [];
  readonly #key: CipherKey;
  readonly #keyBytes: Buffer;
  /** Where the pack is written as it fills, if anywhere: see the top of this file. */
  readonly spool: SpoolFile | undefined;
  /** Without a spool: the filled segments and how much of each is used. */
  readonly #kept: Array<[Buffer, number]> = [];
  /** With a spool: the pack's SHA-256 so far, and the segment writes in flight. */
  readonly #hash: PackHash | undefined;
  readonly #writes = new Set<Promise<void>>();
  #writeError: unknown;
  #segment: Buffer;
  /** Where the current segment's bytes start in it (BLOCK above), and how many it holds. */
  #lead = 0;
  #used: number;
  /** Where the current segment starts in the pack. */
  #start = 0;

  constructor(keys: RepositoryKeys, type: BlobType, spool?: SpoolFile) {
    this.type = type;
    this.salt = newSalt();
    this.#keyBytes = fileKeyBytes(keys, this.salt);
    this.#key = createSecretKey(this.#keyBytes);
    this.spool = spool;
    this.#hash = spool ? new PackHash() : undefined;
    this.#segment = takeSegment(SEGMENT_BYTES);
    this.#used = packLead(this.salt).copy(this.#segment, 0);
  }

  get sizeBytes(): number {
    return this.#start + this.#used;
  }

  /** Seals `stored` (already compressed or raw) at the end of the pack. */
  add(id: Buffer, stored: Uint8Array, compression: number, rawLength: number): PackEntry {
    const room = stored.byteLength + TAG_BYTES;
    if (this.#lead + this.#used + room > this.#segment.byteLength) this.#nextSegment(room);
    const offset = this.sizeBytes;
    const storedLength = sealWithKeyBytesInto(this.#keyBytes, nonce(NONCE_BLOB, offset), stored, id, this.#segment, this.#lead + this.#used);
    this.#used += storedLength;
    const entry: PackEntry = { id, type: this.type, compression, offset, storedLength, rawLength };
    this.entries.push(entry);
    return entry;
  }

  get writesInFlight(): number {
    return this.#writes.size;
  }

  /** With a spool: resolves once at most `writes` segment writes are in flight, so that the caller's memory stays bounded. */
  async drained(writes = 1): Promise<void> {
    while (this.#writes.size > writes) await Promise.race(this.#writes);
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  #nextSegment(room: number): void {
    this.#emit(this.#segment, this.#lead, this.#used);
    this.#start += this.#used;
    this.#lead = this.spool ? this.#start % BLOCK : 0;
    this.#segment = takeSegment(this.#lead + room);
    this.#used = 0;
  }

  /** A filled segment leaves: kept, or hashed and written to the spool (and then reused). */
  #emit(segment: Buffer, lead: number, used: number): void {
    if (!this.spool) {
      this.#kept.push([segment, used]);
      return;
    }
    const piece = segment.subarray(lead, lead + used);
    const write = Promise.all([this.spool.write(piece, this.#start), this.#hash!.update(piece)]).then(
      () => giveBack(segment),
      (err: unknown) => {
        this.#writeError ??= err;
      },
    );
    this.#writes.add(write);
    void write.finally(() => this.#writes.delete(write));
  }

  /** The sealed header (the entries) and the 4-byte length that end the pack. */
  #tail(): Buffer[] {
    const header = Buffer.alloc(ENTRY_BYTES * this.entries.length);
    this.entries.forEach((e, i) => writeEntry(header, i * ENTRY_BYTES, e));
    const sealedHeader = seal(this.#key, nonce(NONCE_PACK_HEADER, this.sizeBytes), header);
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32LE(sealedHeader.byteLength);
    return [sealedHeader, trailer];
  }

  /**
   * Without a spool: the complete pack file as a list of pieces (views of this writer's segments,
   * valid until release()), and its name.
   */
  finishParts(): { name: string; parts: Buffer[] } {
    if (this.spool) throw new Error('finishParts: this pack is spooled; use finishSpooled()');
    const parts = [...this.#kept.map(([segment, used]) => segment.subarray(0, used)), this.#segment.subarray(0, this.#used), ...this.#tail()];
    const hash = createHash('sha256');
    for (const part of parts) hash.update(part);
    return { name: hash.digest('hex'), parts };
  }

  /** Without a spool: the complete pack file in one buffer of its own, and its name. */
  finish(): { name: string; bytes: Buffer } {
    const { name, parts } = this.finishParts();
    return { name, bytes: Buffer.concat(parts) };
  }

  /** With a spool: writes the rest of the pack and waits for every write; returns the pack's name (spool.place() names it). */
  async finishSpooled(): Promise<string> {
    if (!this.spool) throw new Error('finishSpooled: this pack has no spool');
    const tail = Buffer.concat(this.#tail());
    this.#emit(this.#segment, this.#lead, this.#used);
    this.#start += this.#used;
    this.#segment = NO_SEGMENT;
    this.#lead = this.#used = 0;
    this.#emit(tail, 0, tail.byteLength);
    await this.drained(0);
    return this.#hash!.digest();
  }

  /** Gives the segments to the next writers: the parts finishParts() returned must not be used any more. */
  release(): void {
    for (const [segment] of this.#kept) giveBack(segment);
    this.#kept.length = 0;
    giveBack(this.#segment); // (segments being written go back when their write ends)
    this.#segment = NO_SEGMENT;
  }
}
