import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, cliOk, MAIN, newRepo, ROOT, tempDir } from './helpers.ts';
import { describeTree } from './tree-fixture.ts';

async function repoWithTwoSnapshots(t: Parameters<typeof newRepo>[0]): Promise<{ repo: string; source: string; first: string; second: string }> {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'office');
  mkdirSync(join(source, 'reports'), { recursive: true });
  writeFileSync(join(source, 'reports', 'report.docx'), 'version one');
  writeFileSync(join(source, 'notes.txt'), 'notes');
  writeFileSync(join(source, 'gone.txt'), 'removed later');
  const first = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--tag', 'daily', '--host', 'office-pc', source])).stdout).snapshotId;
  writeFileSync(join(source, 'reports', 'report.docx'), 'version two, longer');
  writeFileSync(join(source, 'added.txt'), 'new');
  execFileSync('rm', [join(source, 'gone.txt')]);
  execFileSync('chmod', ['600', join(source, 'notes.txt')]);
  const second = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--host', 'office-pc', source])).stdout).snapshotId;
  return { repo, source, first, second };
}

test('--stdin backs up a stream; --stdin-from-command a program output, and fails when the program fails', async (t) => {
  const repo = await newRepo(t);
  const data = Buffer.alloc(3 << 20, 'database dump line\n');
  const r = JSON.parse((await cliOk(['backup', '--repo', repo, '--stdin', '--stdin-filename', 'db.sql', '--json'], { input: data })).stdout);
  assert.equal(r.bytesRead, data.length);
  assert.deepEqual((await cliOk(['dump', '--repo', repo, r.snapshotId.slice(0, 8), '/db.sql'])).stdoutBytes, data);

  const ok = JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--stdin-from-command', '--stdin-filename', 'echo.txt', '--', 'sh', '-c', 'echo hello from a program'])).stdout);
  assert.equal((await cliOk(['dump', '--repo', repo, ok.snapshotId, '/echo.txt'])).stdout, 'hello from a program\n');

  const before = JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout).length;
  const failed = await cli(['backup', '--repo', repo, '--stdin-from-command', '--stdin-filename', 'x', '--', 'sh', '-c', 'echo partial; exit 3']);
  assert.equal(failed.code, 20);
  assert.match(failed.stderr, /exited with code 3; no snapshot was saved/);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout).length, before);
  await cliOk(['check', '--repo', repo]);
});

test('snapshots filters by host, tag and path; latest and id prefixes name snapshots', async (t) => {
  const { repo, source, first, second } = await repoWithTwoSnapshots(t);
  const all = JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout);
  assert.deepEqual(all.map((s: { id: string }) => s.id), [first, second]);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json', '--tag', 'daily'])).stdout).length, 1);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json', '--host', 'other'])).stdout).length, 0);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json', '--path', source])).stdout).length, 2);
  assert.equal((await cliOk(['dump', '--repo', repo, first.slice(0, 6), `${source}/reports/report.docx`])).stdout, 'version one');
  assert.equal((await cliOk(['dump', '--repo', repo, 'latest', `${source}/reports/report.docx`])).stdout, 'version two, longer');
  const missing = await cli(['ls', '--repo', repo, 'ffffffff']);
  assert.equal(missing.code, 17);
});

test('find lists every version of a file with its snapshot and time', async (t) => {
  const { repo, first, second } = await repoWithTwoSnapshots(t);
  const found = (await cliOk(['find', '--repo', repo, 'report.docx', '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(found.map((f) => [f.snapshot, f.size]), [[first, 11], [second, 19]]);
  const human = (await cliOk(['find', '--repo', repo, '*.txt'])).stdout;
  assert.match(human, /gone\.txt/);
  assert.match(human, /matches in 2 of 2 snapshots/);
});

test('diff shows added, removed, modified and metadata-only changes', async (t) => {
  const { repo, source, first, second } = await repoWithTwoSnapshots(t);
  const d = JSON.parse((await cliOk(['diff', '--repo', repo, first, second, '--json'])).stdout);
  const by = (kind: string): string[] => d.changes.filter((c: { kind: string }) => c.kind === kind).map((c: { path: string }) => c.path.slice(source.length));
  assert.deepEqual(by('added'), ['/added.txt']);
  assert.deepEqual(by('removed'), ['/gone.txt']);
  assert.deepEqual(by('modified'), ['/reports/report.docx']);
  assert.ok(by('metadata').includes('/notes.txt'));
});

test('dump writes a folder as a tar stream that tar extracts exactly', async (t) => {
  const { repo, source } = await repoWithTwoSnapshots(t);
  const tar = (await cliOk(['dump', '--repo', repo, 'latest', source])).stdoutBytes;
  const out = tempDir(t);
  execFileSync('tar', ['-x', '-C', out], { input: tar });
  const original = describeTree(source);
  const extracted = describeTree(join(out, 'office'));
  for (const [p, f] of original) {
    if (p === '/') continue;
    assert.equal(extracted.get(p)?.content, f.content, p);
    assert.equal(extracted.get(p)?.mode, f.mode, p);
    assert.equal(extracted.get(p)?.mtimeNs, f.mtimeNs, `${p} keeps its nanosecond mtime`);
  }
});

test('key add, list, passwd and remove manage password slots', async (t) => {
  const repo = await newRepo(t);
  await cliOk(['key', 'add', '--repo', repo], { env: { LIFEBOAT_NEW_PASSWORD: 'second password' } });
  let keys = JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout);
  assert.equal(keys.length, 2);
  assert.ok(keys.every((k: { kdf: { name: string } }) => k.kdf.name === 'argon2id'));
  await cliOk(['snapshots', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'second password' } });
  await cliOk(['key', 'passwd', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'second password', LIFEBOAT_NEW_PASSWORD: 'third' } });
  assert.equal((await cli(['snapshots', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'second password' } })).code, 12);
  await cliOk(['snapshots', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'third' } });
  keys = JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout);
  const other = keys.find((k: { current: boolean }) => !k.current).id;
  const self = keys.find((k: { current: boolean }) => k.current).id;
  assert.equal((await cli(['key', 'remove', '--repo', repo, self.slice(0, 10)])).code, 2, 'refuses to remove the key in use');
  await cliOk(['key', 'remove', '--repo', repo, other.slice(0, 10)]);
  assert.equal((await cli(['snapshots', '--repo', repo], { env: { LIFEBOAT_PASSWORD: 'third' } })).code, 12);
});

test('cat prints the config, snapshots, trees and pack headers as JSON, never the master key', async (t) => {
  const { repo, second } = await repoWithTwoSnapshots(t);
  const config = JSON.parse((await cliOk(['cat', '--repo', repo, 'config'])).stdout);
  assert.equal(config.version, 1);
  const snap = JSON.parse((await cliOk(['cat', '--repo', repo, 'snapshot', second.slice(0, 8)])).stdout);
  const tree = JSON.parse((await cliOk(['cat', '--repo', repo, 'tree', snap.tree])).stdout);
  assert.ok(tree.nodes.length >= 1);
  const keyId = JSON.parse((await cliOk(['key', 'list', '--repo', repo, '--json'])).stdout)[0].id;
  const key = (await cliOk(['cat', '--repo', repo, 'key', keyId])).stdout;
  assert.match(key, /encrypted master key/);
});

test('help, --version and usage errors', async () => {
  assert.match((await cliOk(['--version'])).stdout, /^lifeboat \d+\.\d+\.\d+ \(Node\.js 24\./);
  assert.match((await cliOk(['help', 'backup'])).stdout, /--exclude-caches/);
  assert.match((await cliOk(['help'])).stdout, /Exit codes:/);
  const bad = await cli(['backup', '--no-such-flag']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown option '--no-such-flag'/);
  assert.equal((await cli(['frobnicate'])).code, 2);
});

test('with nothing configured, backup creates the default repository and a 0600 password file, once', async (t) => {
  const home = tempDir(t);
  const env = { XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config'), LIFEBOAT_PASSWORD: undefined, LIFEBOAT_REPOSITORY: undefined };
  const docs = join(home, 'Documents');
  mkdirSync(docs);
  writeFileSync(join(docs, 'letter.txt'), 'dear customer');
  const first = await cliOk(['backup', docs], { env });
  assert.match(first.stderr, /Created the default repository at .*data\/lifeboat\/repository/);
  assert.match(first.stderr, /password in .*config\/lifeboat\/repository\.key \(mode 0600\)/);
  const { statSync } = await import('node:fs');
  assert.equal(statSync(join(home, 'config', 'lifeboat', 'repository.key')).mode & 0o777, 0o600);
  const second = await cliOk(['backup', docs], { env });
  assert.doesNotMatch(second.stderr, /Created/);
  assert.match((await cliOk(['snapshots'], { env })).stdout, /2 snapshots/);
});

async function waitUntil(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ready(); i++) await sleep(20);
  assert.ok(ready(), 'waited 10 s');
}

test('bin/lifeboat runs on the pinned Node 24 whatever node is on PATH, as one process: kill -9 of its pid stops the work', async (t) => {
  const bin = join(ROOT, 'bin', 'lifeboat');
  const oldNode = tempDir(t);
  symlinkSync('/usr/bin/node', join(oldNode, 'node')); // Debian's Node.js 20 where installed; a dangling link otherwise
  const env = { ...process.env, PATH: `${oldNode}:${process.env.PATH}`, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' };
  assert.match(execFileSync(bin, ['--version'], { env }).toString(), /Node\.js 24\./);
  const code = await new Promise<number>((resolve) => spawn(bin, ['snapshots', '--repo', '/nonexistent/repo'], { stdio: 'ignore', env }).on('close', (c) => resolve(c ?? -1)));
  assert.equal(code, 10, 'exit codes are the CLI\'s own');
  const repo = await newRepo(t);
  const child = spawn(bin, ['backup', '--repo', repo, '--stdin', '--stdin-filename', 'never-ends.bin'], { stdio: ['pipe', 'ignore', 'ignore'], env });
  child.stdin.on('error', () => {}); // EPIPE once it is killed with the rest of the write pending
  child.stdin.write(Buffer.alloc(1 << 20));
  await waitUntil(() => readdirSync(join(repo, 'locks')).some((n) => /^[0-9a-f]{64}$/.test(n)));
  assert.match(readFileSync(`/proc/${child.pid}/cmdline`, 'latin1'), /node_modules\/node\/bin\/node\0/, 'the shell replaced itself with Node.js');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.on('close', resolve));
  const left = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(repo));
  assert.deepEqual(left, [], 'nothing goes on after the kill');
  assert.equal(readdirSync(join(repo, 'snapshots')).length, 0);
});

test('--progress shows progress on stderr even when it is not a terminal; without it a pipe stays quiet', async (t) => {
  const repo = await newRepo(t);
  const slow = ['--stdin-from-command', '--stdin-filename', 'slow.bin', '--', 'sh', '-c', 'head -c 3000000 /dev/zero; sleep 0.3; head -c 1000 /dev/zero'];
  const shown = await cliOk(['backup', '--repo', repo, '--progress', ...slow]);
  assert.match(shown.stderr, /\[\d+:\d\d\] backup .*MiB/);
  const quiet = await cliOk(['backup', '--repo', repo, ...slow]);
  assert.doesNotMatch(quiet.stderr, /\[\d+:\d\d\] backup/);
});

test('Ctrl-C (SIGINT) stops a backup with exit 130 and leaves a repository that checks clean', async (t) => {
  const repo = await newRepo(t);
  const child = spawn(process.execPath, [MAIN, 'backup', '--repo', repo, '--stdin-from-command', '--stdin-filename', 'x', '--', 'sh', '-c', 'head -c 20000000 /dev/urandom; sleep 30'], {
    env: { ...process.env, LIFEBOAT_KDF_MEMORY_KIB: '1024', LIFEBOAT_PASSWORD: 'correct horse' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130);
  assert.match(stderr, /interrupted/i);
  assert.deepEqual(readdirSync(repo, { recursive: true, encoding: 'utf8' }).filter((p) => p.includes('.tmp-')), [], 'the packs being filled are removed');
  await cliOk(['check', '--repo', repo, '--read-data']);
  assert.equal(JSON.parse((await cliOk(['snapshots', '--repo', repo, '--json'])).stdout).length, 0);
});

test('a local repository is its owner\'s alone: files 0400, folders 0700', async (t) => {
  const repo = await newRepo(t);
  const source = join(tempDir(t), 'src');
  mkdirSync(source);
  writeFileSync(join(source, 'a.txt'), 'a');
  await cliOk(['backup', '--repo', repo, source]);
  const modes = new Set(execFileSync('find', [repo, '-printf', '%y %m\n']).toString().trim().split('\n'));
  assert.deepEqual(modes, new Set(['d 700', 'f 400']));
});

test('lifeboat --help lists every command of the command table', async () => {
  const table = [...readFileSync(MAIN, 'utf8').matchAll(/^ {2}([a-z]+): async \(\) => \(await import/gm)].map((m) => m[1]);
  assert.ok(table.length >= 18);
  const help = (await cliOk(['--help'])).stdout;
  const listed = [...help.matchAll(/^ {2}([a-z]+) {2,}\S/gm)].map((m) => m[1]);
  assert.deepEqual(listed, table);
});

test('a password in a rest: location does not show in the process list', async (t) => {
  const bin = join(ROOT, 'bin', 'lifeboat');
  const child = spawn(bin, ['snapshots', '--repo', 'rest:http://alice:s3cret-pw@127.0.0.1:9/repo', '-o', 'retries=50', '-o', 'timeout=30'], { stdio: 'ignore', env: { ...process.env, LIFEBOAT_PASSWORD: 'x' } });
  t.after(() => child.kill('SIGKILL'));
  // It shows for the moment Node.js takes to load the CLI, then never again.
  await waitUntil(() => readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').includes('***'));
  const shown = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1');
  assert.ok(!shown.includes('s3cret-pw'), shown);
  assert.match(shown, /alice:\*\*\*@/);
});

test('--compression: off stores blobs raw, a level or max compresses, and a bad value is a usage error', async (t) => {
  const repo = await newRepo(t);
  const dir = tempDir(t);
  writeFileSync(join(dir, 'log.txt'), 'a line of a log that repeats\n'.repeat(200_000));
  const added = async (args: string[]) => JSON.parse((await cliOk(['backup', '--repo', repo, '--json', '--force', ...args, dir])).stdout);
  const off = await added(['--compression', 'off', '--dry-run']);
  const max = await added(['--compression', 'max', '--dry-run']);
  assert.equal(off.bytesAdded, 5_800_000);
  const stored = await added(['--compression', 'off']);
  assert.ok(stored.bytesAddedStored >= 5_800_000, `raw blobs are stored as they are (${stored.bytesAddedStored})`);
  const dump = await cliOk(['dump', '--repo', repo, 'latest', `${dir}/log.txt`]);
  assert.equal(dump.stdoutBytes.length, 5_800_000);
  const repo2 = await newRepo(t);
  const packed = JSON.parse((await cliOk(['backup', '--repo', repo2, '--json', '--compression', '9', dir])).stdout);
  assert.ok(packed.bytesAddedStored < 100_000, `a repetitive log compresses (${packed.bytesAddedStored})`);
  assert.equal(max.bytesAdded, off.bytesAdded);
  const bad = await cli(['backup', '--repo', repo, '--compression', '25', dir]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--compression takes auto, off, max or a level from 1 to 19/);
});
