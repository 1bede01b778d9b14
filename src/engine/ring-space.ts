// The free space of a ring of bytes that a chunking worker writes chunks into and the main thread
// reads them from (chunk-worker.ts). Pieces are handed out in order, each contiguous; they are
// given back in any order (the main thread stores chunks of different files at different
// speeds), and their space comes back once every older piece is given back too.

interface Piece {
  start: number;
  end: number;
  returned: boolean;
}

export class RingSpace {
  readonly size: number;
  /** Pieces not yet reclaimed, oldest first: the live ones are pieces[#oldest...]. */
  #pieces: Piece[] = [];
  #oldest = 0;
  /** The number of pieces[#oldest]; pieces are numbered from 0 in the order they were taken. */
  #oldestNumber = 0;

  constructor(size: number) {
    this.size = size;
  }

  /** Takes `length` contiguous bytes: their number and start, or undefined until older pieces are given back. */
  take(length: number): { number: number; start: number } | undefined {
    if (length < 1 || length > this.size) throw new RangeError(`a piece of ${length} bytes does not fit in a ring of ${this.size}`);
    const start = this.#room(length);
    if (start === undefined) return undefined;
    const number = this.#oldestNumber + this.live;
    this.#pieces.push({ start, end: start + length, returned: false });
    return { number, start };
  }

  /** The newest piece turned out shorter than taken (a chunk compressed into room for the worst case). */
  shrinkNewest(number: number, length: number): void {
    const piece = this.#pieces[this.#pieces.length - 1];
    if (number !== this.#oldestNumber + this.live - 1 || !piece || length < 1 || length > piece.end - piece.start) {
      throw new RangeError(`piece ${number} is not the newest or cannot grow`);
    }
    piece.end = piece.start + length;
  }

  /** Gives a piece back; false when it is not out (a number never handed out, or given back already). */
  giveBack(number: number): boolean {
    const piece = this.#pieces[this.#oldest + number - this.#oldestNumber];
    if (number < this.#oldestNumber || !piece || piece.returned) return false;
    piece.returned = true;
    while (this.#oldest < this.#pieces.length && this.#pieces[this.#oldest].returned) {
      this.#oldest++;
      this.#oldestNumber++;
    }
    if (this.#oldest === this.#pieces.length || this.#oldest > 1024) {
      this.#pieces = this.#pieces.slice(this.#oldest);
      this.#oldest = 0;
    }
    return true;
  }

  /** Pieces out (taken and not reclaimed). */
  get live(): number {
    return this.#pieces.length - this.#oldest;
  }

  #room(length: number): number | undefined {
    if (this.live === 0) return 0;
    const oldest = this.#pieces[this.#oldest];
    const newest = this.#pieces[this.#pieces.length - 1];
    if (newest.start >= oldest.start) {
      // Live bytes are [oldest.start, newest.end): room after them, or else from the ring's start.
      if (this.size - newest.end >= length) return newest.end;
      return oldest.start >= length ? 0 : undefined;
    }
    // Wrapped: live bytes are [oldest.start, size) and [0, newest.end); room between.
    return oldest.start - newest.end >= length ? newest.end : undefined;
  }
}
