// The damage matrix: for each kind of repository file (config, keys, index, pack, snapshot, lock)
// one flipped byte, a truncation and a deletion. check finds each one and names the file, and
// where data is lost, the snapshots and paths it touches; then the repairs bring back everything
// still readable. Each case damages its own copy of one template repository.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, cliOk, flipByte, MAIN, newRepo, repoFiles, tempDir } from './helpers.ts';

type Kind = 'config' | 'keys' | 'index' | 'packs' | 'snapshots' | 'locks';
type Damage = 'flip' | 'truncate' | 'delete';

function damage(path: string, how: Damage): void {
  if (how === 'delete') return rmSync(path);
  if (how === 'truncate') return truncateSync(path, Math.floor(statSync(path).size / 2));
  flipByte(path);
}

/** A lock file left by a process killed while it held it. */
async function leaveLock(repo: string): Promise<void> {
  const child = spawn(process.execPath, [MAIN, 'backup', '--repo', repo, '--stdin', '--stdin-filename', 'held.txt'], {
    env: { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' },
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const lockFiles = () => readdirSync(join(repo, 'locks')).filter((n) => /^[0-9a-f]{64}$/.test(n)); // not a temporary file mid-write
  while (lockFiles().length === 0) await sleep(20);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
}

interface Template {
  repo: string;
  source: string;
  /** The data pack that holds big.bin's blobs. */
  bigPack: string;
}

async function template(t: Parameters<typeof newRepo>[0]): Promise<Template> {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(join(source, 'docs'), { recursive: true });
  writeFileSync(join(source, 'docs', 'letter.txt'), 'Dear customer,\n'.repeat(500));
  writeFileSync(join(source, 'big.bin'), randomBytes(3 << 20));
  await cliOk(['backup', '--repo', repo, source]);
  writeFileSync(join(source, 'docs', 'new.txt'), randomBytes(10_000));
  await cliOk(['backup', '--repo', repo, source]);
  await leaveLock(repo);
  const before = new Set(repoFiles(repo, 'packs'));
  let bigPack = '';
  for (const p of before) {
    const header = JSON.parse((await cliOk(['cat', '--repo', repo, 'pack', p.split('/').pop()!])).stdout) as { blobs: Array<{ type: string; rawLength: number }> };
    if (header.blobs.some((b) => b.type === 'data' && b.rawLength > 100_000)) bigPack = p;
  }
  assert.ok(bigPack, 'found the pack that holds big.bin');
  return { repo, source, bigPack };
}

interface CheckJson {
  problems: Array<{ kind: string; file: string; message: string }>;
  affected: Array<{ snapshot: string; path: string }>;
  unreferencedPacks: string[];
}

const KINDS: Kind[] = ['config', 'keys', 'index', 'packs', 'snapshots', 'locks'];
const DAMAGES: Damage[] = ['flip', 'truncate', 'delete'];

test('damage matrix: every kind of file flipped, truncated and deleted; check names what is damaged', async (t) => {
  const tpl = await template(t);
  const snapshots = JSON.parse((await cliOk(['snapshots', '--json', '--repo', tpl.repo])).stdout) as Array<{ id: string }>;
  for (const kind of KINDS) {
    for (const how of DAMAGES) {
      const repo = join(tempDir(t), 'repo');
      cpSync(tpl.repo, repo, { recursive: true });
      const victim = kind === 'packs' ? tpl.bigPack.replace(tpl.repo, repo) : repoFiles(repo, kind)[0];
      const name = victim.split('/').pop()!;
      damage(victim, how);
      const r = await cli(['check', '--repo', repo, '--read-data', '--json']);
      const label = `${kind}/${how}`;
      if (kind === 'config') {
        assert.equal(r.code, how === 'delete' ? 10 : 15, `${label}: ${r.stderr}`);
        assert.match(r.stderr, /config/, label);
        continue;
      }
      if (kind === 'keys') {
        // The only key file: no password can open the repository; the message names the file.
        assert.equal(r.code, 15, `${label}: ${r.stderr}`);
        assert.match(r.stderr, how === 'delete' ? /no key file/ : new RegExp(`keys/${name}`), label);
        continue;
      }
      if (kind === 'snapshots' && how === 'delete') {
        // Not detectable: a deleted snapshot file looks exactly like a forgotten one (no list of
        // snapshots exists to compare with; restic's format has the same property). Its data
        // stays until a prune; the other snapshot is untouched.
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        continue;
      }
      if (kind === 'locks' && how === 'delete') {
        // A lock is a claim, not data: nothing is damaged. The process that held it finds out
        // before its next destructive step (see "a deleted lock" below).
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        continue;
      }
      assert.equal(r.code, 21, `${label}: check exits 21\n${r.stderr}`);
      const report = JSON.parse(r.stdout) as CheckJson;
      const named = report.problems.filter((p) => p.file === name);
      if (kind === 'index' && how === 'delete') {
        // A deleted file cannot be named; what it listed can: the packs no index lists, and
        // the snapshots and folders whose listings are now missing. check's text says what to run.
        assert.ok(report.unreferencedPacks.length > 0, label);
        assert.ok(report.affected.length > 0 && report.affected.every((a) => snapshots.some((s) => s.id === a.snapshot)), label);
        assert.match((await cli(['check', '--repo', repo])).stdout, /lifeboat repair index/, label);
        continue;
      }
      assert.ok(named.length > 0, `${label}: check names ${name}: ${JSON.stringify(report.problems)}`);
      assert.equal(named[0].kind, { index: 'index', packs: 'pack', snapshots: 'snapshot', locks: 'lock' }[kind], label);
      if (kind === 'packs') {
        // The pack holds big.bin and maybe letter.txt (both in both snapshots). A flipped byte
        // spoils one blob, so one file; a truncation the blobs past the cut; a deletion all.
        const paths = new Set(report.affected.map((a) => a.path));
        const big = join(tpl.source, 'big.bin');
        const inPack = new Set([big, join(tpl.source, 'docs', 'letter.txt')]);
        assert.ok(paths.has(big) && [...paths].every((p) => inPack.has(p)), `${label}: affected ${JSON.stringify(report.affected)}`);
        if (how === 'flip') assert.equal(paths.size, 1, label);
        assert.deepEqual(new Set(report.affected.map((a) => a.snapshot)), new Set(snapshots.map((s) => s.id)), label);
      }
      if (kind === 'index') assert.deepEqual(report.affected, [], `${label}: the packs' own headers stand in for the damaged index`);
      if (kind === 'locks') {
        // A damaged lock cannot say who holds it: other commands wait, and say so; unlock removes it.
        const backup = await cli(['backup', '--repo', repo, tpl.source]);
        assert.equal(backup.code, 11, label);
        assert.match(backup.stderr, new RegExp(`damaged lock file, locks/${name}`), label);
        await cliOk(['unlock', '--repo', repo]);
        await cliOk(['backup', '--repo', repo, tpl.source]);
      }
    }
  }
});

test('a deleted lock: the prune that held it stops before deleting anything', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'data');
  mkdirSync(source);
  for (let i = 0; i < 6; i++) writeFileSync(join(source, `f${i}`), randomBytes(1 << 20));
  await cliOk(['backup', '--repo', repo, source]);
  for (let i = 0; i < 3; i++) writeFileSync(join(source, `f${i}`), randomBytes(1 << 20));
  await cliOk(['backup', '--repo', repo, source]);
  await cliOk(['forget', '--repo', repo, '--keep-last', '1']);
  const packsBefore = repoFiles(repo, 'packs').length;
  // Slowed down so that the lock can be removed while it repacks.
  const prune = cli(['prune', '--repo', repo, '--max-unused', '0%', '--limit-download', '1024']);
  while (readdirSync(join(repo, 'locks')).length === 0) await sleep(10);
  await cliOk(['unlock', '--repo', repo, '--remove-all']);
  const r = await prune;
  assert.equal(r.code, 11, r.stderr);
  assert.match(r.stderr, /lock was removed while it ran; it stopped before deleting anything/);
  assert.ok(repoFiles(repo, 'packs').length >= packsBefore, 'no pack was deleted');
  await cliOk(['check', '--repo', repo, '--read-data']);
  await cliOk(['prune', '--repo', repo]);
});

test('restore with a pack gone: its files are reported, the rest restored (exit 3)', async (t) => {
  const tpl = await template(t);
  // Its runs are read by the writer threads straight from the pack file; the failed read is done
  // again on the main thread, whose error names what is missing.
  damage(tpl.bigPack, 'delete');
  const target = tempDir(t);
  const restore = await cli(['restore', '--repo', tpl.repo, 'latest', '--target', target]);
  assert.equal(restore.code, 3, restore.stderr);
  assert.match(restore.stderr, /big\.bin: Pack [0-9a-f]{64} is missing; blob [0-9a-f]+ is lost/);
  assert.equal(existsSync(join(target, tpl.source, 'big.bin')), false, 'the file is not left half-written');
  // letter.txt was in the same pack; new.txt, from the second backup, was not.
  assert.match(restore.stderr, /letter\.txt: Pack/);
  assert.deepEqual(readFileSync(join(target, tpl.source, 'docs', 'new.txt')), readFileSync(join(tpl.source, 'docs', 'new.txt')));
});

test('repairs: a damaged pack and a lost index; restore of the damaged snapshot brings back all it can', async (t) => {
  const tpl = await template(t);
  const repo = tpl.repo;
  // A flipped byte in big.bin's pack: restore reports that file and restores the rest (exit 3).
  damage(tpl.bigPack, 'flip');
  const target = tempDir(t);
  const restore = await cli(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.equal(restore.code, 3, restore.stderr);
  assert.match(restore.stderr, /big\.bin/);
  assert.equal(existsSync(join(target, tpl.source, 'big.bin')), false, 'the damaged file is not left half-written');
  assert.deepEqual(readFileSync(join(target, tpl.source, 'docs', 'letter.txt')), readFileSync(join(tpl.source, 'docs', 'letter.txt')));
  assert.deepEqual(readFileSync(join(target, tpl.source, 'docs', 'new.txt')), readFileSync(join(tpl.source, 'docs', 'new.txt')));

  // repair index --read-all-packs leaves the damaged blob out; repair snapshots drops big.bin only.
  const ri = JSON.parse((await cliOk(['repair', 'index', '--read-all-packs', '--repo', repo, '--json'])).stdout);
  assert.equal(ri.damagedBlobs.length, 1);
  assert.deepEqual(ri.packsReplaced, [tpl.bigPack.split('/').pop()]);
  const dry = JSON.parse((await cliOk(['repair', 'snapshots', '--dry-run', '--repo', repo, '--json'])).stdout);
  assert.equal(dry.repaired.length, 2);
  assert.ok(dry.repaired.every((s: { dropped: Array<{ path: string }> }) => s.dropped.length === 1 && s.dropped[0].path === join(tpl.source, 'big.bin')));
  const rs = JSON.parse((await cliOk(['repair', 'snapshots', '--forget', '--repo', repo, '--json'])).stdout);
  await cliOk(['check', '--repo', repo, '--read-data']);
  const snaps = JSON.parse((await cliOk(['snapshots', '--json', '--repo', repo])).stdout) as Array<{ id: string; tags: string[] }>;
  assert.deepEqual(snaps.map((s) => s.id).sort(), rs.repaired.map((s: { repairedAs: string }) => s.repairedAs).sort());
  assert.ok(snaps.every((s) => s.tags.includes('repaired')));
  const record = JSON.parse((await cliOk(['cat', '--repo', repo, 'snapshot', snaps[0].id])).stdout);
  assert.deepEqual(record.repaired.dropped.map((d: { path: string }) => d.path), [join(tpl.source, 'big.bin')]);
  const again = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', again]);
  assert.deepEqual(readFileSync(join(again, tpl.source, 'docs', 'new.txt')), readFileSync(join(tpl.source, 'docs', 'new.txt')));
  assert.equal(existsSync(join(again, tpl.source, 'big.bin')), false);

  // Every index file lost: repair index rebuilds it from the pack headers, and nothing is missing.
  for (const f of repoFiles(repo, 'index')) rmSync(f);
  assert.equal((await cli(['check', '--repo', repo])).code, 21);
  const rebuilt = JSON.parse((await cliOk(['repair', 'index', '--repo', repo, '--json'])).stdout);
  assert.equal(rebuilt.packsRead, repoFiles(repo, 'packs').length);
  await cliOk(['check', '--repo', repo, '--read-data']);
  const third = tempDir(t);
  await cliOk(['restore', '--repo', repo, 'latest', '--target', third]);
  assert.deepEqual(readFileSync(join(third, tpl.source, 'docs', 'letter.txt')), readFileSync(join(tpl.source, 'docs', 'letter.txt')));
});

test('restore: a damaged blob of one small file among its neighbours loses that file only, and names it', async (t) => {
  // Small files are decoded by the writer threads, from runs of neighbouring blobs read at once.
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'letters');
  mkdirSync(source);
  const names = ['a.txt', 'b.txt', 'c.txt', 'd.txt'];
  names.forEach((n, i) => writeFileSync(join(source, n), `${n}: ${randomBytes(3000 + i).toString('hex')}\n`));
  await cliOk(['backup', '--repo', repo, source]);
  const findContent = async (tree: string): Promise<string | undefined> => {
    const { nodes } = JSON.parse((await cliOk(['cat', '--repo', repo, 'tree', tree])).stdout) as { nodes: Array<{ name: string; subtree?: string; content?: string[] }> };
    for (const n of nodes) {
      const found = n.name === 'c.txt' ? n.content![0] : n.subtree && (await findContent(n.subtree));
      if (found) return found;
    }
    return undefined;
  };
  const [snapshot] = JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout) as Array<{ tree: string }>;
  const victim = (await findContent(snapshot.tree))!;
  let damaged = false;
  for (const p of repoFiles(repo, 'packs')) {
    const header = JSON.parse((await cliOk(['cat', '--repo', repo, 'pack', p.split('/').pop()!])).stdout) as { blobs: Array<{ id: string; offset: number; storedLength: number }> };
    const blob = header.blobs.find((b) => b.id === victim);
    if (!blob) continue;
    assert.ok(header.blobs.filter((b) => b.storedLength < 10_000).length >= names.length, 'the small files share a pack, so they are read as one run');
    flipByte(p, blob.offset + 20);
    damaged = true;
  }
  assert.ok(damaged, 'found the pack holding c.txt');
  const target = tempDir(t);
  const restore = await cli(['restore', '--repo', repo, 'latest', '--target', target]);
  assert.equal(restore.code, 3, restore.stderr);
  assert.match(restore.stderr, /c\.txt/);
  assert.doesNotMatch(restore.stderr, /[abd]\.txt/);
  assert.equal(existsSync(join(target, source, 'c.txt')), false, 'the damaged file is not written');
  for (const n of ['a.txt', 'b.txt', 'd.txt']) assert.deepEqual(readFileSync(join(target, source, n)), readFileSync(join(source, n)));

  // dump, the same pipeline into a tar stream: the stream stays readable, the file that cannot be
  // read is zeros of its recorded size (as GNU tar pads a file that shrank), and it is named.
  const dump = await cli(['dump', '--repo', repo, 'latest', source]);
  assert.equal(dump.code, 3, dump.stderr);
  assert.match(dump.stderr, /c\.txt: .*(authenticat|damaged|MAC)/i);
  const extracted = tempDir(t);
  execFileSync('tar', ['-x', '-C', extracted], { input: dump.stdoutBytes });
  for (const n of ['a.txt', 'b.txt', 'd.txt']) assert.deepEqual(readFileSync(join(extracted, 'letters', n)), readFileSync(join(source, n)));
  assert.deepEqual(readFileSync(join(extracted, 'letters', 'c.txt')), Buffer.alloc(readFileSync(join(source, 'c.txt')).length));
});
