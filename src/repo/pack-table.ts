// The packs a BlobIndex knows: id and salt, how many entries each pack's listing has and where its
// last blob ends, found by id. In typed arrays, about 90 bytes a pack: an object with two Buffers and a
// hex string per pack took about 420 bytes of JavaScript heap, and loading an index of 100,000
// packs left V8's heap 120 MiB bigger, mostly free room between those objects.

export interface PackRef {
  id: Buffer;
  salt: Buffer;
}

const ID_BYTES = 32;
const EMPTY = -1;

export class PackTable {
  #count = 0;
  /** Per pack: its id, then its salt (32 bytes each). */
  #idSalt = new Uint8Array(0);
  /** Per pack: entries its listing has, duplicates included. */
  #entries = new Uint32Array(0);
  /** Per pack: where its last listed blob ends (offset + length can pass 2^32). */
  #end = new Float64Array(0);
  /** Open addressing by the id's first 4 bytes (ids are SHA-256 hashes), at most half full: pack numbers, or EMPTY. */
  #slots = new Int32Array(0);
  /** PackRef objects as callers ask for them; one per pack, so that caches keyed by it work. */
  #refs: Array<PackRef | undefined> = [];

  constructor() {
    this.#grow(64);
  }

  get count(): number {
    return this.#count;
  }

  /** The pack's number; a pack added before keeps its number. */
  add(id: Uint8Array, salt: Uint8Array): number {
    let slot = this.#probe(id);
    if (this.#slots[slot] !== EMPTY) return this.#slots[slot];
    if (this.#count === this.#entries.length) {
      this.#grow(this.#count * 2);
      slot = this.#probe(id);
    }
    const p = this.#count++;
    this.#idSalt.set(id.subarray(0, ID_BYTES), p * 64);
    this.#idSalt.set(salt.subarray(0, ID_BYTES), p * 64 + ID_BYTES);
    this.#slots[slot] = p;
    this.#refs.push(undefined);
    return p;
  }

  /** The pack's number, or -1. */
  find(id: Uint8Array): number {
    return this.#slots[this.#probe(id)];
  }

  /** The pack as an object (made once, on first use). */
  ref(p: number): PackRef {
    let ref = this.#refs[p];
    if (!ref) {
      if (!(p >= 0 && p < this.#count)) throw new RangeError(`no pack number ${p}`);
      const at = p * 64;
      ref = this.#refs[p] = { id: Buffer.from(this.#idSalt.subarray(at, at + ID_BYTES)), salt: Buffer.from(this.#idSalt.subarray(at + ID_BYTES, at + 64)) };
    }
    return ref;
  }

  /** The pack's id in hex (its file name), read from the table without making its PackRef. */
  idHex(p: number): string {
    if (!(p >= 0 && p < this.#count)) throw new RangeError(`no pack number ${p}`);
    return Buffer.from(this.#idSalt.buffer, this.#idSalt.byteOffset + p * 64, ID_BYTES).toString('hex');
  }

  /** Counts `entries` more in the pack's listing, the last of them ending at `end`. */
  listed(p: number, entries: number, end: number): void {
    this.#entries[p] += entries;
    if (end > this.#end[p]) this.#end[p] = end;
  }

  entryCount(p: number): number {
    return this.#entries[p];
  }

  blobsEnd(p: number): number {
    return this.#end[p];
  }

  #probe(id: Uint8Array): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    const all = this.#idSalt;
    for (let s = (id[0] | (id[1] << 8) | (id[2] << 16) | (id[3] << 24)) & mask; ; s = (s + 1) & mask) {
      const p = slots[s];
      if (p === EMPTY) return s;
      let k = 0;
      while (k < ID_BYTES && all[p * 64 + k] === id[k]) k++;
      if (k === ID_BYTES) return s;
    }
  }

  #grow(capacity: number): void {
    const idSalt = new Uint8Array(capacity * 64);
    idSalt.set(this.#idSalt);
    const entries = new Uint32Array(capacity);
    entries.set(this.#entries);
    const end = new Float64Array(capacity);
    end.set(this.#end);
    [this.#idSalt, this.#entries, this.#end] = [idSalt, entries, end];
    this.#slots = new Int32Array(capacity * 2).fill(EMPTY);
    for (let p = 0; p < this.#count; p++) this.#slots[this.#probe(idSalt.subarray(p * 64, p * 64 + ID_BYTES))] = p;
  }
}
