import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { decodeConfig, encodeConfig, FORMAT_VERSION, type RepositoryConfig } from './config.ts';
import { deriveRepositoryKeys } from './crypto.ts';
import { FileFormatError } from './sealed-file.ts';

test('a config that is sealed correctly but malformed is a format error; a good one round-trips without extra fields', () => {
  const keys = deriveRepositoryKeys(randomBytes(32));
  const config: RepositoryConfig = {
    version: FORMAT_VERSION,
    id: 'abc',
    chunker: { minBytes: 256 << 10, avgBytes: 512 << 10, maxBytes: 4 << 20 },
    packTargetBytes: 16 << 20,
    created: 'now',
    objectLock: { days: 7, mode: 'governance' },
  };
  assert.deepEqual(decodeConfig(keys, encodeConfig(keys, { ...config, extra: 1 } as RepositoryConfig)), config);
  const bad: unknown[] = [
    { ...config, packTargetBytes: '4' },
    { ...config, chunker: { minBytes: 1, avgBytes: 2 } },
    { ...config, objectLock: { days: 0, mode: 'governance' } },
    { ...config, objectLock: { days: 7, mode: 'loose' } },
    // Out of range: the chunker and pack writer cannot work with these (backup crashed on them).
    { ...config, chunker: { minBytes: 0, avgBytes: 2, maxBytes: 3 } },
    { ...config, chunker: { minBytes: 1 << 20, avgBytes: 512 << 10, maxBytes: 4 << 20 } },
    { ...config, chunker: { minBytes: 256 << 10, avgBytes: 512 << 10, maxBytes: 1 << 30 } },
    { ...config, packTargetBytes: 4 },
  ];
  for (const c of bad) assert.throws(() => decodeConfig(keys, encodeConfig(keys, c as RepositoryConfig)), FileFormatError, JSON.stringify(c));
  assert.throws(() => decodeConfig(keys, encodeConfig(keys, bad[5] as RepositoryConfig)), /malformed \(chunker: chunk sizes must be min <= avg <= max\)/);
});
