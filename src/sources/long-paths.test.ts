import assert from 'node:assert/strict';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LongPaths } from './long-paths.ts';

test('a path of 10,000 bytes is read through held folders, each call given less than PATH_MAX, and nothing stays open', () => {
  const root = mkdtempSync(join(tmpdir(), 'lifeboat-long-'));
  const names = Array.from({ length: 80 }, (_, i) => `${String(i).padStart(2, '0')}${'d'.repeat(123)}`);
  let fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  for (const name of names) {
    mkdirSync(`/proc/self/fd/${fd}/${name}`);
    const below = openSync(`/proc/self/fd/${fd}/${name}`, constants.O_RDONLY | constants.O_DIRECTORY);
    closeSync(fd);
    fd = below;
  }
  writeFileSync(`/proc/self/fd/${fd}/leaf`, 'found');
  closeSync(fd);
  const openBefore = readdirSync('/proc/self/fd').length;
  const long = new LongPaths();
  const path = Buffer.from([root, ...names, 'leaf'].join('/'));
  assert.ok(path.length > 10_000);
  const seen: number[] = [];
  const content = long.withSync(path, (short) => {
    seen.push(short.length);
    return readFileSync(short, 'utf8');
  });
  assert.equal(content, 'found');
  assert.ok(seen[0] < 3072, `the path given is short (${seen[0]} bytes)`);
  const short = Buffer.from('short path');
  assert.equal(long.withSync(short, (p) => p), short, 'a short path goes as it is');
  long.close();
  assert.equal(readdirSync('/proc/self/fd').length, openBefore, 'every held folder is closed');
  rmSync(root, { recursive: true });
});
