// SFTP against OpenSSH's sshd on 127.0.0.1: the round trip, and the refusals of an unknown host
// key, a changed host key and a key the server does not accept; the server dying mid-backup.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cli, cliOk, tempDir } from './helpers.ts';
import { roundTrip, serverDiesMidBackup } from './remote-roundtrip.ts';
import { have } from './services/daemon.ts';
import { startSshd, type Sshd } from './services/sshd.ts';

const available = have('/usr/sbin/sshd');
let sshd: Sshd;
before(async () => {
  if (available) sshd = await startSshd();
});
after(async () => {
  await sshd?.stop();
});

const opts = (knownHosts = sshd.knownHosts, key = sshd.clientKey) => ['-o', `sftp.key=${key}`, '-o', `sftp.known-hosts=${knownHosts}`];

test('SFTP: a tree backs up over SFTP and restores exactly; check --read-data passes', { skip: !available && 'sshd not installed' }, async (t) => {
  const dir = tempDir(t);
  await roundTrip(t, `sftp:${sshd.user}@127.0.0.1:${sshd.port}${dir}/repo`, {}, opts());
});

test('SFTP: an unknown or changed host key is refused (exit 26); accept-new-host-key adds an unknown one', { skip: !available && 'sshd not installed' }, async (t) => {
  const dir = tempDir(t);
  const repo = `sftp:${sshd.user}@127.0.0.1:${sshd.port}${dir}/repo`;
  const empty = join(dir, 'known_hosts_empty');
  writeFileSync(empty, '');
  const unknown = await cli(['init', '--repo', repo, ...opts(empty)]);
  assert.equal(unknown.code, 26, unknown.stderr);
  assert.match(unknown.stderr, /SHA256:.*is not in .*known_hosts_empty/s);
  const other = join(dir, 'known_hosts_changed');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'otherhost')]);
  const otherPub = execFileSync('cat', [join(dir, 'otherhost.pub')]).toString().trim().split(' ');
  writeFileSync(other, `[127.0.0.1]:${sshd.port} ${otherPub[0]} ${otherPub[1]}\n`);
  const changed = await cli(['init', '--repo', repo, ...opts(other)]);
  assert.equal(changed.code, 26, changed.stderr);
  assert.match(changed.stderr, /CHANGED/);
  // A revoked key is refused even beside a line that trusts it, and accept-new never adds it back.
  const known = readFileSync(sshd.knownHosts, 'utf8').trim().split('\n')[0].split(/\s+/);
  const revoked = join(dir, 'known_hosts_revoked');
  writeFileSync(revoked, `@revoked * ${known[1]} ${known[2]}\n${known.join(' ')}\n`);
  const refused = await cli(['init', '--repo', repo, ...opts(revoked), '-o', 'sftp.accept-new-host-key=true']);
  assert.equal(refused.code, 26, refused.stderr);
  assert.match(refused.stderr, /REVOKED/);
  assert.equal(readFileSync(revoked, 'utf8').split('\n').filter(Boolean).length, 2, 'nothing written back');
  await cliOk(['init', '--repo', repo, ...opts(empty), '-o', 'sftp.accept-new-host-key=true']);
  await cliOk(['snapshots', '--repo', repo, ...opts(empty)]);
});

test('SFTP: a key the server does not accept gets exit 24; a missing path gets exit 10', { skip: !available && 'sshd not installed' }, async (t) => {
  const dir = tempDir(t);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'stranger')]);
  const denied = await cli(['snapshots', '--repo', `sftp:${sshd.user}@127.0.0.1:${sshd.port}${dir}/repo`, ...opts(sshd.knownHosts, join(dir, 'stranger'))]);
  assert.equal(denied.code, 24, denied.stderr);
  const missing = await cli(['snapshots', '--repo', `sftp:${sshd.user}@127.0.0.1:${sshd.port}${dir}/nothing-here`, ...opts()]);
  assert.equal(missing.code, 10, missing.stderr);
});

test('SFTP: the server (and its sessions) killed in the middle of a backup: a clear error, the repository checks clean, the next backup succeeds', { skip: !available && 'sshd not installed' }, async (t) => {
  const dir = tempDir(t);
  await serverDiesMidBackup(t, `sftp:${sshd.user}@127.0.0.1:${sshd.port}${dir}/repo`, {
    extra: opts(),
    packLanded: () => execFileSync('find', [join(dir, 'repo', 'data'), '-type', 'f', '-regex', '.*/[0-9a-f]+']).toString().trim() !== '',
    kill: () => sshd.kill(),
    restart: () => sshd.start(),
  });
});
