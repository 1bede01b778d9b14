// What every backend is tested for. The round trip: init, back up the fixture tree, restore it and
// compare every entry, then check --read-data; the traffic counted on the way is plausible. And the
// server dying in the middle of a backup. Used by the S3, SFTP, REST and rclone tests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { cli, cliOk, IS_ROOT, tempDir } from './helpers.ts';
import { waitFor } from './services/daemon.ts';
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
  const restore = JSON.parse((await cliOk(['restore', '--repo', repo, 'latest', '--target', target, '--verify', '--json', '--restore-privileged', ...extra], { env })).stdout);
  assert.ok(restore.transfer.downloadedBytes >= backup.bytesAddedStored, `received ${restore.transfer.downloadedBytes} B`);
  assert.ok(restore.transfer.uploadedBytes < 1000, `a restore sends only its lock (${restore.transfer.uploadedBytes} B)`);
  const after = describeTree(join(target, source));
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  for (const [path, facts] of before) {
    const got = after.get(path)!;
    assert.deepEqual({ ...got, uid: IS_ROOT ? got.uid : facts.uid, gid: IS_ROOT ? got.gid : facts.gid }, facts, `entry ${path} differs`);
  }
  await cliOk(['check', '--read-data', '--repo', repo, ...extra], { env });
}

export interface ServerFault {
  env?: Record<string, string>;
  extra?: string[];
  /** True once the first pack of the backup is on the server. */
  packLanded(): Promise<boolean> | boolean;
  /** kill -9 of the server, and starting it again. */
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/**
 * The server is killed while a backup uploads: the backup fails with a clear error and exit 25
 * (after its retries), the repository still passes check, and the next backup succeeds.
 */
export async function serverDiesMidBackup(t: TestContext, repo: string, fault: ServerFault): Promise<void> {
  const { env = {}, extra = [] } = fault;
  await cliOk(['init', '--repo', repo, ...extra], { env });
  const src = join(tempDir(t), 'big');
  mkdirSync(src);
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `f${i}.bin`), randomBytes(12 * 1024 * 1024));
  const running = cli(['backup', '--repo', repo, '-o', 'retries=2', '-o', 'timeout=10', ...extra, src], { env });
  await waitFor('a first pack upload', fault.packLanded, 60_000);
  await fault.kill();
  const failed = await running;
  assert.equal(failed.code, 25, failed.stderr);
  assert.match(failed.stderr, /cannot reach|failed after/);
  await fault.restart();
  await cliOk(['check', '--repo', repo, ...extra], { env });
  await cliOk(['backup', '--repo', repo, ...extra, src], { env });
  await cliOk(['check', '--read-data', '--repo', repo, ...extra], { env });
}
