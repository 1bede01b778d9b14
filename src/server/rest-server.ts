// `lifeboat serve`: restic's REST protocol v2 over HTTP(S) for the repositories below a folder,
// each at its own URL path, so restic and Lifeboat clients can both use it. Files are stored by
// the local backend (whole or not at all, write-once). With append-only, clients can add files but
// never delete or replace them (only lock files), which is what protects the backups from a client
// machine taken over by ransomware. Every request is hostile until checked: the path's segment
// that names an object type ends the repository path, uploads stream to a temporary file (a few
// at a time) and must hash to their names, and error bodies never name server paths.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { openBackend, type Backend, type FileKind } from '../storage/open.ts';
import { monotonicMs, nowIso } from '../lib/clock.ts';
import { Limiter } from '../lib/limiter.ts';
import type { Authenticator } from './users.ts';

export interface ServeOptions {
  root: string;
  appendOnly: boolean;
  privateRepos: boolean;
  /** undefined: no authentication (--no-auth). */
  auth: Authenticator | undefined;
  maxRequestBytes: number;
  tls?: { cert: Buffer; key: Buffer };
  accessLog?: (line: string) => void;
}

const TYPES: Record<string, Exclude<FileKind, 'config'>> = { data: 'packs', keys: 'keys', locks: 'locks', snapshots: 'snapshots', index: 'index' };
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const FILE_NAME = /^[0-9a-f]{64}$/;
/** Uploads streaming to disk at once; more wait, their bodies unread (the sockets hold them). */
const UPLOADS_AT_ONCE = 8;
/** Failed logins a client address may make per window before it is refused for the rest of it. */
const FAILED_LOGINS = 10;
const FAILED_LOGIN_WINDOW_MS = 60_000;

/** What a request asks for: a repository path and a file, a listing, or creation. */
interface Route {
  repo: string[];
  kind?: FileKind;
  name?: string;
}

/** A request the route cannot serve, answered with its status and a fixed text. */
class Refusal extends Error {
  readonly status: number;
  constructor(status: number, text: string) {
    super(text);
    this.status = status;
  }
}

export function createRestServer(options: ServeOptions): Server {
  const state: ServerState = { uploads: new Limiter(UPLOADS_AT_ONCE), failedLogins: new Map() };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = monotonicMs();
    let user = '-';
    handle(req, res, options, state, (u) => (user = u))
      .catch((err: unknown) => (err instanceof Refusal ? send(res, err.status, err.message) : send(res, statusOf(err), GENERIC[statusOf(err)] ?? 'internal error')))
      .finally(() => {
        const bytes = Number(res.getHeader('content-length') ?? 0);
        options.accessLog?.(`${nowIso()} ${req.socket.remoteAddress ?? '-'} ${user} "${req.method} ${req.url}" ${res.statusCode} ${bytes} ${Math.round(monotonicMs() - started)}ms`);
      });
  };
  return options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
}

const GENERIC: Record<number, string> = { 403: 'permission denied', 404: 'not found', 409: 'already exists', 507: 'no space left on the server' };

interface ServerState {
  uploads: Limiter;
  /** Per client address: failed logins in the current window, and when it began. */
  failedLogins: Map<string, { count: number; since: number }>;
}

async function handle(req: IncomingMessage, res: ServerResponse, o: ServeOptions, state: ServerState, setUser: (u: string) => void): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://server');
  let user: string | undefined;
  if (o.auth) {
    const client = req.socket.remoteAddress ?? '-';
    const failed = state.failedLogins.get(client);
    const now = monotonicMs();
    if (failed && now - failed.since > FAILED_LOGIN_WINDOW_MS) state.failedLogins.delete(client);
    else if (failed && failed.count >= FAILED_LOGINS) throw new Refusal(429, 'too many failed logins; try again later');
    user = await authenticate(req, o.auth);
    if (!user) {
      const entry = state.failedLogins.get(client) ?? { count: 0, since: now };
      entry.count++;
      state.failedLogins.set(client, entry);
      // Bounded however many addresses guess: windows that have ended are dropped.
      if (state.failedLogins.size > 10_000) for (const [a, f] of state.failedLogins) if (now - f.since > FAILED_LOGIN_WINDOW_MS) state.failedLogins.delete(a);
      res.setHeader('WWW-Authenticate', 'Basic realm="lifeboat"');
      return send(res, 401, 'authentication required');
    }
    setUser(user);
  }
  const route = parseRoute(url.pathname);
  // With private repositories a user sees only paths below their own name.
  if (o.privateRepos && (!user || route.repo[0] !== user)) return send(res, 403, 'not your repository');
  const backend = await openBackend(join(o.root, ...route.repo));
  try {
    await serveRoute(req, res, url, route, backend, o, state);
  } finally {
    await backend.close();
  }
}

async function serveRoute(req: IncomingMessage, res: ServerResponse, url: URL, route: Route, backend: Backend, o: ServeOptions, state: ServerState): Promise<void> {
  const method = req.method ?? 'GET';
  if (!route.kind) {
    if (method === 'POST' && url.searchParams.get('create') === 'true') {
      // Never a repository inside another: its files would be the outer one's hidden content.
      for (let depth = 0; depth < route.repo.length; depth++) {
        if (isRepository(join(o.root, ...route.repo.slice(0, depth)))) return send(res, 400, 'a repository cannot be created inside another');
      }
      await backend.create();
      return send(res, 200, '');
    }
    if (method === 'DELETE') return send(res, 403, 'deleting a repository is not allowed');
    return send(res, 404, 'no such path');
  }
  if (route.kind !== 'config' && route.name === undefined) {
    if (method !== 'GET') return send(res, 405, 'method not allowed');
    const files: Array<{ name: string; size: number }> = [];
    for await (const f of backend.list(route.kind)) files.push({ name: f.name, size: f.sizeBytes });
    const v2 = (req.headers.accept ?? '').includes('application/vnd.x.restic.rest.v2');
    res.setHeader('Content-Type', v2 ? 'application/vnd.x.restic.rest.v2' : 'application/json');
    return send(res, 200, JSON.stringify(v2 ? files : files.map((f) => f.name)));
  }
  const kind = route.kind;
  const name = route.name ?? 'config';
  switch (method) {
    case 'HEAD': {
      const info = await backend.stat(kind, name);
      res.setHeader('Content-Length', info.sizeBytes);
      res.writeHead(200).end();
      return;
    }
    case 'GET': {
      const size = (await backend.stat(kind, name)).sizeBytes;
      const range = parseRange(req.headers.range, size);
      if (range === 'invalid') return send(res, 416, 'bad range');
      const data = await backend.read(kind, name, range);
      res.setHeader('Content-Type', 'application/octet-stream');
      if (range) res.setHeader('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${size}`);
      return sendBytes(res, range ? 206 : 200, data);
    }
    case 'POST':
      if (!isRepository(join(o.root, ...route.repo))) return send(res, 404, 'no repository at this path');
      return await receive(req, res, backend, kind, name, o.maxRequestBytes, state.uploads);
    case 'DELETE':
      // restic removes its own locks even against an append-only server; nothing else goes.
      if (o.appendOnly && kind !== 'locks') return send(res, 403, 'append-only: deleting is not allowed');
      await backend.delete(kind, name);
      return send(res, 200, '');
    default:
      return send(res, 405, 'method not allowed');
  }
}

/**
 * An upload: refused before its body is read when it is too big or its repository does not exist,
 * then streamed to a temporary file (UPLOADS_AT_ONCE at a time: memory holds a socket's chunk per
 * upload, not the uploads), and placed under its name only when its SHA-256 is that name (every
 * repository file but the config is named so), as restic's rest-server checks.
 */
async function receive(req: IncomingMessage, res: ServerResponse, backend: Backend, kind: FileKind, name: string, limit: number, uploads: Limiter): Promise<void> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return send(res, 413, `request larger than ${limit} bytes`);
  if (!backend.spool) throw new Error('the local backend spools uploads');
  await uploads.acquire();
  const spool = backend.spool(kind);
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).byteLength;
      if (size > limit) return send(res, 413, `request larger than ${limit} bytes`);
      hash.update(chunk as Buffer);
      await spool.write(chunk as Buffer, size - (chunk as Buffer).byteLength);
    }
    if (kind !== 'config' && hash.digest('hex') !== name) return send(res, 400, 'the content does not match its name (SHA-256)');
    await spool.place(name);
    return send(res, 200, '');
  } finally {
    await spool.discard();
    uploads.release();
  }
}

/** Whether `dir` holds a repository: one created (?create=true) has its folders, config or not. */
function isRepository(dir: string): boolean {
  return existsSync(join(dir, 'keys')) && existsSync(join(dir, 'data'));
}

/**
 * The segment that names an object type (or "config") ends the repository path: what follows is
 * a file name of 64 hex digits, or nothing (a listing). Anything else is refused, so no path can
 * reach a file the protocol does not name (such as a "config" inside locks/).
 */
function parseRoute(pathname: string): Route {
  const trailing = pathname.endsWith('/');
  let segments: string[];
  try {
    segments = pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  } catch {
    throw new Refusal(400, 'malformed path');
  }
  if (!segments.every((s) => SEGMENT.test(s))) throw new Refusal(404, 'not found'); // no "..", no hidden names
  const at = segments.findIndex((s) => s === 'config' || TYPES[s] !== undefined);
  if (at < 0) return { repo: segments };
  const repo = segments.slice(0, at);
  const rest = segments.slice(at + 1);
  if (segments[at] === 'config') {
    if (rest.length) throw new Refusal(404, 'not found');
    return { repo, kind: 'config' };
  }
  const kind = TYPES[segments[at]];
  if (rest.length === 0 && trailing) return { repo, kind };
  if (rest.length === 1 && FILE_NAME.test(rest[0])) return { repo, kind, name: rest[0] };
  throw new Refusal(400, 'a file name is 64 hexadecimal digits');
}

async function authenticate(req: IncomingMessage, auth: Authenticator): Promise<string | undefined> {
  const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return await auth.check(text.slice(0, colon), text.slice(colon + 1));
}

function parseRange(header: string | undefined, size: number): { offset: number; length: number } | undefined | 'invalid' {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start > end || start >= size) return 'invalid';
  return { offset: start, length: end - start + 1 };
}

function statusOf(err: unknown): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 404;
  if (code === 'EEXIST') return 409; // write-once: a file is never replaced
  if (code === 'ENOSPC' || code === 'EDQUOT') return 507;
  if (code === 'EACCES' || code === 'EPERM') return 403;
  return 500;
}

function send(res: ServerResponse, status: number, text: string): void {
  sendBytes(res, status, Buffer.from(text));
}

function sendBytes(res: ServerResponse, status: number, body: Buffer): void {
  if (res.headersSent) return void res.destroy();
  res.setHeader('Content-Length', body.byteLength);
  res.writeHead(status).end(body);
}
