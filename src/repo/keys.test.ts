import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createKeyFile, parseKeyFile, unwrapMasterKey } from './keys.ts';
import { sha256Hex } from './sealed-file.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

/** A key file that matches its name, so that only its content can be wrong. */
function named(content: unknown): { name: string; bytes: Buffer } {
  const bytes = Buffer.from(JSON.stringify(content));
  return { name: sha256Hex(bytes), bytes };
}

test('a key file round-trips, opens with its password only, and keeps its KDF cost', async () => {
  const master = randomBytes(32);
  const { name, bytes } = await createKeyFile(master, 'right');
  const file = parseKeyFile(name, bytes);
  assert.equal(file.kdf.name, 'argon2id');
  assert.equal(file.kdf.memoryKiB, 1024);
  assert.deepEqual(await unwrapMasterKey(file, 'right'), master);
  assert.equal(await unwrapMasterKey(file, 'wrong'), undefined);
});

test('a key file that matches its name but not the format is refused, and the message says which field', async () => {
  const { bytes } = await createKeyFile(randomBytes(32), 'pw');
  const good = JSON.parse(bytes.toString('utf8'));
  const cases: Array<[string, unknown, RegExp]> = [
    ['passes out of bounds', { ...good, kdf: { ...good.kdf, passes: 1000 } }, /kdf\.passes/],
    ['memory not an integer', { ...good, kdf: { ...good.kdf, memoryKiB: 1.5 } }, /kdf\.memoryKiB/],
    ['another KDF', { ...good, kdf: { ...good.kdf, name: 'scrypt' } }, /kdf\.name/],
    ['no wrapped key', { ...good, wrapped: undefined }, /wrapped/],
    ['another format', { ...good, format: 'restic-key' }, /format/],
    ['a newer version', { ...good, version: 2 }, /version/],
  ];
  for (const [label, content, where] of cases) {
    const { name, bytes: b } = named(content);
    assert.throws(() => parseKeyFile(name, b), (err: Error) => /^malformed key file: /.test(err.message) && where.test(err.message), label);
  }
  assert.throws(() => parseKeyFile('0'.repeat(64), bytes), /hash mismatch/);
});
