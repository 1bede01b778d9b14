import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingSpace } from './ring-space.ts';

test('a ring hands out contiguous pieces in order and wraps once the oldest are given back', () => {
  const ring = new RingSpace(100);
  const a = ring.take(40)!;
  const b = ring.take(40)!;
  assert.deepEqual([a, b], [{ number: 0, start: 0 }, { number: 1, start: 40 }]);
  assert.equal(ring.take(30), undefined, '20 bytes left at the end, none at the start');
  assert.ok(ring.giveBack(a.number));
  const c = ring.take(30)!;
  assert.deepEqual(c, { number: 2, start: 0 }, 'wrapped to the start: the end has only 20');
  assert.equal(ring.take(11), undefined, 'wrapped: only [30, 40) is free');
  assert.deepEqual(ring.take(10), { number: 3, start: 30 });
  assert.equal(ring.live, 3);
});

test('space comes back only when every older piece is given back', () => {
  const ring = new RingSpace(100);
  const pieces = [ring.take(50)!, ring.take(50)!];
  assert.ok(ring.giveBack(pieces[1].number), 'the newer one first');
  assert.equal(ring.take(1), undefined, 'still held by the older piece');
  assert.ok(ring.giveBack(pieces[0].number));
  assert.equal(ring.live, 0);
  assert.deepEqual(ring.take(100), { number: 2, start: 0 });
  assert.equal(ring.giveBack(pieces[0].number), false, 'given back twice');
  assert.equal(ring.giveBack(99), false, 'never handed out');
});

test('the newest piece shrinks to what was written into it', () => {
  const ring = new RingSpace(100);
  const a = ring.take(60)!;
  ring.shrinkNewest(a.number, 20);
  assert.deepEqual(ring.take(80), { number: 1, start: 20 });
  assert.throws(() => ring.shrinkNewest(a.number, 10), RangeError, 'no longer the newest');
  assert.throws(() => ring.take(101), RangeError);
});

test('many small pieces given back out of order keep the ring consistent', () => {
  const ring = new RingSpace(1000);
  const out = new Map<number, { start: number; length: number }>();
  let seed = 7;
  const random = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let step = 0; step < 20_000; step++) {
    if (out.size > 0 && (random(3) === 0 || out.size > 40)) {
      const numbers = [...out.keys()];
      const n = numbers[random(numbers.length)];
      assert.ok(ring.giveBack(n));
      out.delete(n);
      continue;
    }
    const length = 1 + random(120);
    const piece = ring.take(length);
    if (!piece) continue;
    assert.ok(piece.start + length <= 1000);
    for (const other of out.values()) assert.ok(piece.start + length <= other.start || other.start + other.length <= piece.start, 'no overlap with a live piece');
    out.set(piece.number, { start: piece.start, length });
  }
});
