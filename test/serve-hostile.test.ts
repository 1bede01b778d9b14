// `lifeboat serve` facing a hostile client (one whose machine was taken over, holding its own
// credentials): paths that reach files the protocol does not name, repositories inside
// repositories, uploads that are not what their names say or that never end, error bodies that
// name server paths, and password guessing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { test } from 'node:test';
import { cliOk, tempDir } from './helpers.ts';
import { addUser, serve } from './services/serve.ts';

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One request; `declaredLength` sends that Content-Length with `body` (or nothing). */
function call(port: number, method: string, path: string, options: { body?: Buffer; auth?: string; headers?: Record<string, string>; declaredLength?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth) headers.authorization = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    if (options.declaredLength !== undefined) headers['content-length'] = String(options.declaredLength);
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    if (options.declaredLength !== undefined && !options.body) return req.flushHeaders(); // the body never comes
    req.end(options.body);
  });
}

const nameOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test('serve: the segment naming an object type ends the repository path; no repository inside another', async (t) => {
  const root = tempDir(t);
  const { port } = await serve(t, root, ['--no-auth', '--append-only']);
  assert.equal((await call(port, 'POST', '/r/?create=true')).status, 200);
  for (const path of ['/r/locks/config', '/r/keys/config', '/r/snapshots/config', '/r/index/config', '/r/data/ab/config', '/r/data/ab', '/r/locks/x/y']) {
    const r = await call(port, 'POST', path, { body: Buffer.from('junk') });
    assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
  }
  assert.equal((await call(port, 'POST', '/r/data/ab?create=true')).status, 400, 'no repository inside data/');
  assert.equal((await call(port, 'POST', '/r/inner/?create=true')).status, 400, 'no repository inside a repository');
  // A lock named "config" would have blocked every backup for good: there is none.
  const locks = await call(port, 'GET', '/r/locks/', { headers: { accept: 'application/vnd.x.restic.rest.v2' } });
  assert.deepEqual(JSON.parse(locks.body), []);
});

test('serve: an upload must hash to its name, and is refused before its body when there is no repository', async (t) => {
  const root = tempDir(t);
  const { port } = await serve(t, root, ['--no-auth']);
  assert.equal((await call(port, 'POST', '/r/?create=true')).status, 200);
  const body = randomBytes(10_000);
  assert.equal((await call(port, 'POST', `/r/data/${nameOf(Buffer.from('other'))}`, { body })).status, 400, 'content that is not its name');
  assert.equal((await call(port, 'POST', `/r/data/${nameOf(body)}`, { body })).status, 200);
  assert.equal((await call(port, 'POST', `/r/data/${nameOf(body)}`, { body })).status, 409, 'write-once');
  // A gigabyte announced, nothing sent: the answer comes at once, without waiting for the body.
  const early = await call(port, 'POST', `/r/data/${nameOf(Buffer.from('big'))}`, { declaredLength: 1 << 30 });
  assert.equal(early.status, 413);
  const missing = await call(port, 'POST', `/nowhere/data/${nameOf(body)}`, { declaredLength: 1000 });
  assert.equal(missing.status, 404);
  // Error bodies are generic, and never name a path on the server.
  const notFound = await call(port, 'GET', `/r/data/${nameOf(Buffer.from('absent'))}`);
  assert.equal(notFound.status, 404);
  assert.ok(!notFound.body.includes(root), notFound.body);
  assert.equal((await call(port, 'GET', '/r/data/%zz')).status, 400);
  const ranged = await call(port, 'GET', `/r/data/${nameOf(body)}`, { headers: { range: 'bytes=100-199' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers['content-range'], 'bytes 100-199/10000');
});

test('serve: many large uploads at once stream to disk instead of memory', async (t) => {
  const root = tempDir(t);
  const { port, daemon } = await serve(t, root, ['--no-auth']);
  assert.equal((await call(port, 'POST', '/r/?create=true')).status, 200);
  const bodies = Array.from({ length: 12 }, () => randomBytes(24 << 20));
  const answers = await Promise.all(bodies.map((body) => call(port, 'POST', `/r/data/${nameOf(body)}`, { body })));
  assert.deepEqual(answers.map((a) => a.status), Array(12).fill(200));
  const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${daemon.child.pid}/status`, 'utf8'))![1]);
  // Held whole, 12 uploads of 24 MiB took 288 MiB beyond the process's own ~60 MiB.
  assert.ok(peakKiB < 200 * 1024, `peak RSS ${peakKiB} KiB`);
});

test('serve: an unknown user costs as much as a wrong password, and guessing is limited per client', async (t) => {
  const root = tempDir(t);
  const env = { LIFEBOAT_KDF_MEMORY_KIB: '32768' };
  await addUser(root, 'alice', 'right', env);
  const { port } = await serve(t, root, [], { env });
  await cliOk(['init', '--repo', `rest:http://alice:right@127.0.0.1:${port}/alice/`]);
  const timed = async (auth: string): Promise<number> => {
    const started = process.hrtime.bigint();
    assert.equal((await call(port, 'GET', '/alice/config', { auth })).status, 401);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 4; i++) {
    known.push(await timed('alice:wrong'));
    unknown.push(await timed(`mallory${i}:wrong`));
  }
  const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1];
  assert.ok(median(unknown) > median(known) / 2, `unknown ${median(unknown)} ms, known ${median(known)} ms`);
  for (let i = 0; i < 2; i++) await timed('alice:wrong'); // ten failures in all from this address
  assert.equal((await call(port, 'GET', '/alice/config', { auth: 'alice:right' })).status, 429, 'refused for a while, even with the right password');
});
