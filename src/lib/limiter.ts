// A counting semaphore: bounds how much work is in flight (files being read, packs being
// uploaded, bytes waiting for compression), which is what keeps memory bounded.

export class Limiter {
  #available: number;
  /**
   * Waiters in arrival order, served first come first: a big request does not wait for ever behind
   * later small ones, and a release wakes only those it makes room for. (Waking every waiter on each
   * release cost loading 1,563 index files, eight at a time, a million promises.)
   */
  #waiting: Array<{ n: number; wake: () => void }> = [];
  #head = 0;

  constructor(slots: number) {
    this.#available = slots;
  }

  acquire(n = 1): Promise<void> {
    if (this.#head === this.#waiting.length && this.#available >= n) {
      this.#available -= n;
      return Promise.resolve();
    }
    return new Promise((wake) => this.#waiting.push({ n, wake }));
  }

  release(n = 1): void {
    this.#available += n;
    const waiting = this.#waiting;
    while (this.#head < waiting.length && waiting[this.#head].n <= this.#available) {
      const first = waiting[this.#head++];
      this.#available -= first.n;
      first.wake();
    }
    if (this.#head > 1024 && this.#head * 2 > waiting.length) {
      this.#waiting = waiting.slice(this.#head);
      this.#head = 0;
    }
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
