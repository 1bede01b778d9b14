import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nativeAddon } from '../lib/native-addon.ts';
import { macBlob, nonce, seal, sealWithKeyBytesInto, unseal, unsealWithKeyBytes, NONCE_BLOB } from './crypto.ts';

const sizes = [0, 1, 15, 16, 17, 4096, 100_000, 2 * 1024 * 1024 + 3];

test("the addon's HMAC and AES-256-GCM give node:crypto's bytes, whichever key came before", () => {
  assert.equal(typeof nativeAddon().blobMac, 'function', 'the native path is the one under test');
  const keys = [randomBytes(32), randomBytes(32)];
  for (const size of sizes) {
    const data = randomBytes(size);
    const aad = randomBytes(32);
    // Alternating keys: each call must set its own key up again.
    for (const key of [...keys, keys[0]]) {
      assert.deepEqual(macBlob(key, data), createHmac('sha256', key).update(data).digest(), `MAC of ${size} bytes`);
      const iv = nonce(NONCE_BLOB, size * 7);
      const into = Buffer.alloc(size + 16 + 10, 0xee);
      assert.equal(sealWithKeyBytesInto(key, iv, data, aad, into, 7), size + 16);
      const sealed = into.subarray(7, 7 + size + 16);
      assert.deepEqual(sealed, seal(key, iv, data, aad), `sealing ${size} bytes in place`);
      assert.deepEqual([into[6], into[size + 23]], [0xee, 0xee], 'nothing written around it');
      assert.deepEqual(unsealWithKeyBytes(key, iv, sealed, aad), data);
      assert.deepEqual(unseal(key, iv, sealed, 'blob', aad), data);
    }
  }
});

test('opening refuses what does not authenticate, and the next blob still opens', () => {
  const [key, other] = [randomBytes(32), randomBytes(32)];
  const data = randomBytes(5000);
  const aad = randomBytes(32);
  const iv = nonce(NONCE_BLOB, 4096);
  const sealed = Buffer.alloc(data.length + 16);
  sealWithKeyBytesInto(key, iv, data, aad, sealed, 0);
  for (const at of [0, 2500, sealed.length - 1]) {
    const damaged = Buffer.from(sealed);
    damaged[at] ^= 0x80;
    assert.equal(unsealWithKeyBytes(key, iv, damaged, aad), undefined, `byte ${at} flipped`);
  }
  assert.equal(unsealWithKeyBytes(other, iv, sealed, aad), undefined, 'another key');
  assert.equal(unsealWithKeyBytes(key, nonce(NONCE_BLOB, 4097), sealed, aad), undefined, 'another offset');
  assert.equal(unsealWithKeyBytes(key, iv, sealed, randomBytes(32)), undefined, 'another blob id');
  assert.equal(unsealWithKeyBytes(key, iv, sealed.subarray(0, 10), aad), undefined, 'shorter than a tag');
  assert.deepEqual(unsealWithKeyBytes(key, iv, sealed, aad), data);
});
