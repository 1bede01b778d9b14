import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { exitCodeTable } from '../scripts/exit-codes.ts';
import { ROOT } from './helpers.ts';

test('the README exit-code table is the one generated from src/errors.ts', () => {
  assert.ok(readFileSync(join(ROOT, 'README.md'), 'utf8').includes(exitCodeTable()), 'run: node scripts/exit-codes.ts and paste it into README.md');
});

test('the README quick start has exactly two commands: install-and-back-up, and the test command', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /## Quick start\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1].trim().split('\n');
  assert.deepEqual(block, ['npm ci && ./bin/lifeboat backup ~/Documents', 'npm test']);
  assert.equal(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.test.split(' && ')[0].startsWith('node --test'), true);
});
