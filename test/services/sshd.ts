// OpenSSH's sshd on 127.0.0.1 for SFTP tests (../shared/test-services.md): its own host key,
// config and authorized_keys in a temporary folder, and a client key pair and known_hosts file.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen, startDaemon, waitFor } from './daemon.ts';

export interface Sshd {
  port: number;
  user: string;
  /** The client's private key and a known_hosts file that trusts this server. */
  clientKey: string;
  knownHosts: string;
  dir: string;
  /** kill -9 of the server and of every session it serves (a machine dying), then start it again. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-sshd-'));
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  keygen(join(dir, 'host'));
  keygen(join(dir, 'client'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const port = await freePort();
  writeFileSync(join(dir, 'sshd_config'), [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'Subsystem sftp internal-sftp', `PidFile ${join(dir, 'sshd.pid')}`, 'StrictModes no', 'UsePAM no', 'PasswordAuthentication no',
    'PermitRootLogin prohibit-password', 'LogLevel ERROR',
  ].join('\n') + '\n');
  mkdirSync('/run/sshd', { recursive: true });
  let daemon = startDaemon('/usr/sbin/sshd', ['-f', join(dir, 'sshd_config'), '-D', '-e']);
  await waitFor('sshd', () => portOpen(port), 20_000, daemon.output);
  const hostPub = readFileSync(join(dir, 'host.pub'), 'utf8').trim().split(' ');
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`);
  return {
    port,
    user: userInfo().username,
    clientKey: join(dir, 'client'),
    knownHosts: join(dir, 'known_hosts'),
    dir,
    async kill() {
      const sessions = descendants(daemon.child.pid!);
      await daemon.stop('SIGKILL');
      for (const pid of sessions) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
    async start() {
      daemon = startDaemon('/usr/sbin/sshd', ['-f', join(dir, 'sshd_config'), '-D', '-e']);
      await waitFor('sshd', () => portOpen(port), 20_000, daemon.output);
    },
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every process below `pid` (sshd forks a process, and that one another, per session). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of parents.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}
