// What every backend gets, written once: a bound on requests in flight, retries with exponential
// backoff and full jitter on transient errors (never on permanent ones), a timeout per attempt,
// and upload/download rate limits. It wraps any Backend; the backends themselves only translate
// their failures into StorageError codes and say which are transient.
import { setTimeout as sleep } from 'node:timers/promises';
import { Limiter } from '../lib/limiter.ts';
import { StorageError, type Backend, type FileInfo, type FileKind, type ReadRange } from './backend.ts';
import { RateLimiter } from './rate-limiter.ts';

export interface TransferOptions {
  /** Requests in flight at once. */
  connections: number;
  /** Attempts after the first one for a transient failure. */
  retries: number;
  /** First backoff; each retry doubles it, up to maxDelayMs, and a random share of it is waited. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Time one attempt may take, plus the time its bytes need at the rate limit. */
  timeoutMs: number;
  uploadKiBps?: number;
  downloadKiBps?: number;
  /** Told about each retry (for a warning on stderr). */
  onRetry?: (what: string, attempt: number, err: Error, delayMs: number) => void;
  /** Counts what goes over the wire (shown as progress and in summaries). */
  meter?: TransferMeter;
}

/** Traffic to and from remote storage, counted per attempt: a retried upload is sent twice. */
export interface TransferMeter {
  requests: number;
  retries: number;
  uploadedBytes: number;
  downloadedBytes: number;
}

export function newTransferMeter(): TransferMeter {
  return { requests: 0, retries: 0, uploadedBytes: 0, downloadedBytes: 0 };
}

export const DEFAULT_TRANSFER: TransferOptions = { connections: 8, retries: 6, baseDelayMs: 250, maxDelayMs: 30_000, timeoutMs: 120_000 };

/** Network failures that may go away by themselves. */
const TRANSIENT_SYSTEM_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNABORTED', 'ENOTCONN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'EATTEMPTTIMEOUT']);

export function isTransient(err: unknown): boolean {
  if (err instanceof StorageError) return err.transient;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TRANSIENT_SYSTEM_CODES.has(code);
}

export class ResilientBackend implements Backend {
  readonly location: string;
  readonly inner: Backend;
  readonly #options: TransferOptions;
  readonly #slots: Limiter;
  readonly #upload: RateLimiter | undefined;
  readonly #download: RateLimiter | undefined;

  constructor(inner: Backend, options: Partial<TransferOptions> = {}) {
    this.inner = inner;
    this.location = inner.location;
    this.#options = { ...DEFAULT_TRANSFER, ...options };
    this.#slots = new Limiter(this.#options.connections);
    this.#upload = this.#options.uploadKiBps ? new RateLimiter(this.#options.uploadKiBps * 1024) : undefined;
    this.#download = this.#options.downloadKiBps ? new RateLimiter(this.#options.downloadKiBps * 1024) : undefined;
  }

  /** Runs `attempt` until it succeeds, fails permanently, or the retries are used up. */
  async #retry<T>(what: string, bytes: number, attempt: (tried: number) => Promise<T>): Promise<T> {
    const o = this.#options;
    for (let tried = 0; ; tried++) {
      if (o.meter) o.meter.requests++;
      try {
        return await this.#slots.run(() => withTimeout(attempt(tried), o.timeoutMs + this.#transferMs(bytes), what));
      } catch (err) {
        if (!isTransient(err) || tried >= o.retries) throw unreachableAfterRetries(err, what, tried);
        const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** tried);
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
        o.onRetry?.(what, tried + 1, err as Error, delay);
        if (o.meter) o.meter.retries++;
        await sleep(delay);
      }
    }
  }

  #transferMs(bytes: number): number {
    const rate = Math.min(this.#options.uploadKiBps ?? Infinity, this.#options.downloadKiBps ?? Infinity);
    return Number.isFinite(rate) ? (bytes / (rate * 1024)) * 1000 : 0;
  }

  exists(): Promise<boolean> {
    return this.#retry('check for the config', 0, () => this.inner.exists());
  }

  create(options?: { objectLock?: boolean }): Promise<void> {
    return this.#retry('create the repository location', 0, () => this.inner.create(options));
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    // A listing is collected whole per attempt, so a retry never yields a name twice.
    const all = await this.#retry(`list ${kind}`, 0, async () => {
      const out: FileInfo[] = [];
      for await (const f of this.inner.list(kind)) out.push(f);
      return out;
    });
    yield* all;
  }

  async read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer> {
    const data = await this.#retry(`read ${kind}/${name.slice(0, 12)}`, range?.length ?? 0, () => this.inner.read(kind, name, range));
    if (this.#options.meter) this.#options.meter.downloadedBytes += data.byteLength;
    await this.#download?.take(data.byteLength);
    return data;
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const parts = data instanceof Uint8Array ? [data] : data;
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    await this.#upload?.take(size);
    await this.#retry(`write ${kind}/${name.slice(0, 12)}`, size, async (tried) => {
      if (this.#options.meter) this.#options.meter.uploadedBytes += size;
      try {
        await this.inner.write(kind, name, data);
      } catch (err) {
        // An attempt that timed out or lost its connection may still have landed. Names are the
        // hash of the content, so a file of that name and size is this very file; the config
        // (fixed name) counts only if it holds exactly these bytes.
        if (tried > 0 && (err as StorageError).code === 'EEXIST' && (await this.#landed(kind, name, parts, size))) return;
        throw err;
      }
    });
  }

  async #landed(kind: FileKind, name: string, parts: readonly Uint8Array[], size: number): Promise<boolean> {
    if (kind !== 'config') return (await this.inner.stat(kind, name)).sizeBytes === size;
    return (await this.inner.read(kind, name)).equals(Buffer.concat(parts));
  }

  stat(kind: FileKind, name: string): Promise<FileInfo> {
    return this.#retry(`stat ${kind}/${name.slice(0, 12)}`, 0, () => this.inner.stat(kind, name));
  }

  delete(kind: FileKind, name: string): Promise<void> {
    return this.#retry(`delete ${kind}/${name.slice(0, 12)}`, 0, async (tried) => {
      try {
        await this.inner.delete(kind, name);
      } catch (err) {
        if (tried > 0 && (err as StorageError).code === 'ENOENT') return; // an earlier attempt did it
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  get setRetention(): Backend['setRetention'] {
    const inner = this.inner;
    return inner.setRetention && ((policy) => this.#retry('check Object Lock', 0, () => inner.setRetention!(policy)));
  }

  get retainedUntil(): Backend['retainedUntil'] {
    const inner = this.inner;
    return inner.retainedUntil && ((kind, name) => this.#retry(`retention of ${kind}/${name.slice(0, 12)}`, 0, () => inner.retainedUntil!(kind, name)));
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StorageError('EUNREACHABLE', `${what}: no answer within ${Math.round(ms / 1000)} s`, { transient: true })), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function unreachableAfterRetries(err: unknown, what: string, tried: number): unknown {
  if (!isTransient(err) || tried === 0) return err;
  const message = `${what} failed after ${tried + 1} attempts: ${(err as Error).message}`;
  return new StorageError('EUNREACHABLE', message, { cause: err });
}
