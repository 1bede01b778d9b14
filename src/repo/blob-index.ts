// The in-memory blob index: where every blob lives. Held in typed arrays with open addressing
// (about 60 bytes per blob) rather than a Map of objects, because this is the structure that
// grows with the repository: 10 million blobs fit in well under 1 GiB.
import type { BlobType } from './pack.ts';
import { BLOB_TYPES } from './pack.ts';

export interface PackRef {
  id: Buffer;
  salt: Buffer;
}

export interface BlobLocation {
  pack: PackRef;
  packIndex: number;
  type: BlobType;
  compression: number;
  offset: number;
  storedLength: number;
  rawLength: number;
}

const EMPTY = -1;

export class BlobIndex {
  readonly packs: PackRef[] = [];
  readonly #packByHex = new Map<string, number>();
  /** Per pack: entries its listing has, duplicates included, and where its last blob ends. */
  readonly #packEntries: number[] = [];
  readonly #packEnd: number[] = [];
  #capacity = 0;
  #count = 0;
  #ids = new Uint8Array(0);
  #pack = new Uint32Array(0);
  #offset = new Uint32Array(0);
  #stored = new Uint32Array(0);
  #raw = new Uint32Array(0);
  #flags = new Uint8Array(0);
  #slots = new Int32Array(0);

  constructor(initialCapacity = 1024) {
    this.#grow(initialCapacity);
  }

  get size(): number {
    return this.#count;
  }

  addPack(id: Buffer, salt: Buffer): number {
    const hex = id.toString('hex');
    const existing = this.#packByHex.get(hex);
    if (existing !== undefined) return existing;
    this.packs.push({ id, salt });
    this.#packEntries.push(0);
    this.#packEnd.push(0);
    this.#packByHex.set(hex, this.packs.length - 1);
    return this.packs.length - 1;
  }

  hasPack(idHex: string): boolean {
    return this.#packByHex.has(idHex);
  }

  /** How many blobs the pack's listing has, including those another pack's location shadows. */
  packEntryCount(packIndex: number): number {
    return this.#packEntries[packIndex];
  }

  /** Where the pack's last listed blob ends. */
  packBlobsEnd(packIndex: number): number {
    return this.#packEnd[packIndex];
  }

  /**
   * Adds a blob; a second location for the same id is not kept (the first one wins) but still
   * counts in its pack's listing, so the pack's size can be checked against it.
   */
  add(id: Uint8Array, packIndex: number, type: BlobType, compression: number, offset: number, storedLength: number, rawLength: number): void {
    this.#packEntries[packIndex]++;
    this.#packEnd[packIndex] = Math.max(this.#packEnd[packIndex], offset + storedLength);
    if (this.#find(id) !== EMPTY) return;
    if ((this.#count + 1) * 2 > this.#slots.length) this.#grow(this.#capacity * 2);
    const i = this.#count++;
    this.#ids.set(id.subarray(0, 32), i * 32);
    this.#pack[i] = packIndex;
    this.#offset[i] = offset;
    this.#stored[i] = storedLength;
    this.#raw[i] = rawLength;
    this.#flags[i] = BLOB_TYPES.indexOf(type) | (compression << 4);
    this.#insertSlot(i);
  }

  has(id: Uint8Array): boolean {
    return this.#find(id) !== EMPTY;
  }

  get(id: Uint8Array): BlobLocation | undefined {
    const i = this.#find(id);
    if (i === EMPTY) return undefined;
    const packIndex = this.#pack[i];
    return {
      pack: this.packs[packIndex],
      packIndex,
      type: BLOB_TYPES[this.#flags[i] & 0x0f],
      compression: this.#flags[i] >> 4,
      offset: this.#offset[i],
      storedLength: this.#stored[i],
      rawLength: this.#raw[i],
    };
  }

  /** The blob's position (0 ≤ position < size), or -1: for per-blob marks in a typed array. */
  position(id: Uint8Array): number {
    return this.#find(id);
  }

  /** The blob at a position. */
  at(position: number): [Buffer, BlobLocation] {
    const id = Buffer.from(this.#ids.subarray(position * 32, position * 32 + 32));
    return [id, this.get(id)!];
  }

  packIndexAt(position: number): number {
    return this.#pack[position];
  }

  offsetAt(position: number): number {
    return this.#offset[position];
  }

  storedLengthAt(position: number): number {
    return this.#stored[position];
  }

  /**
   * Blob positions grouped by pack, in 4 bytes per blob: `of(p)` lists pack p's positions.
   * For the commands that go through the repository pack by pack (check, prune, repair).
   */
  groupByPack(): { of(packIndex: number): Uint32Array } {
    const start = new Uint32Array(this.packs.length + 1);
    for (let i = 0; i < this.#count; i++) start[this.#pack[i] + 1]++;
    for (let p = 0; p < this.packs.length; p++) start[p + 1] += start[p];
    const order = new Uint32Array(this.#count);
    const next = start.slice(0, this.packs.length);
    for (let i = 0; i < this.#count; i++) order[next[this.#pack[i]]++] = i;
    return { of: (p) => order.subarray(start[p], start[p + 1]) };
  }

  /** Every blob id with its location; for check and index writing. */
  *entries(): Generator<[Buffer, BlobLocation]> {
    for (let i = 0; i < this.#count; i++) {
      const id = Buffer.from(this.#ids.subarray(i * 32, i * 32 + 32));
      yield [id, this.get(id)!];
    }
  }

  #hash(id: Uint8Array): number {
    // Ids are MAC outputs: any 4 bytes are uniformly distributed.
    return (id[0] | (id[1] << 8) | (id[2] << 16) | (id[3] << 24)) >>> 0;
  }

  #find(id: Uint8Array): number {
    const mask = this.#slots.length - 1;
    let s = this.#hash(id) & mask;
    for (;;) {
      const i = this.#slots[s];
      if (i === EMPTY) return EMPTY;
      if (this.#idEquals(i, id)) return i;
      s = (s + 1) & mask;
    }
  }

  #idEquals(i: number, id: Uint8Array): boolean {
    const base = i * 32;
    for (let k = 0; k < 32; k++) if (this.#ids[base + k] !== id[k]) return false;
    return true;
  }

  #insertSlot(i: number): void {
    const mask = this.#slots.length - 1;
    let s = this.#hash(this.#ids.subarray(i * 32, i * 32 + 4)) & mask;
    while (this.#slots[s] !== EMPTY) s = (s + 1) & mask;
    this.#slots[s] = i;
  }

  #grow(capacity: number): void {
    const copy = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
      const next = make(capacity * width);
      next.set(old.subarray(0, this.#count * width));
      return next;
    };
    this.#ids = copy(this.#ids, (n) => new Uint8Array(n), 32);
    this.#pack = copy(this.#pack, (n) => new Uint32Array(n));
    this.#offset = copy(this.#offset, (n) => new Uint32Array(n));
    this.#stored = copy(this.#stored, (n) => new Uint32Array(n));
    this.#raw = copy(this.#raw, (n) => new Uint32Array(n));
    this.#flags = copy(this.#flags, (n) => new Uint8Array(n));
    this.#capacity = capacity;
    this.#slots = new Int32Array(capacity * 2).fill(EMPTY);
    for (let i = 0; i < this.#count; i++) this.#insertSlot(i);
  }
}
