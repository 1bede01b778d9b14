// A one-line progress display on stderr: entries, bytes against a total from a quick scan,
// throughput, time left, and for remote storage the bytes sent and received. Redrawn at most ten times a second; erased when done.
import { formatBytes } from '../lib/bytes.ts';
import { monotonicMs } from '../lib/clock.ts';
import type { Context } from './context.ts';

export class ProgressLine {
  readonly #ctx: Context;
  readonly #label: string;
  #started = monotonicMs();
  #lastDraw = 0;
  #files = 0;
  #bytes = 0;
  #totalFiles: number | undefined;
  #totalBytes: number | undefined;
  #current = '';
  #drawn = false;

  constructor(ctx: Context, label: string) {
    this.#ctx = ctx;
    this.#label = label;
  }

  setTotal(files: number, bytes: number): void {
    this.#totalFiles = files;
    this.#totalBytes = bytes;
  }

  update(files: number, bytes: number, current?: string): void {
    this.#files = files;
    this.#bytes = bytes;
    if (current) this.#current = current;
    const now = monotonicMs();
    if (now - this.#lastDraw >= 100) {
      this.#lastDraw = now;
      this.#draw(now);
    }
  }

  #draw(now: number): void {
    if (!this.#ctx.showProgress) return;
    const seconds = (now - this.#started) / 1000;
    const rate = seconds > 0 ? this.#bytes / seconds : 0;
    let line = `[${clock(seconds)}] ${this.#label} ${this.#files}${this.#totalFiles !== undefined ? `/${this.#totalFiles}` : ''} files, ${formatBytes(this.#bytes)}`;
    if (this.#totalBytes) {
      const pct = Math.min(100, (this.#bytes / this.#totalBytes) * 100);
      line += ` of ${formatBytes(this.#totalBytes)} (${pct.toFixed(1)}%)`;
      if (rate > 0 && this.#bytes < this.#totalBytes) line += `, ETA ${clock((this.#totalBytes - this.#bytes) / rate)}`;
    }
    line += `, ${formatBytes(rate)}/s${this.#network()}`;
    const width = process.stderr.columns || 100;
    if (this.#current && line.length + 3 < width) line += ' ' + tail(this.#current, width - line.length - 2);
    this.#paint(line);
  }

  /** Progress counted in items of a phase (prune's packs, repair's packs) rather than files and bytes. */
  count(done: number, total: number): void {
    const now = monotonicMs();
    if (now - this.#lastDraw < 100 && done < total) return;
    this.#lastDraw = now;
    if (!this.#ctx.showProgress) return;
    const seconds = (now - this.#started) / 1000;
    let line = `[${clock(seconds)}] ${this.#label} ${done}/${total}`;
    if (total > 0) line += ` (${((done / total) * 100).toFixed(1)}%)`;
    if (done > 0 && done < total) line += `, ETA ${clock((seconds / done) * (total - done))}`;
    this.#paint(line + this.#network());
  }

  /** Starts the clock anew for the next phase. */
  restart(): void {
    this.done();
    this.#started = monotonicMs();
    this.#lastDraw = 0;
  }

  /** Bytes on the wire so far, for remote storage. */
  #network(): string {
    const wire = this.#ctx.transfer;
    return wire.requests > 0 ? `, net ↑${formatBytes(wire.uploadedBytes)} ↓${formatBytes(wire.downloadedBytes)}` : '';
  }

  #paint(line: string): void {
    this.#ctx.stderr(`\r\x1b[K${line.slice(0, (process.stderr.columns || 100) - 1)}`);
    this.#drawn = true;
  }

  done(): void {
    if (this.#drawn) this.#ctx.stderr('\r\x1b[K');
    this.#drawn = false;
  }
}

function clock(seconds: number): string {
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function tail(text: string, n: number): string {
  return text.length <= n ? text : '…' + text.slice(text.length - n + 1);
}
