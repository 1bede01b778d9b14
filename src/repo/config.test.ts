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
    chunker: { minBytes: 1, avgBytes: 2, maxBytes: 3 },
    packTargetBytes: 4,
    created: 'now',
    objectLock: { days: 7, mode: 'governance' },
  };
  assert.deepEqual(decodeConfig(keys, encodeConfig(keys, { ...config, extra: 1 } as RepositoryConfig)), config);
  const bad: unknown[] = [
    { ...config, packTargetBytes: '4' },
    { ...config, chunker: { minBytes: 1, avgBytes: 2 } },
    { ...config, objectLock: { days: 0, mode: 'governance' } },
    { ...config, objectLock: { days: 7, mode: 'loose' } },
  ];
  for (const c of bad) assert.throws(() => decodeConfig(keys, encodeConfig(keys, c as RepositoryConfig)), FileFormatError, JSON.stringify(c));
});
