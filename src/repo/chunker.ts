// FastCDC content-defined chunking (Xia et al. 2016/2020: gear hash, normalized chunking with a
// stricter mask before the average size and a looser one after). The gear table is derived from
// the repository's chunker key, so chunk boundaries, and thus sizes, do not reveal which known
// files are stored. A backup's files are cut in the native addon (native/chunk_files.c, with the
// loop of native/gear_cut.c and the sizes and masks given from here); this class cuts the same
// way where a buffer is at hand, and its tests hold the JavaScript loop as the reference.
import { createCipheriv } from 'node:crypto';
import { nativeAddon } from '../lib/native-addon.ts';

export { macBlob } from './crypto.ts';

export interface ChunkerParams {
  minBytes: number;
  avgBytes: number;
  maxBytes: number;
}

/** Chosen by measurement on the benchmark corpus: see docs/repository-format.md, "Chunk sizes". */
export const DEFAULT_CHUNKER: ChunkerParams = { minBytes: 256 * 1024, avgBytes: 512 * 1024, maxBytes: 4 * 1024 * 1024 };

/** 256 pseudo-random 32-bit values: AES-256-CTR keystream under the chunker key. */
export function gearTable(chunkerKey: Uint8Array): Uint32Array {
  const cipher = createCipheriv('aes-256-ctr', chunkerKey, Buffer.alloc(16));
  const stream = cipher.update(Buffer.alloc(256 * 4));
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) table[i] = stream.readUInt32LE(i * 4);
  return table;
}

function maskOfBits(bits: number): number {
  // The top bits of the hash depend on the last 32 bytes; use them, not the low bits.
  return (((1 << bits) - 1) << (32 - bits)) >>> 0;
}

/** The masks a cut is tested with: before the average size (strict), and after it (loose). */
export function chunkerMasks(params: ChunkerParams): [number, number] {
  const bits = Math.round(Math.log2(params.avgBytes));
  return [maskOfBits(bits + 2), maskOfBits(bits - 2)];
}

export class Chunker {
  readonly params: ChunkerParams;
  readonly #gear: Uint32Array;
  readonly #maskStrict: number;
  readonly #maskLoose: number;
  readonly #native = nativeAddon();

  constructor(gear: Uint32Array, params: ChunkerParams) {
    if (!(params.minBytes > 0 && params.minBytes <= params.avgBytes && params.avgBytes <= params.maxBytes)) {
      throw new Error(`invalid chunker sizes ${JSON.stringify(params)}`);
    }
    this.params = params;
    this.#gear = gear;
    [this.#maskStrict, this.#maskLoose] = chunkerMasks(params);
  }

  /**
   * The end (exclusive) of the chunk starting at `start` in `buf[start, end)`. When `final` is
   * false and no boundary is found before the data runs out, returns -1: more data is needed.
   */
  nextCut(buf: Uint8Array, start: number, end: number, final: boolean): number {
    const { minBytes, avgBytes, maxBytes } = this.params;
    const available = end - start;
    if (available <= minBytes) return final ? end : -1;
    const limit = Math.min(available, maxBytes);
    const normal = Math.min(avgBytes, limit);
    const cut = this.#native.gearCut(buf, start + minBytes, start + normal, start + limit, this.#maskStrict, this.#maskLoose, this.#gear);
    if (cut >= 0) return cut;
    const limitEnd = start + limit;
    if (limit === maxBytes || final) return limitEnd;
    return -1;
  }

  /** All chunk lengths of a complete buffer (for tests and small inputs). */
  split(buf: Uint8Array): number[] {
    const lengths: number[] = [];
    let start = 0;
    while (start < buf.length) {
      const cut = this.nextCut(buf, start, buf.length, true);
      lengths.push(cut - start);
      start = cut;
    }
    return lengths;
  }
}
