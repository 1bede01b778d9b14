// Repository locks, so that many writers can share a repository safely. Backups, restores, copies
// and checks hold shared locks; prune and forget hold an exclusive one, because prune deletes
// packs that a running backup may just have decided to reuse. A lock is an encrypted file in
// locks/ naming its host, process and time; it is rewritten every few minutes while held.
// A lock is stale (ignored, and removable by `lifeboat unlock`) when it has not been refreshed for
// STALE_AFTER_MS (the only safe signal from another host), or sooner when its process is gone
// (same host).
// Lock files are write-once like everything else: a refresh writes a new file, then deletes the
// old one. Two lockers that race both see each other and both give way, so neither proceeds
// wrongly; one retries later.
import { hostname, userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError } from '../errors.ts';
import { nowIso, nowMs } from '../lib/clock.ts';
import type { Backend } from '../storage/open.ts';
import type { RepositoryKeys } from './crypto.ts';
import { openSealedFile, sealFile } from './sealed-file.ts';

const MAGIC = 'LBLK';
export const REFRESH_MS = 5 * 60_000;
export const STALE_AFTER_MS = 30 * 60_000;

export interface LockInfo {
  time: string;
  host: string;
  pid: number;
  username: string;
  exclusive: boolean;
  /** What holds it, for messages: "backup", "prune". */
  purpose: string;
}

export interface LockFile extends LockInfo {
  name: string;
  stale: boolean;
  /** Why the file cannot be read (flipped bytes, truncation); its other fields are then unknown. */
  damaged?: string;
}

export async function listLocks(backend: Backend, keys: RepositoryKeys): Promise<LockFile[]> {
  const out: LockFile[] = [];
  for await (const f of backend.list('locks')) {
    try {
      const info = JSON.parse(openSealedFile(keys, MAGIC, f.name, await backend.read('locks', f.name)).toString('utf8')) as LockInfo;
      out.push({ ...info, name: f.name, stale: isStale(info) });
    } catch (err) {
      // Deleted between list and read (released). A damaged lock cannot say whether it is
      // exclusive, so it counts as one: its owner, if alive, replaces it at its next refresh.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      out.push({ time: '', host: '?', pid: 0, username: '?', exclusive: true, purpose: 'unknown (damaged lock file)', name: f.name, stale: false, damaged: (err as Error).message });
    }
  }
  return out;
}

function isStale(lock: LockInfo): boolean {
  // Not refreshed for STALE_AFTER_MS: stale wherever it was taken. On this host too, for its pid
  // may belong to another process by now (after a reboot): taken for the holder, it blocked the
  // repository until someone ran "lifeboat unlock". A live holder refreshes every REFRESH_MS.
  if (!(nowMs() - Date.parse(lock.time) < STALE_AFTER_MS)) return true;
  if (lock.host !== hostname() || lock.pid === process.pid) return false;
  try {
    process.kill(lock.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  return false;
}

export class RepositoryLock {
  readonly #backend: Backend;
  readonly #keys: RepositoryKeys;
  readonly #info: LockInfo;
  #name: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lost = false;

  private constructor(backend: Backend, keys: RepositoryKeys, info: LockInfo) {
    this.#backend = backend;
    this.#keys = keys;
    this.#info = info;
  }

  /**
   * Takes the lock, trying again for up to `waitMs` while another holds a conflicting one; then
   * fails with LOCKED (exit 11) naming who holds it.
   */
  static async acquire(backend: Backend, keys: RepositoryKeys, exclusive: boolean, purpose: string, waitMs = 0, tolerateDamaged = false): Promise<RepositoryLock> {
    const deadline = nowMs() + waitMs;
    for (;;) {
      try {
        return await RepositoryLock.#tryAcquire(backend, keys, exclusive, purpose, tolerateDamaged);
      } catch (err) {
        if (!(err instanceof LifeboatError) || err.code !== 'LOCKED' || nowMs() >= deadline) throw err;
        await sleep(500 + Math.random() * 1500); // jitter: two waiting lockers do not collide again
      }
    }
  }

  static async #tryAcquire(backend: Backend, keys: RepositoryKeys, exclusive: boolean, purpose: string, tolerateDamaged: boolean): Promise<RepositoryLock> {
    const lock = new RepositoryLock(backend, keys, { time: nowIso(), host: hostname(), pid: process.pid, username: userInfo().username, exclusive, purpose });
    await lock.#write();
    const conflicts = (await listLocks(backend, keys)).filter((l) => l.name !== lock.#name && !l.stale && (exclusive || l.exclusive) && !(l.damaged && tolerateDamaged));
    if (conflicts.length) {
      await lock.release();
      const c = conflicts[0];
      if (c.damaged) {
        throw new LifeboatError('LOCKED', `The repository holds a damaged lock file, locks/${c.name} (${c.damaged}); it cannot tell who holds it, so it counts as an exclusive lock`, {
          hint: `A running process replaces its lock file every ${REFRESH_MS / 60_000} minutes. If it is still there after that, or nothing else uses the repository, "lifeboat unlock" removes it.`,
        });
      }
      throw new LifeboatError('LOCKED', `The repository is locked${c.exclusive ? ' exclusively' : ''} by ${c.purpose} (pid ${c.pid} on ${c.host}, user ${c.username}, since ${c.time})`, {
        hint: c.exclusive || exclusive ? 'Wait for it to finish and try again. If that process is dead, "lifeboat unlock" removes stale locks.' : undefined,
      });
    }
    lock.#timer = setInterval(() => void lock.#refresh(), REFRESH_MS);
    lock.#timer.unref();
    return lock;
  }

  async #write(): Promise<void> {
    const { name, bytes } = sealFile(this.#keys, MAGIC, Buffer.from(JSON.stringify({ ...this.#info, time: nowIso() })));
    await this.#backend.write('locks', name, bytes);
    this.#name = name;
  }

  async #refresh(): Promise<void> {
    const old = this.#name;
    try {
      await this.#write();
    } catch {
      return; // the next refresh tries again; a lock not refreshed for 30 minutes is what others treat as stale
    }
    if (!old) return;
    await this.#backend.delete('locks', old).catch((err) => {
      // Gone before we removed it: someone removed our lock, and others may have locked since.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.#lost = true;
    });
  }

  /**
   * Fails unless this lock has stood the whole time: its file is still there, and no refresh
   * found the previous one removed. Called before a destructive step, in case someone removed
   * locks by hand (`unlock --remove-all`) meanwhile and another process went ahead. (Other lock
   * files are no sign: a locker that sees ours writes its own, lists, and gives way.)
   */
  async assertHeld(): Promise<void> {
    const name = this.#name;
    const present = name !== undefined && (await this.#backend.stat('locks', name).then(() => true, (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err))));
    if (!present || this.#lost) {
      throw new LifeboatError('LOCKED', `This ${this.#info.purpose}'s lock was removed while it ran; it stopped before deleting anything`, {
        hint: 'The repository is intact. Run it again once nothing else uses the repository.',
      });
    }
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    const name = this.#name;
    this.#name = undefined;
    if (name) await this.#backend.delete('locks', name).catch(() => {});
  }
}
