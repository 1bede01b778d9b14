// A repository behind restic's REST protocol, version 2: restic's rest-server, `rclone serve
// restic`, or `lifeboat serve`. Files map to `/config` and `/{type}/{name}` with the types data
// (packs), keys, locks, snapshots and index. The same client speaks over rclone's stdin/stdout
// (rclone.ts) through another transport: HTTP/2 over that pipe.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { LifeboatError } from '../errors.ts';
import { isLoopbackHost, maskUrlPassword } from '../lib/redact.ts';
import { isTransient } from './resilient.ts';
import { StorageError, kindFolder, listConfig, type Backend, type FileInfo, type FileKind, type ReadRange } from './backend.ts';

const V2 = 'application/vnd.x.restic.rest.v2';

export class RestBackend implements Backend {
  readonly location: string;
  readonly #base: URL;
  readonly #transport: RestTransport;
  readonly #authorization: string | undefined;

  constructor(base: URL, transport: RestTransport, location: string) {
    this.#base = new URL(base.href.endsWith('/') ? base.href : base.href + '/');
    this.#authorization = base.username ? `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}` : undefined;
    this.#base.username = '';
    this.#base.password = '';
    this.#transport = transport;
    this.location = location;
  }

  /** `http[s]://[USER:PASS@]HOST:PORT/[PATH]`; the password never appears in `location`. */
  static fromLocation(rest: string, options: Record<string, string>, warn?: (text: string) => void): RestBackend {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw new LifeboatError('USAGE', `"rest:${maskUrlPassword(rest)}" is not a valid REST location`, { hint: 'Write it as rest:http[s]://[USER:PASS@]HOST:PORT/[PATH].' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new LifeboatError('USAGE', `"rest:${maskUrlPassword(rest)}" must start with http:// or https://`);
    if (!url.password && process.env.LIFEBOAT_REST_PASSWORD) url.password = encodeURIComponent(process.env.LIFEBOAT_REST_PASSWORD);
    const tls = url.protocol === 'https:';
    // rest.ca: the certificate of a server with a self-signed one (lifeboat serve --tls-cert).
    const ca = options['rest.ca'] ? readFileSync(options['rest.ca']) : undefined;
    const agent = tls ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
    const shown = new URL(url.href);
    shown.password = '';
    const backend = new RestBackend(url, http1Transport(agent), `rest:${shown.href.replace(/:@/, '@')}`);
    // Passwords and repository files would cross the network readable by anyone on the way.
    if (!tls && !isLoopbackHost(url.hostname)) warn?.(`${backend.location} is plain http to another machine: the password and the repository's (encrypted) files travel unprotected; use https://`);
    return backend;
  }

  #url(kind: FileKind, name?: string): URL {
    if (kind === 'config') return new URL('config', this.#base);
    return new URL(`${kindFolder(kind)}/${name ?? ''}`, this.#base);
  }

  async exists(): Promise<boolean> {
    const res = await this.#request('HEAD', new URL('config', this.#base), 'config');
    if (res.status === 404) return false;
    return this.#ok(res, 'config');
  }

  async create(): Promise<void> {
    const res = await this.#request('POST', new URL('?create=true', this.#base), 'create the repository');
    this.#ok(res, 'create the repository');
  }

  async *list(kind: FileKind): AsyncIterable<FileInfo> {
    if (kind === 'config') return yield* listConfig(this);
    const res = await this.#request('GET', this.#url(kind), `list ${kind}`, { headers: { Accept: V2 }, maxBytes: LISTING_BYTES });
    if (res.status === 404) return;
    this.#ok(res, `list ${kind}`);
    const entries = JSON.parse(res.body.toString('utf8')) as Array<{ name: string; size: number } | string>;
    for (const e of entries) {
      // A v1 server answers with bare names; ask for each size then.
      if (typeof e === 'string') yield await this.stat(kind, e);
      else yield { name: e.name, sizeBytes: e.size };
    }
  }

  async read(kind: FileKind, name: string, range?: ReadRange): Promise<Buffer> {
    if (range?.length === 0) return Buffer.alloc(0);
    const headers: Record<string, string> = range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {};
    const res = await this.#request('GET', this.#url(kind, name), `${kind}/${name}`, { headers, maxBytes: range ? range.length : WHOLE_FILE_BYTES });
    this.#ok(res, `${kind}/${name}`);
    if (range && res.body.byteLength !== range.length) {
      throw new StorageError('EIO', `short read of ${kind}/${name}: ${res.body.byteLength} of ${range.length} bytes at ${range.offset}`, { transient: true });
    }
    return res.body;
  }

  async write(kind: FileKind, name: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    // The protocol has no conditional write; look first so the config is never replaced.
    if (kind === 'config' && (await this.exists())) throw new StorageError('EEXIST', 'config already exists');
    const parts = data instanceof Uint8Array ? [data] : data;
    const res = await this.#request('POST', this.#url(kind, name), `${kind}/${name}`, { body: parts, headers: { 'Content-Type': 'application/octet-stream' } });
    this.#ok(res, `${kind}/${name}`);
  }

  async stat(kind: FileKind, name: string): Promise<FileInfo> {
    const res = await this.#request('HEAD', this.#url(kind, name), `${kind}/${name}`);
    this.#ok(res, `${kind}/${name}`);
    return { name, sizeBytes: Number(res.headers['content-length'] ?? 0) };
  }

  async delete(kind: FileKind, name: string): Promise<void> {
    const res = await this.#request('DELETE', this.#url(kind, name), `${kind}/${name}`);
    this.#ok(res, `${kind}/${name}`);
  }

  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** Throws the StorageError a failed answer means; true otherwise. */
  #ok(res: Answer, what: string): true {
    const s = res.status;
    if (s >= 200 && s < 300) return true;
    const detail = `${what} on ${this.location}: HTTP ${s}${res.body.byteLength && res.body.byteLength < 300 ? ` (${res.body.toString('utf8').trim()})` : ''}`;
    if (s === 404) throw new StorageError('ENOENT', `not found: ${detail}`);
    if (s === 401) throw new StorageError('EACCES', `access denied (wrong user name or password): ${detail}`);
    if (s === 403) throw new StorageError('EACCES', `forbidden (an append-only server refuses deletes and overwrites): ${detail}`);
    if (s === 409) throw new StorageError('EEXIST', `already exists: ${detail}`);
    if (s === 413) throw new StorageError('EIO', `the server refuses a request this large: ${detail}`);
    if (s === 507) throw new StorageError('ENOSPC', `the server is out of space: ${detail}`);
    throw new StorageError('EIO', `server error: ${detail}`, { transient: s >= 500 || s === 429 || s === 408 });
  }

  async #request(method: string, url: URL, what: string, options: { headers?: Record<string, string>; body?: readonly Uint8Array[]; maxBytes?: number } = {}): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.#authorization) headers.Authorization = this.#authorization;
    if (options.body) headers['Content-Length'] = String(options.body.reduce((n, p) => n + p.byteLength, 0));
    try {
      return await this.#transport.request(method, url, headers, options.body, options.maxBytes ?? OTHER_BYTES);
    } catch (err) {
      // An answer larger than asked for is the server's fault, not the network's: no retry.
      if ((err as NodeJS.ErrnoException).code === 'ERESPONSETOOLARGE') throw new StorageError('EIO', `${what} on ${this.location}: ${(err as Error).message}`, { cause: err });
      throw new StorageError('EUNREACHABLE', `${what}: cannot reach ${this.location}: ${(err as Error).message}`, { transient: isTransient(err), cause: err });
    }
  }
}

/**
 * One HTTP exchange; the body of the answer is read whole, up to `maxBytes`: a server may be
 * hostile, and memory is bounded by what was asked for, not by what arrives.
 */
export interface RestTransport {
  request(method: string, url: URL, headers: Record<string, string>, body: readonly Uint8Array[] | undefined, maxBytes: number): Promise<Answer>;
  close(): Promise<void>;
}

/** The most a whole repository file (read without a range) may be: far above any the format writes. */
const WHOLE_FILE_BYTES = 1 << 30;
/** The most a listing may be: a million packs take about 90 MiB of v2 JSON. */
const LISTING_BYTES = 256 << 20;
/** The most any other answer (errors, empty successes) may carry. */
const OTHER_BYTES = 64 << 10;

/**
 * Collects a body in chunks up to `maxBytes`; past that `refuse` is called once (the caller ends
 * the exchange) and nothing more is kept.
 */
export function boundedBody(maxBytes: number, refuse: (err: Error) => void): { add(chunk: Buffer): void; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  return {
    add(chunk) {
      if (refused) return;
      size += chunk.byteLength;
      if (size > maxBytes) {
        refused = true;
        chunks.length = 0;
        refuse(Object.assign(new Error(`the server sent more than the ${maxBytes} bytes asked for`), { code: 'ERESPONSETOOLARGE' }));
      } else chunks.push(chunk);
    },
    bytes: () => Buffer.concat(chunks),
  };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function http1Transport(agent: http.Agent): RestTransport {
  return {
    request: (method, url, headers, body, maxBytes) =>
      new Promise<Answer>((resolve, reject) => {
        const send = url.protocol === 'https:' ? https.request : http.request;
        const req = send(url, { method, headers, agent }, (res) => {
          const limit = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? maxBytes : Math.min(maxBytes, OTHER_BYTES);
          const body = boundedBody(limit, (err) => {
            reject(err);
            req.destroy();
          });
          res.on('data', (c: Buffer) => body.add(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.bytes() }));
          res.on('error', reject);
        });
        req.on('error', reject);
        for (const part of body ?? []) req.write(part);
        req.end();
      }),
    close: async () => agent.destroy(),
  };
}
