import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RestBackend } from './rest.ts';

test('a rest: location never shows its password, and plain http to another machine is warned about', async () => {
  const warnings: string[] = [];
  const remote = RestBackend.fromLocation('http://alice:s3cret@backup.example:8000/alice/', {}, (w) => warnings.push(w));
  assert.equal(remote.location, 'rest:http://alice@backup.example:8000/alice/');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /plain http to another machine/);
  assert.ok(!warnings[0].includes('s3cret'));
  await remote.close();
  const local = RestBackend.fromLocation('http://alice:s3cret@127.0.0.1:8000/alice/', {}, (w) => warnings.push(w));
  await local.close();
  assert.equal(warnings.length, 1, 'loopback is fine');
  assert.throws(() => RestBackend.fromLocation('http://alice:s3cret@[bad/', {}), (err: Error) => !err.message.includes('s3cret') && /alice:\*\*\*@/.test(err.message));
  assert.throws(() => RestBackend.fromLocation('ftp://alice:s3cret@host/', {}), (err: Error) => !err.message.includes('s3cret'));
});

test('a hostile server that sends more than was asked for is cut off, not held in memory', async (t) => {
  const { createServer } = await import('node:http');
  const chunk = Buffer.alloc(1 << 20, 7);
  let sent = 0;
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const more = (): void => {
      // Up to 256 MiB, far past the 100 bytes asked for, unless the client hangs up first.
      while (sent < 256 << 20 && res.write(chunk)) sent += chunk.length;
      if (sent >= 256 << 20) res.end();
    };
    res.on('drain', more);
    req.on('close', () => res.destroy());
    more();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const backend = RestBackend.fromLocation(`http://127.0.0.1:${port}/repo/`, {});
  t.after(() => backend.close());
  const before = process.memoryUsage().arrayBuffers;
  await assert.rejects(backend.read('packs', 'a'.repeat(64), { offset: 0, length: 100 }), /more than the 100 bytes asked for/);
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, 'nothing near the 256 MiB was kept');
  assert.ok(sent < 256 << 20, `the server was cut off after ${sent} bytes`);
});
