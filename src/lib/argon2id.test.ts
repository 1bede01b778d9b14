import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { argon2id, argon2idIsVectorised, argon2idOpenSsl } from './argon2id.ts';

const password = Buffer.from('password');
const salt = Buffer.from('somesaltsomesalt');

// Known answers from Debian's `argon2` tool (the reference implementation, phc-winner-argon2):
//   echo -n password | argon2 somesaltsomesalt -id -t 2 -m 10 -p 2 -l 32 -r
//   echo -n password | argon2 somesaltsomesalt -id -t 1 -m 12 -p 4 -l 24 -r
const KNOWN = [
  { cost: { memoryKiB: 1024, passes: 2, parallelism: 2 }, tagLength: 32, hex: '136523b6b0d30a0231e267e9a90f46c0bcef69bb90b9509cc22b2a0516d223ee' },
  { cost: { memoryKiB: 4096, passes: 1, parallelism: 4 }, tagLength: 24, hex: 'aaab6eb290295396c52aa1a4451dae5e014685e1677424ee' },
];

test('argon2id gives the reference implementation\'s answers, through either implementation', async () => {
  assert.ok(argon2idIsVectorised(), '@node-rs/argon2 is installed by npm ci on this platform');
  for (const { cost, tagLength, hex } of KNOWN) {
    assert.equal((await argon2id(password, salt, cost, tagLength)).toString('hex'), hex);
    assert.equal((await argon2idOpenSsl(password, salt, cost, tagLength)).toString('hex'), hex);
  }
});

test('the vectorised argon2id and node:crypto\'s agree on random inputs and costs (so existing key slots open)', async () => {
  for (let i = 0; i < 12; i++) {
    const parallelism = 1 + (i % 4);
    const cost = { memoryKiB: 8 * parallelism * (1 + (i % 5)) + 64 * i, passes: 1 + (i % 3), parallelism };
    const pw = randomBytes(i * 3);
    const s = randomBytes(8 + i * 4);
    const [a, b] = await Promise.all([argon2id(pw, s, cost), argon2idOpenSsl(pw, s, cost)]);
    assert.equal(a.length, 32);
    assert.deepEqual(a, b, `cost ${JSON.stringify(cost)}, salt of ${s.length} bytes, password of ${pw.length}`);
  }
});

test('argon2id rejects what argon2 does not allow, with an error, not a wrong key', async () => {
  await assert.rejects(argon2id(password, Buffer.from('short'), { memoryKiB: 1024, passes: 1, parallelism: 1 }));
  await assert.rejects(argon2id(password, salt, { memoryKiB: 8, passes: 1, parallelism: 4 }));
  await assert.rejects(argon2idOpenSsl(password, Buffer.from('short'), { memoryKiB: 1024, passes: 1, parallelism: 1 }));
});
