// The in-memory blob index: where every blob lives. Held in typed arrays with open addressing
// (56 bytes a blob after loading 10,000,000) rather than a Map of objects, because this is the
// structure that grows with the repository: 10 million blobs fit in well under 1 GiB.
import type { BlobType, PackEntry } from './pack.ts';
import { BLOB_TYPES, ENTRY_BYTES } from './pack.ts';
import { addIdPrefix } from './id-prefixes.ts';
import { PackTable, type PackRef } from './pack-table.ts';

export type { PackRef };

export interface BlobLocation {
  pack: PackRef;
  packIndex: number;
  /** The blob's position in the index (BlobIndex.position). */
  position: number;
  type: BlobType;
  compression: number;
  offset: number;
  storedLength: number;
  rawLength: number;
}

const EMPTY = -1;

export class BlobIndex {
  readonly #packs = new PackTable();
  #capacity = 0;
  #count = 0;
  #ids = new Uint8Array(0);
  #pack = new Uint32Array(0);
  #offset = new Uint32Array(0);
  #stored = new Uint32Array(0);
  #raw = new Uint32Array(0);
  #flags = new Uint8Array(0);
  /**
   * Open addressing: a slot holds (tag << #indexBits) | position, or EMPTY. The tag is bits of the
   * id that the slot number does not use, so a probe passing an occupied slot compares the tag it
   * already holds instead of reading that blob's id from far away in memory. Loading 10,000,000
   * blobs spent most of its time in those reads (the table is far larger than the CPU's caches).
   * The table has 4/3 as many slots as there is room for blobs, not a power of two: an id's first
   * slot is its hash scaled to the table (#home): 5.3 bytes for each blob there is room for, where
   * rounding up to a power of two took 5.3-10.7.
   */
  #slots = new Int32Array(0);
  /** #slots.length / 2^32: #home's scale. */
  #scale = 0;
  #indexBits = 0;
  #indexMask = 0;
  #tagMask = 0;
  /** Between beginBulk() and endBulk(): blobs are appended, and the slots are built at the end. */
  #bulk = false;

  constructor(initialCapacity = 1024) {
    this.#grow(initialCapacity);
  }

  get size(): number {
    return this.#count;
  }

  /** The pack's number; a pack added before keeps its number. */
  addPack(id: Uint8Array, salt: Uint8Array): number {
    return this.#packs.add(id, salt);
  }

  /** The pack's number, or -1. */
  findPack(id: Uint8Array): number {
    return this.#packs.find(id);
  }

  hasPack(idHex: string): boolean {
    return idHex.length === 64 && this.#packs.find(Buffer.from(idHex, 'hex')) !== EMPTY;
  }

  get packCount(): number {
    return this.#packs.count;
  }

  pack(packIndex: number): PackRef {
    return this.#packs.ref(packIndex);
  }

  /** Every pack's id in hex (its file name), by pack number. */
  packNames(): string[] {
    return Array.from({ length: this.#packs.count }, (_, p) => this.#packs.idHex(p));
  }

  /** How many blobs the pack's listing has, including those another pack's location shadows. */
  packEntryCount(packIndex: number): number {
    return this.#packs.entryCount(packIndex);
  }

  /** Where the pack's last listed blob ends. */
  packBlobsEnd(packIndex: number): number {
    return this.#packs.blobsEnd(packIndex);
  }

  /**
   * Adds a blob; a second location for the same id is not kept (the first one wins) but still
   * counts in its pack's listing, so the pack's size can be checked against it.
   */
  add(id: Uint8Array, packIndex: number, type: BlobType, compression: number, offset: number, storedLength: number, rawLength: number): void {
    this.#addAt(id, 0, packIndex, BLOB_TYPES.indexOf(type) | (compression << 4), offset, storedLength, rawLength);
  }

  /**
   * Adds `count` entries of a pack straight from an entry table in the index/pack-header layout
   * (46 bytes each: id 32 | type | compression | offset u32 | stored u32 | raw u32): no object
   * per blob, which is what keeps loading a big index fast and small. The caller has validated it.
   */
  addTable(packIndex: number, table: Buffer, count: number): void {
    this.reserve(this.#count + count);
    if (!this.#bulk) {
      for (let k = 0, at = 0; k < count; k++, at += ENTRY_BYTES) {
        this.#addAt(table, at, packIndex, table[at + 32] | (table[at + 33] << 4), table.readUInt32LE(at + 34), table.readUInt32LE(at + 38), table.readUInt32LE(at + 42));
      }
      return;
    }
    // A bulk load only appends: one pass over the table, the ids copied 4 bytes at a time (the
    // index's ids start at multiples of 32 bytes; the table's entries at any byte).
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const ids = new Uint32Array(this.#ids.buffer, this.#ids.byteOffset, this.#ids.length >>> 2);
    const [pack, offsets, storedLengths, rawLengths, flags] = [this.#pack, this.#offset, this.#stored, this.#raw, this.#flags];
    let end = 0;
    for (let k = 0, at = 0, i = this.#count; k < count; k++, at += ENTRY_BYTES, i++) {
      for (let w = 0; w < 8; w++) ids[i * 8 + w] = view.getUint32(at + w * 4, true);
      const offset = view.getUint32(at + 34, true);
      const stored = view.getUint32(at + 38, true);
      pack[i] = packIndex;
      offsets[i] = offset;
      storedLengths[i] = stored;
      rawLengths[i] = view.getUint32(at + 42, true);
      flags[i] = table[at + 32] | (table[at + 33] << 4);
      if (offset + stored > end) end = offset + stored;
    }
    this.#count += count;
    this.#packs.listed(packIndex, count, end);
  }

  #addAt(src: Uint8Array, at: number, packIndex: number, flags: number, offset: number, storedLength: number, rawLength: number): void {
    this.#packs.listed(packIndex, 1, offset + storedLength);
    this.reserve(this.#count + 1);
    const i = this.#count;
    if (!this.#bulk) {
      const slot = this.#probe(src, at);
      if (this.#slots[slot] !== EMPTY) return;
      this.#slots[slot] = (this.#tag(src, at) << this.#indexBits) | i;
    }
    this.#count++;
    const ids = this.#ids;
    for (let k = 0, b = i * 32; k < 32; k++) ids[b + k] = src[at + k]; // no view object per blob
    this.#pack[i] = packIndex;
    this.#offset[i] = offset;
    this.#stored[i] = storedLength;
    this.#raw[i] = rawLength;
    this.#flags[i] = flags;
  }

  /**
   * Room for `count` blobs. Loading calls it once with the total its index files' sizes imply,
   * so a big index is allocated once, at its size; later growth is by half again, not double.
   */
  reserve(count: number): void {
    if (count > this.#capacity) this.#grow(Math.max(count, Math.ceil(this.#capacity * 1.5)));
  }

  has(id: Uint8Array): boolean {
    return this.#find(id) !== EMPTY;
  }

  get(id: Uint8Array): BlobLocation | undefined {
    const i = this.#find(id);
    return i === EMPTY ? undefined : this.#locationAt(i);
  }

  /** The blob's position (0 ≤ position < size), or -1: for per-blob marks in a typed array. */
  position(id: Uint8Array): number {
    return this.#find(id);
  }

  /** The blob at a position (read from the arrays: no lookup of its id). */
  at(position: number): [Buffer, BlobLocation] {
    return [Buffer.from(this.#ids.subarray(position * 32, position * 32 + 32)), this.#locationAt(position)];
  }

  /**
   * The first 8 bytes of every id, in an open-addressing table in shared memory (id-prefixes.ts),
   * for the chunk workers: a chunk whose prefix is there is almost surely a blob the repository
   * has, so the worker does not compress it. A false match only leaves a new blob uncompressed.
   * 16 bytes a blob, and room for `more` blobs added later (addIdPrefix) at a load of at most a half.
   */
  idPrefixes(more = 0): BigUint64Array {
    let slots = 1024;
    while (slots < (this.#count + more) * 2) slots *= 2;
    const table = new BigUint64Array(new SharedArrayBuffer(slots * 8));
    const view = new DataView(this.#ids.buffer, this.#ids.byteOffset);
    for (let i = 0; i < this.#count; i++) addIdPrefix(table, view.getBigUint64(i * 32, true) || 1n);
    return table;
  }

  /** The blob at a position in the shape index files and pack headers store. */
  entryAt(position: number): PackEntry {
    const [id, loc] = this.at(position);
    return { id, type: loc.type, compression: loc.compression, offset: loc.offset, storedLength: loc.storedLength, rawLength: loc.rawLength };
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
    const packs = this.#packs.count;
    const start = new Uint32Array(packs + 1);
    for (let i = 0; i < this.#count; i++) start[this.#pack[i] + 1]++;
    for (let p = 0; p < packs; p++) start[p + 1] += start[p];
    const order = new Uint32Array(this.#count);
    const next = start.slice(0, packs);
    for (let i = 0; i < this.#count; i++) order[next[this.#pack[i]]++] = i;
    return { of: (p) => order.subarray(start[p], start[p + 1]) };
  }

  /** Every blob id with its location; for check and index writing. */
  *entries(): Generator<[Buffer, BlobLocation]> {
    for (let i = 0; i < this.#count; i++) yield this.at(i);
  }

  #locationAt(i: number): BlobLocation {
    const packIndex = this.#pack[i];
    return {
      pack: this.#packs.ref(packIndex),
      packIndex,
      position: i,
      type: BLOB_TYPES[this.#flags[i] & 0x0f],
      compression: this.#flags[i] >> 4,
      offset: this.#offset[i],
      storedLength: this.#stored[i],
      rawLength: this.#raw[i],
    };
  }

  #hash(id: Uint8Array, at = 0): number {
    // Ids are MAC outputs: any 4 bytes are uniformly distributed.
    return (id[at] | (id[at + 1] << 8) | (id[at + 2] << 16) | (id[at + 3] << 24)) >>> 0;
  }

  /** The id's first slot: its hash scaled to the table. Exact in doubles, and never the table's length. */
  #home(h: number): number {
    return (h * this.#scale) | 0;
  }

  /** Bits of the id independent of #hash's (the slot number), as many as the slot has room for. */
  #tag(id: Uint8Array, at: number): number {
    return (id[at + 4] | (id[at + 5] << 8)) & this.#tagMask;
  }

  /** The position of the id at `src[at..at+32]`, or EMPTY. */
  #find(src: Uint8Array, at = 0): number {
    if (this.#bulk) throw new Error('BlobIndex: a lookup during a bulk load');
    const v = this.#slots[this.#probe(src, at)];
    return v === EMPTY ? EMPTY : v & this.#indexMask;
  }

  /** The slot that holds the id at `src[at..at+32]`, or the empty slot where it would go. */
  #probe(src: Uint8Array, at: number): number {
    const slots = this.#slots;
    const ids = this.#ids;
    const h = this.#hash(src, at);
    const tag = this.#tag(src, at);
    let s = this.#home(h);
    for (;;) {
      const v = slots[s];
      if (v === EMPTY) return s;
      // The tag rejects most other ids; their first 4 bytes (the hash) almost all the rest.
      if (v >>> this.#indexBits === tag) {
        const i = v & this.#indexMask;
        if (this.#hash(ids, i * 32) === h && this.#idEquals(i, src, at)) return s;
      }
      if (++s === slots.length) s = 0;
    }
  }

  #idEquals(i: number, src: Uint8Array, at: number): boolean {
    const base = i * 32;
    for (let k = 0; k < 32; k++) if (this.#ids[base + k] !== src[at + k]) return false;
    return true;
  }

  #insertSlot(i: number): void {
    let s = this.#home(this.#hash(this.#ids, i * 32));
    while (this.#slots[s] !== EMPTY) if (++s === this.#slots.length) s = 0;
    this.#slots[s] = (this.#tag(this.#ids, i * 32) << this.#indexBits) | i;
  }

  /**
   * A bulk load (the index files at start): blobs are only appended, and endBulk() builds the slot
   * table once, inserting in the order of their home slots so that it is written nearly in
   * sequence. Inserted one by one, each blob cost a few cache misses in a table far larger than
   * the caches: most of the time of loading 10,000,000 blobs. Lookups wait for endBulk().
   */
  beginBulk(): void {
    this.#bulk = true;
  }

  endBulk(): void {
    this.#bulk = false;
    const duplicates = this.#buildSlots();
    if (!duplicates) return;
    // The same blob listed by two packs (two writers stored it): the earlier position stays.
    let w = 0;
    for (let i = 0; i < this.#count; i++) {
      if (duplicates[i]) continue;
      if (w !== i) {
        this.#ids.copyWithin(w * 32, i * 32, i * 32 + 32);
        this.#pack[w] = this.#pack[i];
        this.#offset[w] = this.#offset[i];
        this.#stored[w] = this.#stored[i];
        this.#raw[w] = this.#raw[i];
        this.#flags[w] = this.#flags[i];
      }
      w++;
    }
    this.#count = w;
    this.#buildSlots();
  }

  /** Fills the slot table from scratch; returns a mark per position that repeats an earlier id, if any does. */
  #buildSlots(): Uint8Array | undefined {
    const n = this.#count;
    const ids = this.#ids;
    const slots = this.#slots.fill(EMPTY);
    // 4096 regions of the table, by the hash's top 12 bits: #home grows with the hash.
    const start = new Uint32Array(4096 + 1);
    for (let i = 0; i < n; i++) start[(this.#hash(ids, i * 32) >>> 20) + 1]++;
    for (let r = 1; r < start.length; r++) start[r] += start[r - 1];
    // Pairs of (slot value, home slot), by region: the insert loop then reads nothing else.
    const order = new Uint32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const h = this.#hash(ids, i * 32);
      const at = start[h >>> 20]++ * 2;
      order[at] = (this.#tag(ids, i * 32) << this.#indexBits) | i;
      order[at + 1] = this.#home(h);
    }
    let duplicates: Uint8Array | undefined;
    for (let k = 0; k < order.length; k += 2) {
      const v = order[k];
      const i = v & this.#indexMask;
      for (let s = order[k + 1]; ; s = s + 1 === slots.length ? 0 : s + 1) {
        const held = slots[s];
        if (held === EMPTY) {
          slots[s] = v;
          break;
        }
        const j = held & this.#indexMask;
        if (held >>> this.#indexBits === v >>> this.#indexBits && this.#idEquals(j, ids, i * 32)) {
          duplicates ??= new Uint8Array(n);
          if (i < j) slots[s] = v;
          duplicates[Math.max(i, j)] = 1;
          break;
        }
      }
    }
    return duplicates;
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
    // Open addressing at a load of at most 3/4.
    this.#slots = new Int32Array(Math.ceil((capacity * 4) / 3) + 1).fill(EMPTY);
    this.#scale = this.#slots.length / 2 ** 32;
    // Slots stay non-negative 31-bit numbers, so EMPTY (-1) is never a real one.
    this.#indexBits = Math.max(1, Math.ceil(Math.log2(capacity + 1)));
    this.#indexMask = 2 ** this.#indexBits - 1;
    this.#tagMask = 2 ** Math.max(0, Math.min(16, 31 - this.#indexBits)) - 1;
    if (!this.#bulk) for (let i = 0; i < this.#count; i++) this.#insertSlot(i);
  }
}
