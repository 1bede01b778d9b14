// `lifeboat serve`: restic's REST protocol v2 over HTTP(S) for the repositories below a folder,
// each at its own URL path, so restic and Lifeboat clients can both use it. Files are stored by
// the local backend (whole or not at all, write-once). With append-only, clients can add files but
// never delete or replace them (except their own locks), which is what protects the backups from
// a client machine taken over by ransomware.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { openBackend, type Backend, type FileKind } from '../storage/open.ts';
import { monotonicMs, nowIso } from '../lib/clock.ts';
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

/** What a request asks for: a repository path and a file, a listing, or creation. */
interface Route {
  repo: string[];
  kind?: FileKind;
  name?: string;
}

export function createRestServer(options: ServeOptions): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const started = monotonicMs();
    let user = '-';
    handle(req, res, options, (u) => (user = u))
      .catch((err: unknown) => send(res, statusOf(err), (err as Error).message))
      .finally(() => {
        const bytes = Number(res.getHeader('content-length') ?? 0);
        options.accessLog?.(`${nowIso()} ${req.socket.remoteAddress ?? '-'} ${user} "${req.method} ${req.url}" ${res.statusCode} ${bytes} ${Math.round(monotonicMs() - started)}ms`);
      });
  };
  return options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
}

async function handle(req: IncomingMessage, res: ServerResponse, o: ServeOptions, setUser: (u: string) => void): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://server');
  let user: string | undefined;
  if (o.auth) {
    user = await authenticate(req, o.auth);
    if (!user) {
      res.setHeader('WWW-Authenticate', 'Basic realm="lifeboat"');
      return send(res, 401, 'authentication required');
    }
    setUser(user);
  }
  const route = parseRoute(url.pathname);
  if (!route) return send(res, 404, 'no such path');
  // With private repositories a user sees only paths below their own name.
  if (o.privateRepos && (!user || route.repo[0] !== user)) return send(res, 403, 'not your repository');
  const backend = await openBackend(join(o.root, ...route.repo));
  try {
    await serveRoute(req, res, url, route, backend, o);
  } finally {
    await backend.close();
  }
}

async function serveRoute(req: IncomingMessage, res: ServerResponse, url: URL, route: Route, backend: Backend, o: ServeOptions): Promise<void> {
  const method = req.method ?? 'GET';
  if (!route.kind) {
    if (method === 'POST' && url.searchParams.get('create') === 'true') {
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
      const range = parseRange(req.headers.range, (await backend.stat(kind, name)).sizeBytes);
      if (range === 'invalid') return send(res, 416, 'bad range');
      const data = await backend.read(kind, name, range);
      res.setHeader('Content-Type', 'application/octet-stream');
      return sendBytes(res, range ? 206 : 200, data);
    }
    case 'POST': {
      const body = await readBody(req, o.maxRequestBytes);
      if (body === undefined) return send(res, 413, `request larger than ${o.maxRequestBytes} bytes`);
      await backend.write(kind, name, body);
      return send(res, 200, '');
    }
    case 'DELETE':
      // restic removes its own locks even against an append-only server; nothing else goes.
      if (o.appendOnly && kind !== 'locks') return send(res, 403, 'append-only: deleting is not allowed');
      await backend.delete(kind, name);
      return send(res, 200, '');
    default:
      return send(res, 405, 'method not allowed');
  }
}

function parseRoute(pathname: string): Route | undefined {
  const trailing = pathname.endsWith('/');
  const segments = pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  if (!segments.every((s) => SEGMENT.test(s))) return undefined; // no "..", no hidden names
  const last = segments.at(-1);
  if (last === 'config') return { repo: segments.slice(0, -1), kind: 'config' };
  if (last !== undefined && trailing && TYPES[last]) return { repo: segments.slice(0, -1), kind: TYPES[last] };
  const type = segments.at(-2);
  if (last !== undefined && type !== undefined && TYPES[type] && FILE_NAME.test(last)) return { repo: segments.slice(0, -2), kind: TYPES[type], name: last };
  return { repo: segments };
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

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer[] | undefined> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return undefined;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > limit) return undefined;
    parts.push(chunk as Buffer);
  }
  return parts;
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
