import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Chunker, gearTable } from './chunker.ts';

const params = { minBytes: 64, avgBytes: 256, maxBytes: 1024 };
const chunker = new Chunker(gearTable(Buffer.alloc(32, 7)), params);

test('chunks cover the input exactly and respect min and max sizes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 20000 }), (data) => {
      const lengths = chunker.split(data);
      assert.equal(lengths.reduce((a, b) => a + b, 0), data.length);
      lengths.forEach((len, i) => {
        assert.ok(len <= params.maxBytes, `chunk ${i} is ${len} bytes`);
        if (i < lengths.length - 1) assert.ok(len >= params.minBytes, `chunk ${i} is ${len} bytes`);
      });
    }),
  );
});

test('streaming cuts (nextCut on partial data) equal cuts on the whole buffer', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 8000 }), fc.integer({ min: 1, max: 3000 }), (data, window) => {
      const whole = chunker.split(data);
      const streamed: number[] = [];
      let start = 0;
      let available = Math.min(window, data.length);
      while (start < data.length) {
        const final = available === data.length;
        const cut = chunker.nextCut(data, start, available, final);
        if (cut < 0) {
          available = Math.min(data.length, available + window);
          continue;
        }
        streamed.push(cut - start);
        start = cut;
      }
      assert.deepEqual(streamed, whole);
    }),
  );
});

/** Deterministic pseudo-random bytes, so these tests cannot flake. */
function pseudoRandom(n: number, seed: number): Buffer {
  return createCipheriv('aes-256-ctr', Buffer.alloc(32, seed), Buffer.alloc(16)).update(Buffer.alloc(n));
}

test('an insertion only changes chunks near it (content-defined boundaries)', () => {
  const data = pseudoRandom(200_000, 1);
  const edited = Buffer.concat([data.subarray(0, 100_000), Buffer.from('inserted bytes'), data.subarray(100_000)]);
  const ends = (buf: Buffer): Set<string> => {
    const set = new Set<string>();
    let at = 0;
    for (const len of chunker.split(buf)) {
      set.add(buf.subarray(at, at + len).toString('hex'));
      at += len;
    }
    return set;
  };
  const before = ends(data);
  const after = ends(edited);
  const shared = [...after].filter((c) => before.has(c)).length;
  // A changed cut can shift the next few (minimum-size skipping), but boundaries resynchronise.
  assert.ok(shared >= after.size * 0.98, `only ${shared} of ${after.size} chunks survived an insertion`);
});

test('the gear table depends on the repository key, so boundaries differ between repositories', () => {
  const data = pseudoRandom(100_000, 2);
  const other = new Chunker(gearTable(Buffer.alloc(32, 8)), params);
  assert.notDeepEqual(chunker.split(data), other.split(data));
});

/**
 * The chunker's hashing loop as it was written in JavaScript, one byte at a time: the reference
 * the native two-bytes-a-step loop (native/gear_cut.c) must agree with, cut for cut, or existing
 * repositories would stop deduplicating against new backups.
 */
function referenceSplit(gear: Uint32Array, p: { minBytes: number; avgBytes: number; maxBytes: number }, buf: Uint8Array): number[] {
  const bits = Math.round(Math.log2(p.avgBytes));
  const mask = (b: number): number => (((1 << b) - 1) << (32 - b)) >>> 0;
  const lengths: number[] = [];
  for (let start = 0; start < buf.length; ) {
    let cut = Math.min(buf.length, start + p.maxBytes);
    if (buf.length - start > p.minBytes) {
      let h = 0;
      for (let i = start + p.minBytes; i < cut; i++) {
        h = ((h << 1) + gear[buf[i]]) | 0;
        if ((h & (i < start + p.avgBytes ? mask(bits + 2) : mask(bits - 2))) === 0) {
          cut = i + 1;
          break;
        }
      }
    }
    lengths.push(cut - start);
    start = cut;
  }
  return lengths;
}

test('the native hashing loop cuts where the one-byte JavaScript loop cuts, for any sizes and data', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 30000 }),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 0, max: 3 }),
      fc.integer({ min: 0, max: 4000 }),
      fc.integer({ min: 0, max: 255 }),
      (data, minBytes, avgShift, extraMax, seed) => {
        const p = { minBytes, avgBytes: minBytes << avgShift, maxBytes: (minBytes << avgShift) + extraMax };
        const gear = gearTable(Buffer.alloc(32, seed));
        assert.deepEqual(new Chunker(gear, p).split(data), referenceSplit(gear, p, data));
      },
    ),
    { numRuns: 300 },
  );
  // The default sizes on a few MiB, where the loose mask after the average size also matters.
  const data = pseudoRandom(6 << 20, 3);
  const gear = gearTable(Buffer.alloc(32, 9));
  const sizes = { minBytes: 256 * 1024, avgBytes: 512 * 1024, maxBytes: 4 * 1024 * 1024 };
  assert.deepEqual(new Chunker(gear, sizes).split(data), referenceSplit(gear, sizes, data));
});
