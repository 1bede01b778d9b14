// The same round trip for every backend: init, back up the fixture tree, restore it and compare
// every entry, then check --read-data; the traffic counted on the way is plausible. Used by the S3, SFTP, REST and rclone tests.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { cliOk, IS_ROOT, tempDir } from './helpers.ts';
import { buildFixture, describeTree } from './tree-fixture.ts';

export async function roundTrip(t: TestContext, repo: string, env: Record<string, string> = {}, extra: string[] = []): Promise<void> {
  await cliOk(['init', '--repo', repo, ...extra], { env });
  const source = join(tempDir(t), 'source');
  mkdirSync(source);
  buildFixture(source);
  const before = describeTree(source);
  const backup = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', ...extra, source], { env })).stdout);
  assert.equal(backup.incomplete, false);
  // What went over the wire is counted: at least the data added (and the index and snapshot) went up.
  assert.ok(backup.transfer.uploadedBytes > backup.bytesAddedStored, `sent ${backup.transfer.uploadedBytes} B for ${backup.bytesAddedStored} B of data`);
  assert.ok(backup.transfer.requests > 0);
  const target = tempDir(t);
  const restore = JSON.parse((await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--verify', '--json', ...extra], { env })).stdout);
  assert.ok(restore.transfer.downloadedBytes >= backup.bytesAddedStored, `received ${restore.transfer.downloadedBytes} B`);
  assert.equal(restore.transfer.uploadedBytes, 0, 'a restore sends nothing');
  const after = describeTree(join(target, source));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  for (const [path, facts] of before) {
    const got = after.get(path)!;
    assert.deepEqual({ ...got, uid: IS_ROOT ? got.uid : facts.uid, gid: IS_ROOT ? got.gid : facts.gid }, facts, `entry ${path} differs`);
  }
  await cliOk(['check', '--read-data', '--repo', repo, ...extra], { env });
}
