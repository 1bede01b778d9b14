import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativeAddon } from '../lib/native-addon.ts';
import type { TreeNode } from '../model/tree.ts';
import { Repository } from '../repo/repository.ts';
import { LocalBackend } from '../storage/local.ts';
import { RestoreWriters, type RunBlob } from './restore-writers.ts';

process.env.LIFEBOAT_KDF_MEMORY_KIB ??= '1024';

/** A repository holding `blobs`, and for each its place: what restore hands the writers. */
async function stored(t: { after: (f: () => void) => void }, blobs: Buffer[]) {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-writers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const repo = await Repository.init(new LocalBackend(join(dir, 'repo')), 'pw');
  await repo.reloadIndex();
  const ids: Buffer[] = [];
  for (const b of blobs) ids.push((await repo.saveBlob('data', b)).id);
  await repo.flush();
  const locs = ids.map((id) => repo.index.get(id)!);
  const pack = locs[0].pack;
  assert.ok(locs.every((l) => l.pack === pack), 'one pack');
  const start = Math.min(...locs.map((l) => l.offset));
  const end = Math.max(...locs.map((l) => l.offset + l.storedLength));
  const path = repo.backend.localPath!('packs', pack.id.toString('hex'));
  const packKey = repo.packKey(pack);
  const place = (i: number, positions: number[]): RunBlob => ({
    blobId: ids[i], at: locs[i].offset - start, offset: locs[i].offset, storedLength: locs[i].storedLength, compression: locs[i].compression, rawLength: locs[i].rawLength, positions,
  });
  const sealed = (i: number) => readFileSync(path).subarray(locs[i].offset, locs[i].offset + locs[i].storedLength);
  return { dir, repo, macKey: repo.keys.blobId, range: { path, offset: start, length: end - start }, packKey, place, sealed, locs, ids };
}

function node(extra: Partial<TreeNode> = {}): TreeNode {
  return { name: 'f', type: 'file', mode: 0o640, uid: 0, gid: 0, mtimeNs: '1700000000123456789', ctimeNs: '0', inode: '0', device: '0', links: 1, size: 0, ...extra };
}

test('a run is decoded and written at each position; zeros stay holes in a sparse file', async (t) => {
  const zeros = Buffer.alloc(256 * 1024);
  const text = Buffer.from('compressible '.repeat(20_000));
  const noise = randomBytes(100_000);
  const { dir, range, packKey, place, macKey } = await stored(t, [text, noise, zeros]);
  const writers = new RestoreWriters(2, 64, macKey);
  t.after(() => writers.close());
  const path = join(dir, 'out');
  const fd = openSync(path, 'w');
  // text, noise, zeros, text again: one blob at two places, and a hole
  const at = [0, text.length, text.length + noise.length, text.length + noise.length + zeros.length];
  const bytes = await writers.writeRun(fd, range, packKey, [place(0, [at[0], at[3]]), place(1, [at[1]]), place(2, [at[2]])], { sparse: true });
  closeSync(fd);
  const expected = Buffer.concat([text, noise, zeros, text]);
  assert.equal(bytes, expected.length);
  assert.deepEqual(readFileSync(path), expected);
  assert.ok(statSync(path).blocks * 512 < expected.length - 200 * 1024, 'the zeros were not written');
});

test('with a direct descriptor, runs that share a block at their ends write the same file as without', async (t) => {
  // Sizes and places off every 4 KiB boundary: each run has partial blocks at both ends, and the
  // two runs below meet inside one block, which must go through the page cache from both.
  const blobs = [randomBytes(100_001), Buffer.from('compressible '.repeat(23_457)), randomBytes(70_003), randomBytes(5_000)];
  const { dir, range, packKey, place, macKey } = await stored(t, blobs);
  const writers = new RestoreWriters(2, 64, macKey);
  t.after(() => writers.close());
  const at: number[] = [];
  blobs.reduce((offset, b) => (at.push(offset), offset + b.length), 6_001);
  const path = join(dir, 'out');
  const fd = openSync(path, 'w');
  const direct = openSync(path, constants.O_WRONLY | constants.O_DIRECT);
  const [first, second] = await Promise.all([
    writers.writeRun(fd, range, packKey, [place(0, [at[0]]), place(1, [at[1]])], { sparse: false, directFd: direct }),
    writers.writeRun(fd, range, packKey, [place(2, [at[2]]), place(3, [at[3], 0])], { sparse: false, directFd: direct }),
  ]);
  closeSync(direct);
  closeSync(fd);
  assert.equal(first! + second!, blobs.reduce((n, b) => n + b.length, 0) + blobs[3].length);
  const expected = Buffer.concat(blobs);
  const got = readFileSync(path);
  assert.equal(got.length, 6_001 + expected.length);
  assert.deepEqual(got.subarray(6_001), expected);
  assert.deepEqual(got.subarray(0, 6_001), Buffer.concat([blobs[3], Buffer.alloc(1_001)]), 'the last blob again at 0, then the gap');
});

test("a run that does not decode or cannot be read resolves undefined; a failed write rejects with the system's words", async (t) => {
  const text = Buffer.from('some text '.repeat(1000));
  const { dir, range, packKey, place, macKey } = await stored(t, [text]);
  const writers = new RestoreWriters(2, 64, macKey);
  t.after(() => writers.close());
  const fd = openSync(join(dir, 'out'), 'w');
  t.after(() => closeSync(fd));
  assert.equal(await writers.writeRun(fd, range, Buffer.alloc(32, 7), [place(0, [0])], { sparse: false }), undefined, 'wrong key: does not authenticate');
  // A blob that authenticates but whose content is not what its id names (as another machine
  // holding the key can seal): under another MAC key the same bytes do not match their id.
  const otherMac = new RestoreWriters(1, 64, Buffer.alloc(32, 9));
  t.after(() => otherMac.close());
  assert.equal(await otherMac.writeRun(fd, range, packKey, [place(0, [0])], { sparse: false }), undefined, 'content not matching its id is damage');
  const packEnd = statSync(range.path).size;
  assert.equal(await writers.writeRun(fd, { ...range, offset: packEnd - 10 }, packKey, [place(0, [0])], { sparse: false }), undefined, 'past the end of the pack');
  assert.equal(await writers.writeRun(fd, { ...range, path: join(dir, 'nope') }, packKey, [place(0, [0])], { sparse: false }), undefined, 'no such pack');
  const readOnly = openSync(join(dir, 'out'), 'r');
  t.after(() => closeSync(readOnly));
  await assert.rejects(writers.writeRun(readOnly, range, packKey, [place(0, [0])], { sparse: false }), { code: 'EBADF', message: 'EBADF: bad file descriptor, write' });
});

test('small files: sealed and plain parts, metadata, and each failure reported for its own file', async (t) => {
  const text = Buffer.from('small file text '.repeat(500));
  const { dir, packKey, locs, ids, sealed, macKey } = await stored(t, [text]);
  const writers = new RestoreWriters(1, 2, macKey); // two batches of two files
  t.after(() => writers.close());
  const part = { sealed: sealed(0), blob: { blobId: ids[0], packKey, offset: locs[0].offset, compression: locs[0].compression, rawLength: locs[0].rawLength } };
  const xattr = (name: string) => ({ name: Buffer.from(name).toString('base64'), value: Buffer.from('v').toString('base64') });
  const otherMac = new RestoreWriters(1, 2, Buffer.alloc(32, 9));
  t.after(() => otherMac.close());
  assert.equal(await otherMac.write(Buffer.from(join(dir, 'mismatch')), [part], node()), undefined, 'a blob that does not MAC to its id is not written');
  assert.throws(() => statSync(join(dir, 'mismatch')));
  const [ok, damaged, missing, badXattr] = await Promise.allSettled([
    writers.write(Buffer.from(join(dir, 'ok')), [Buffer.from('head:'), part], node({ mode: 0o604 })),
    writers.write(Buffer.from(join(dir, 'damaged')), [{ ...part, sealed: Buffer.concat([part.sealed.subarray(0, 20), Buffer.from([part.sealed[20] ^ 1]), part.sealed.subarray(21)]) }], node()),
    writers.write(Buffer.from(join(dir, 'no-such-folder', 'f')), [Buffer.from('x')], node()),
    writers.write(Buffer.from(join(dir, 'xattr')), [Buffer.from('y')], node({ xattrs: [xattr('bogus.namespace')] })),
  ]);
  assert.deepEqual(ok, { status: 'fulfilled', value: [] });
  assert.deepEqual(readFileSync(join(dir, 'ok')), Buffer.concat([Buffer.from('head:'), text]));
  const st = statSync(join(dir, 'ok'), { bigint: true });
  assert.equal(st.mode & 0o7777n, 0o604n);
  assert.equal(st.mtimeNs, 1700000000123456789n);
  assert.deepEqual(damaged, { status: 'fulfilled', value: undefined }, 'a part that does not authenticate: nothing written, said so');
  assert.throws(() => statSync(join(dir, 'damaged')));
  assert.equal(missing.status, 'rejected');
  assert.equal((missing as PromiseRejectedResult).reason.message, `ENOENT: no such file or directory, open '${join(dir, 'no-such-folder', 'f')}'`);
  assert.equal(badXattr.status, 'fulfilled');
  assert.match((badXattr as PromiseFulfilledResult<string[]>).value.join(), /^cannot set extended attribute bogus\.namespace: ENOTSUP: operation not supported.*, fsetxattr$/);
  assert.deepEqual(readFileSync(join(dir, 'xattr')).toString(), 'y', 'the file itself is written');
});

test('the native calls refuse descriptions that do not add up, before any thread runs', () => {
  const native = nativeAddon() as unknown as { restoreWriteFiles(...args: unknown[]): Promise<void> }; // wrong arguments on purpose
  const meta = new Float64Array([5, 1, 0, 0o644, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0]); // a path of 5 bytes, one part of 10 bytes
  const args = (content: number, names: number) => [new Uint8Array(content), meta, new Uint8Array(names), new Uint8Array(0), new Int32Array(4), new Int32Array(0), new Uint8Array(32)];
  assert.throws(() => native.restoreWriteFiles(...args(9, 5)), TypeError, 'content shorter than its parts');
  assert.throws(() => native.restoreWriteFiles(...args(10, 4)), TypeError, 'names shorter than the path');
  assert.throws(() => native.restoreWriteFiles(new Uint8Array(10), meta.subarray(0, 12), new Uint8Array(5), new Uint8Array(0), new Int32Array(4), new Int32Array(0), new Uint8Array(32)), TypeError, 'meta cut short');
  assert.throws(() => native.restoreWriteFiles(...args(10, 5).slice(0, 6), new Uint8Array(31)), TypeError, 'a MAC key of the wrong size');
  const huge = new Float64Array(meta);
  huge[1] = 2 ** 62; // a part count whose size in meta wraps around
  assert.throws(() => native.restoreWriteFiles(...args(10, 5).map((a, i) => (i === 1 ? huge : a))), TypeError, 'a count beyond meta');
});
