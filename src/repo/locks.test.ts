import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalBackend } from '../storage/local.ts';
import { listLocks, RepositoryLock, STALE_AFTER_MS } from './locks.ts';
import { Repository } from './repository.ts';
import { sealFile } from './sealed-file.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

test("a lock on this host whose pid is alive is stale once it has gone unrefreshed for half an hour: the pid may be another process's by now", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-locks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const backend = new LocalBackend(join(dir, 'repo'));
  const { keys } = await Repository.init(backend, 'pw');
  // A process that is alive, standing for whatever took the pid over after a reboot. The lock
  // file is written as another Lifeboat process would write it (locks.ts's #write).
  const other = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.after(() => other.kill());
  const lockAt = (time: number) => {
    const info = { time: new Date(time).toISOString(), host: hostname(), pid: other.pid, username: 'someone', exclusive: true, purpose: 'prune' };
    return sealFile(keys, 'LBLK', Buffer.from(JSON.stringify(info)));
  };
  const fresh = lockAt(Date.now() - 60_000);
  const old = lockAt(Date.now() - STALE_AFTER_MS - 60_000);
  await backend.write('locks', fresh.name, fresh.bytes);
  await backend.write('locks', old.name, old.bytes);
  const stale = new Map((await listLocks(backend, keys)).map((l) => [l.name, l.stale]));
  assert.deepEqual([stale.get(fresh.name), stale.get(old.name)], [false, true]);

  // The fresh one holds the repository; without it, the old one does not.
  await assert.rejects(RepositoryLock.acquire(backend, keys, false, 'backup'), /locked exclusively by prune/);
  await backend.delete('locks', fresh.name);
  const lock = await RepositoryLock.acquire(backend, keys, false, 'backup');
  await lock.release();

  // This process's own lock is fresh while held.
  const mine = await RepositoryLock.acquire(backend, keys, true, 'prune');
  t.after(() => mine.release());
  assert.deepEqual((await listLocks(backend, keys)).filter((l) => l.pid === process.pid).map((l) => l.stale), [false]);
});
