// A counting semaphore: bounds how much work is in flight (files being read, packs being
// uploaded, bytes waiting for compression), which is what keeps memory bounded.

export class Limiter {
  #available: number;
  readonly #waiters: Array<() => void> = [];

  constructor(slots: number) {
    this.#available = slots;
  }

  async acquire(n = 1): Promise<void> {
    while (this.#available < n) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#available -= n;
  }

  release(n = 1): void {
    this.#available += n;
    const waiters = this.#waiters.splice(0);
    for (const wake of waiters) wake();
  }

  async run<T>(fn: () => Promise<T>, n = 1): Promise<T> {
    await this.acquire(n);
    try {
      return await fn();
    } finally {
      this.release(n);
    }
  }
}
