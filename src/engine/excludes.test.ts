import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathMatcher } from './excludes.ts';

test('gitignore-like patterns: names anywhere, anchored paths, dir-only, ** and negation', () => {
  const m = new PathMatcher(['*.tmp', '!keep.tmp', '/var/cache', 'build/', '**/logs/*.gz', 'a/b', '# comment', '']);
  const cases: Array<[string, boolean, boolean]> = [
    ['/x/y.tmp', false, true],
    ['/x/keep.tmp', false, false],
    ['/var/cache/z', false, true],
    ['/var/cachez', false, false],
    ['/srv/var/cache', true, false],
    ['/p/build', true, true],
    ['/p/build/x.o', false, true],
    ['/p/build', false, false],
    ['/q/logs/a.gz', false, true],
    ['/q/logs/a.txt', false, false],
    ['/z/a/b/c', false, true],
    ['/z/xa/b', false, false],
  ];
  for (const [path, isDir, expected] of cases) assert.equal(m.matches(path, isDir), expected, path);
});

test('character classes and ? match one character', () => {
  const m = new PathMatcher(['file[0-9].txt', 'r?port']);
  assert.equal(m.matches('/d/file7.txt', false), true);
  assert.equal(m.matches('/d/fileX.txt', false), false);
  assert.equal(m.matches('/d/report', false), true);
  assert.equal(m.matches('/d/reeport', false), false);
});
