// The append-only attack on prune: a client that can only add files (an append-only server) adds
// a junk pack and an index file that supersedes all others and places every data blob in the junk
// pack. Before, check said "no problems" and the administrator's next prune deleted every real
// data pack as unindexed. Now check reports it and prune deletes nothing a snapshot needs.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeIndex, type IndexedPack } from '../src/repo/index-file.ts';
import { readPackEntries } from '../src/repo/index-loader.ts';
import { packSizeFor } from '../src/repo/pack-check.ts';
import { PACK_HEADER_BYTES } from '../src/repo/pack.ts';
import { Crafter } from './hostile-repo.ts';
import { cli, cliOk, newRepo, repoFiles, tempDir } from './helpers.ts';

interface Attack {
  repo: string;
  source: string;
  realPacks: string[];
}

/** A repository with two files backed up, and its data packs as they are before the attack. */
async function victim(t: Parameters<typeof newRepo>[0]): Promise<Attack> {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'a.bin'), randomBytes(3 << 20));
  writeFileSync(join(source, 'b.txt'), 'the ledger\n'.repeat(10_000));
  await cliOk(['backup', '--repo', repo, source]);
  return { repo, source, realPacks: repoFiles(repo, 'packs') };
}

/** Writes an index that supersedes every index file and lists the tree packs as they were, and `junk`. */
async function supersedingIndex(c: Crafter, junk: IndexedPack): Promise<void> {
  const repo = c.repo;
  const packs: IndexedPack[] = [];
  const byPack = repo.index.groupByPack();
  repo.index.packNames().forEach((_, p) => {
    const entries = [...byPack.of(p)].map((i) => repo.index.entryAt(i));
    if (entries.length && entries.every((e) => e.type === 'tree')) packs.push({ id: repo.index.pack(p).id, salt: repo.index.pack(p).salt, entries });
  });
  packs.push(junk);
  const supersedes: Buffer[] = [];
  for await (const f of repo.backend.list('index')) supersedes.push(Buffer.from(f.name, 'hex'));
  const { name, bytes } = encodeIndex(repo.keys, { packs, supersedes });
  await repo.backend.write('index', name, bytes);
}

function dataBlobs(c: Crafter): { ids: Buffer[]; stored: number[]; raw: number[] } {
  const out = { ids: [] as Buffer[], stored: [] as number[], raw: [] as number[] };
  for (let i = 0; i < c.repo.index.size; i++) {
    const e = c.repo.index.entryAt(i);
    if (e.type !== 'data') continue;
    out.ids.push(e.id);
    out.raw.push(e.rawLength);
    out.stored.push(e.rawLength + 16); // as if stored uncompressed
  }
  return out;
}

test('a junk pack and an index that places every data blob in it: check reports damage, prune deletes nothing', async (t) => {
  const { repo, source, realPacks } = await victim(t);
  const c = await Crafter.open(repo);
  const { ids, stored, raw } = dataBlobs(c);
  // Junk of exactly the size that index implies, named by its hash as a pack file is.
  const junk = randomBytes(packSizeFor(PACK_HEADER_BYTES + stored.reduce((a, b) => a + b, 0), ids.length));
  const junkName = createHash('sha256').update(junk).digest();
  await c.repo.backend.write('packs', junkName.toString('hex'), junk);
  let offset = PACK_HEADER_BYTES;
  const entries = ids.map((id, i) => {
    const e = { id, type: 'data' as const, compression: 0, offset, storedLength: stored[i], rawLength: raw[i] };
    offset += stored[i];
    return e;
  });
  await supersedingIndex(c, { id: junkName, salt: randomBytes(32), entries });
  await c.close();

  const check = await cli(['check', '--repo', repo]);
  assert.equal(check.code, 21, check.stdout + check.stderr);
  assert.match(check.stdout + check.stderr, /header/);
  const prune = await cli(['prune', '--repo', repo]);
  assert.equal(prune.code, 15, prune.stdout + prune.stderr);
  assert.match(prune.stderr, /prune deletes nothing/);
  for (const p of realPacks) assert.ok(existsSync(p), `${p} is still there`);
  // The packs themselves still say where everything is.
  await cliOk(['repair', 'index', '--repo', repo]);
  const target = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.deepEqual(readFileSync(join(target, source, 'a.bin')), readFileSync(join(source, 'a.bin')));
});

test('the same with a junk pack whose header is valid: prune deletes nothing, check --read-data finds the junk', async (t) => {
  const { repo, realPacks } = await victim(t);
  const c = await Crafter.open(repo);
  const { ids, raw } = dataBlobs(c);
  // Sealed with the repository's key (the attacker has it): the header lists every data blob.
  for (let i = 0; i < ids.length; i++) await c.forge('data', ids[i], randomBytes(raw[i]), 0, raw[i], true);
  await c.repo.flush();
  const forged = repoFiles(repo, 'packs').filter((p) => !realPacks.includes(p));
  assert.equal(forged.length, 1);
  const name = forged[0].split('/').pop()!;
  const { salt, entries } = await readPackEntries(c.repo.backend, c.repo.keys, name, statSync(forged[0]).size);
  await supersedingIndex(c, { id: Buffer.from(name, 'hex'), salt, entries });
  await c.close();

  const prune = await cli(['prune', '--repo', repo]);
  assert.equal(prune.code, 15, prune.stdout + prune.stderr);
  assert.match(prune.stderr, /is damaged where the index places it, and a pack prune would delete holds another copy \(and \d+ more\); prune deletes nothing/);
  for (const p of realPacks) assert.ok(existsSync(p), `${p} is still there`);
  const check = await cli(['check', '--repo', repo, '--read-data']);
  assert.equal(check.code, 21);
  assert.match(check.stdout + check.stderr, /does not match its id|MAC/);
});

for (const junkFirst of [true, false]) {
  test(`a junk pack and the real packs in one index, the junk ${junkFirst ? 'first' : 'last'}: whichever copy the index shows, prune loses nothing`, async (t) => {
    const { repo, realPacks, source } = await victim(t);
    const c = await Crafter.open(repo);
    const { ids, raw } = dataBlobs(c);
    const byPack = c.repo.index.groupByPack();
    const listed = c.repo.index.packNames().map((_, p) => ({ id: c.repo.index.pack(p).id, salt: c.repo.index.pack(p).salt, entries: [...byPack.of(p)].map((i) => c.repo.index.entryAt(i)) }));
    for (let i = 0; i < ids.length; i++) await c.forge('data', ids[i], randomBytes(raw[i]), 0, raw[i], true);
    await c.repo.flush();
    const forged = repoFiles(repo, 'packs').filter((p) => !realPacks.includes(p))[0];
    const name = forged.split('/').pop()!;
    const junk = { id: Buffer.from(name, 'hex'), ...(await readPackEntries(c.repo.backend, c.repo.keys, name, statSync(forged).size)) };
    const supersedes: Buffer[] = [];
    for await (const f of c.repo.backend.list('index')) supersedes.push(Buffer.from(f.name, 'hex'));
    // One index file listing every used blob twice: in the junk pack and in its real one.
    const file = encodeIndex(c.repo.keys, { packs: junkFirst ? [junk, ...listed] : [...listed, junk], supersedes });
    await c.repo.backend.write('index', file.name, file.bytes);
    await c.close();

    // Either the index shows the real copies (and the junk pack goes as unused), or it shows the
    // junk ones, whose real copies' packs prune would delete: then it refuses.
    const prune = await cli(['prune', '--repo', repo, '--max-unused', '0%']);
    if (prune.code !== 0) {
      assert.equal(prune.code, 15, prune.stdout + prune.stderr);
      assert.match(prune.stderr, /a pack prune would delete holds another copy/);
    }
    for (const p of realPacks) assert.ok(existsSync(p), `${p} is still there`);
    await cliOk(['repair', 'index', '--repo', repo, '--read-all-packs']);
    const target = tempDir(t);
    await cliOk(['restore', '--repo', repo, 'latest', '--target', target]);
    assert.deepEqual(readFileSync(join(target, source, 'a.bin')), readFileSync(join(source, 'a.bin')));
  });
}
