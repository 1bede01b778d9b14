import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freeNow } from './bytes.ts';

test('freeNow frees a buffer of its own at once, and leaves shared ones alone', () => {
  const own = Buffer.allocUnsafeSlow(1 << 20);
  const sameBytes = new Uint8Array(own.buffer);
  freeNow(own);
  assert.equal(own.buffer.byteLength, 0, 'detached: its memory is gone');
  assert.equal(sameBytes.length, 0);
  freeNow(own); // twice is harmless

  const whole = new Uint8Array(4096);
  const part = whole.subarray(16, 32);
  freeNow(part);
  assert.equal(whole.length, 4096, 'a view of part of a buffer frees nothing');

  // Node hands out small Buffers from one shared pool: freeing one must not touch its neighbours.
  const a = Buffer.from('first');
  const b = Buffer.from('second');
  assert.equal(a.buffer, b.buffer, 'both from the pool');
  freeNow(a);
  assert.equal(a.toString(), 'first');
  assert.equal(b.toString(), 'second');
});
