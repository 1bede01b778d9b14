// One command under GNU time (/usr/bin/time): wall time around it, CPU time and peak RSS from
// GNU time's own line (marked, so a command's own stderr cannot be mistaken for it).
import { spawnSync } from 'node:child_process';

export interface Timed {
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  peakRssKiB: number;
  status: number;
  stderr: string;
}

export function gnuTime(command: string[], env: NodeJS.ProcessEnv, cwd?: string): Timed {
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '@@ %U %S %M', ...command], { env, cwd, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 26 });
  const wallSeconds = (performance.now() - started) / 1000;
  const stderr = r.stderr.toString();
  const line = stderr.split('\n').find((l) => l.startsWith('@@ '));
  if (!line) throw new Error(`GNU time gave no figures for ${command.join(' ')}: ${stderr}`);
  const [userSeconds, sysSeconds, peakRssKiB] = line.slice(3).split(' ').map(Number);
  return { wallSeconds, userSeconds, sysSeconds, peakRssKiB, status: r.status ?? 1, stderr };
}

/** gnuTime for a command that must succeed. */
export function gnuTimeOk(command: string[], env: NodeJS.ProcessEnv): Timed {
  const t = gnuTime(command, env);
  if (t.status !== 0) throw new Error(`${command.join(' ')} failed: ${t.stderr}`);
  return t;
}
