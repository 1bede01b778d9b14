// A token bucket for --limit-upload / --limit-download: `take(n)` waits until n bytes fit under
// the rate. The bucket holds one second's worth, so short bursts pass and the average holds.
import { setTimeout as sleep } from 'node:timers/promises';
import { monotonicMs } from '../lib/clock.ts';

export class RateLimiter {
  readonly #bytesPerSecond: number;
  #tokens: number;
  #last = monotonicMs();
  /** Takers queue in order, so a big write is not starved by small ones. */
  #queue: Promise<void> = Promise.resolve();

  constructor(bytesPerSecond: number) {
    this.#bytesPerSecond = bytesPerSecond;
    this.#tokens = bytesPerSecond;
  }

  take(bytes: number): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes));
    this.#queue = turn;
    return turn;
  }

  async #wait(bytes: number): Promise<void> {
    this.#refill();
    this.#tokens -= bytes;
    // In debt: wait until the debt is paid off at the rate.
    if (this.#tokens < 0) {
      await sleep((-this.#tokens / this.#bytesPerSecond) * 1000);
      this.#refill();
    }
  }

  #refill(): void {
    const now = monotonicMs();
    this.#tokens = Math.min(this.#bytesPerSecond, this.#tokens + ((now - this.#last) / 1000) * this.#bytesPerSecond);
    this.#last = now;
  }
}
