import assert from 'node:assert/strict';
import { existsSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { directWritesSuit } from './direct-io.ts';

test('direct writes only on ext4 and XFS: not on tmpfs or procfs, not where the path is missing', () => {
  assert.equal(directWritesSuit('/proc'), false, 'procfs');
  if (existsSync('/dev/shm')) assert.equal(directWritesSuit('/dev/shm'), false, 'tmpfs');
  assert.equal(directWritesSuit('/no/such/folder'), false);
  const type = statfsSync(tmpdir()).type;
  assert.equal(directWritesSuit(tmpdir()), type === 0xef53 || type === 0x58465342, `${tmpdir()} is of type 0x${type.toString(16)}`);
});
