import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { layoutOf, nativeAddon, type HashHandle, type LaneHandle } from './native-addon.ts';

test('a process whose only user of the addon was a worker thread exits cleanly after the worker ends', () => {
  // The addon keeps contexts per thread behind pthread keys. When only a worker had loaded it,
  // Node unloaded it as the worker ended, and the thread's exit then crashed the process (139).
  const chunker = new URL('../repo/chunker.ts', import.meta.url).href;
  const zstd = new URL('./zstd.ts', import.meta.url).href;
  const worker = `const { macBlob } = await import(${JSON.stringify(chunker)});
    const { compressBlob } = await import(${JSON.stringify(zstd)});
    macBlob(new Uint8Array(32), new Uint8Array(100));
    compressBlob(Buffer.alloc(1000, 1));
    (await import('node:worker_threads')).parentPort.postMessage('used');`;
  const main = `import { Worker } from 'node:worker_threads';
    const w = new Worker(${JSON.stringify(worker)}, { eval: true, type: 'module' });
    console.log(await new Promise((resolve) => w.once('message', resolve)));
    await w.terminate();
    console.log('ended');`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', main], { encoding: 'utf8' });
  assert.equal(child.stdout, 'used\nended\n', child.stderr);
  assert.equal(child.status, 0, `exit ${child.status} ${child.signal ?? ''}`);
});

test('writeAt: ranges that meet inside a block, written at once past the page cache and through it, make the file they describe', async (t) => {
  const native = nativeAddon();
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-direct-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'f');
  const fd = openSync(path, 'w');
  const direct = openSync(path, constants.O_WRONLY | constants.O_DIRECT);
  // Three ranges off every block boundary, each in an aligned buffer at its place's offset modulo
  // 4 KiB (so that its whole blocks go direct), and one in a plain buffer (through the page cache).
  const sizes = [300_001, 1_000_003, 77_777, 20_000];
  const data = sizes.map((n) => randomBytes(n));
  const places: number[] = [];
  sizes.reduce((at, n) => (places.push(at), at + n), 5_000);
  const writes = data.map((bytes, i) => {
    if (i === 3) return native.writeAt(fd, direct, bytes, places[i]);
    const lead = places[i] % 4096;
    const buffer = native.alignedBuffer(lead + bytes.length);
    bytes.copy(buffer, lead);
    return native.writeAt(fd, direct, buffer.subarray(lead), places[i]);
  });
  await Promise.all(writes);
  closeSync(direct);
  closeSync(fd);
  // Before anything reads the file: the page cache holds the partial blocks and the plain
  // buffer's range (util-linux's fincore counts what it holds), not the blocks written direct.
  const cached = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' });
  if (cached.status === 0) assert.ok(Number(cached.stdout.trim()) <= 6 * 4096 + 20_000 + 8192, `cached: ${cached.stdout.trim()} bytes`);
  else t.diagnostic('fincore is missing: what went past the page cache is not counted');
  const got = readFileSync(path);
  assert.equal(got.length, 5_000 + sizes.reduce((a, b) => a + b));
  assert.ok(got.subarray(0, 5_000).equals(Buffer.alloc(5_000)), 'the hole before the first range');
  assert.ok(got.subarray(5_000).equals(Buffer.concat(data)), 'every range in its place');
  const readOnly = openSync(path, 'r');
  t.after(() => closeSync(readOnly));
  await assert.rejects(native.writeAt(readOnly, -1, data[0], 0), { errno: -osConstants.errno.EBADF });
  assert.throws(() => native.writeAt(readOnly, -1, data[0], -1), TypeError, 'a negative position is refused');
});

test("the pool thread that ran an addon job yields to the main thread on waking (SCHED_BATCH), and the main thread keeps its policy", { skip: process.platform !== 'linux' }, async (t) => {
  const native = nativeAddon();
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-batch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fd = openSync(join(dir, 'f'), 'w');
  t.after(() => closeSync(fd));
  await native.writeAt(fd, -1, Buffer.from('job'), 0);
  // /proc/self/task/TID/stat: the policy is field 41, the 39th after the name's closing bracket.
  const policies = readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return { tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), policy: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38]) };
  });
  const SCHED_OTHER = 0;
  const SCHED_BATCH = 3;
  assert.equal(policies.find((p) => p.tid === process.pid)?.policy, SCHED_OTHER, JSON.stringify(policies));
  assert.ok(policies.some((p) => p.name === 'libuv-worker' && p.policy === SCHED_BATCH), JSON.stringify(policies));
});

test('sha256Update/sha256Digest: pieces hashed on the thread pool give node:crypto\'s SHA-256 of their concatenation; misuse is refused', async () => {
  const addon = nativeAddon();
  const pieces = [randomBytes(4 * 1024 * 1024 + 17), Buffer.alloc(0), randomBytes(1), randomBytes(65_536)];
  const hash = addon.sha256Create();
  for (const piece of pieces) await addon.sha256Update(hash, piece);
  assert.equal(addon.sha256Digest(hash).toString('hex'), createHash('sha256').update(Buffer.concat(pieces)).digest('hex'));
  assert.equal(addon.sha256Digest(addon.sha256Create()).toString('hex'), createHash('sha256').digest('hex'));
  // One context updated by two threads at once, or after its digest, would give a wrong name.
  const busy = addon.sha256Create();
  const first = addon.sha256Update(busy, pieces[0]);
  assert.throws(() => addon.sha256Update(busy, pieces[2]), /one at a time/);
  assert.throws(() => addon.sha256Digest(busy), /no update in flight/);
  await first;
  addon.sha256Digest(busy);
  assert.throws(() => addon.sha256Update(busy, pieces[2]), /before sha256Digest/);
  assert.throws(() => addon.sha256Digest(busy), /once/);
  assert.throws(() => addon.sha256Update({} as HashHandle, pieces[2]), TypeError);
});

test('alignedBuffer: a big buffer\'s whole 2 MiB stretches are huge pages once touched, where the kernel gives them on request', (t) => {
  // Faults are what this saves (native/direct_write.c's buffer_alloc); without THP or with it off, there is nothing to see.
  const setting = '/sys/kernel/mm/transparent_hugepage/enabled';
  const thp = existsSync(setting) ? readFileSync(setting, 'utf8').trim() : 'not in this kernel';
  if (!/\[(madvise|always)\]/.test(thp)) return t.skip(`transparent huge pages: ${thp}`);
  const hugeKiB = () => Number(/^AnonHugePages:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))?.[1]);
  const before = hugeKiB();
  const buffer = nativeAddon().alignedBuffer(4 * 1024 * 1024 + 64 * 1024);
  buffer.fill(1);
  // Two whole huge pages; the 64 KiB tail stays in small pages, so the buffer is not 6 MiB resident.
  const grown = hugeKiB() - before;
  assert.ok(grown >= 4096, `AnonHugePages grew by ${grown} kB`);
  assert.equal(buffer.byteLength, 4 * 1024 * 1024 + 64 * 1024);
});

test('handles are type-tagged: one kind passed for another, or a plain object, is refused', () => {
  const addon = nativeAddon();
  const hash = addon.sha256Create();
  const lane = addon.chunkLaneCreate(new Uint32Array(256), new Float64Array([64, 128, 256, 512, 1, 128, 64, 0, 0]), new Uint8Array(32), new BigUint64Array(8));
  assert.throws(() => addon.chunkLaneClose(hash as unknown as LaneHandle), TypeError, 'a hash is no lane');
  assert.throws(() => addon.sha256Digest(lane as unknown as HashHandle), TypeError, 'a lane is no hash');
  assert.throws(() => addon.chunkLaneClose({} as LaneHandle), TypeError);
  addon.chunkLaneClose(lane);
  assert.equal(addon.sha256Digest(hash).length, 32, 'each still works as itself');
});

test('the file calls check their arguments: a NUL inside a path, a wrong type or range is a TypeError, not another file', () => {
  const addon = nativeAddon();
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-args-'));
  try {
    assert.throws(() => addon.utimens(Buffer.from(`${dir}\0/elsewhere`), 0, 0, 0, 0), /must not hold a NUL byte/);
    assert.throws(() => addon.listXattrs('not a buffer' as unknown as Buffer), TypeError);
    assert.throws(() => addon.utimens(Buffer.from(dir), 0, 1e9, 0, 0), TypeError, 'nanoseconds past a second');
    assert.throws(() => addon.mknod(Buffer.from(join(dir, 'f')), 0o100644, 0, 0), TypeError, 'mknod makes no regular file');
    assert.throws(() => (addon.futimens as (...a: unknown[]) => void)(3), TypeError, 'too few arguments');
    assert.equal(existsSync(join(dir, 'f')), false);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('the record layouts come from the addon, and a build that differs from the code is refused clearly', () => {
  assert.equal(nativeAddon().layout.scan.fields, Object.keys(nativeAddon().layout.scan).length - 1, 'one number per named field');
  assert.throws(() => layoutOf('restore', { file: 10 }), /native helper does not match this version \(its restore records differ in file\)/);
});
