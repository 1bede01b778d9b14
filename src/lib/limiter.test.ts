import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { Limiter } from './limiter.ts';

test('the limiter never lets more than its slots run, and serves waiters in the order they came', async () => {
  const limiter = new Limiter(3);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await Promise.all(
    Array.from({ length: 3000 }, (_, i) =>
      limiter.run(async () => {
        started.push(i);
        most = Math.max(most, ++running);
        await turn();
        running--;
      }),
    ),
  );
  assert.equal(most, 3);
  assert.deepEqual(started, Array.from({ length: 3000 }, (_, i) => i));
});

test('a request for several slots is not overtaken by later small ones', async () => {
  const limiter = new Limiter(4);
  const order: string[] = [];
  await limiter.acquire(3);
  const big = limiter.acquire(4).then(() => order.push('big'));
  const small = limiter.acquire(1).then(() => order.push('small'));
  await turn();
  assert.deepEqual(order, [], 'one slot is free, but the big request came first');
  limiter.release(3);
  await big;
  assert.deepEqual(order, ['big']);
  limiter.release(4);
  await small;
  assert.deepEqual(order, ['big', 'small']);
});
