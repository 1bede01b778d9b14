// Descriptors held by key (a folder's path), counted by their users. One that no one uses stays
// open for the next user, up to a number of them, and then the oldest is closed: a walk over a
// million folders needs few open at once. Restore holds its target's folders this way
// (sources/target-dirs.ts), and backup the folders above paths too long for one call
// (sources/long-paths.ts).
import { closeSync } from 'node:fs';

export class HeldDescriptors {
  readonly #held = new Map<string, { fd: number; users: number }>();
  /** Used by no one, oldest first: the first to close. */
  readonly #idle = new Set<string>();
  readonly #idleMax: number;

  constructor(idleMax: number) {
    this.#idleMax = idleMax;
  }

  /** The descriptor held for `key`, held once more until release(key); undefined when none is. */
  take(key: string): number | undefined {
    const known = this.#held.get(key);
    if (!known) return undefined;
    if (known.users++ === 0) this.#idle.delete(key);
    return known.fd;
  }

  /** Holds `fd`, just opened for `key` (which holds none), until release(key). */
  put(key: string, fd: number): number {
    this.#held.set(key, { fd, users: 1 });
    return fd;
  }

  release(key: string): void {
    const held = this.#held.get(key);
    if (!held || --held.users > 0) return;
    this.#idle.add(key);
    for (const oldest of this.#idle) {
      if (this.#idle.size <= this.#idleMax) break;
      this.#idle.delete(oldest);
      closeSync(this.#held.get(oldest)!.fd);
      this.#held.delete(oldest);
    }
  }

  /** Closes every descriptor, used or not. */
  close(): void {
    for (const held of this.#held.values()) closeSync(held.fd);
    this.#held.clear();
    this.#idle.clear();
  }
}
