// Stream sources: standard input, or the output of a program (how database dumps get backed up).
// A program that exits non-zero makes the backup fail: a truncated dump must never become a
// snapshot that looks good.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface StreamSource {
  stream: AsyncIterable<Buffer>;
  /** Resolves when the producer is finished; rejects with a reason when it failed. */
  finished: Promise<void>;
}

export function stdinSource(): StreamSource {
  return { stream: process.stdin as Readable, finished: Promise.resolve() };
}

export class CommandFailedError extends Error {
  readonly exitCode: number | null;
  constructor(command: string, exitCode: number | null, signal: string | null) {
    super(signal ? `"${command}" was killed by ${signal}` : `"${command}" exited with code ${exitCode}`);
    this.exitCode = exitCode;
  }
}

export function commandSource(command: string, args: string[]): StreamSource {
  // Its own process group, so that an interrupted backup can stop the producer and everything it
  // started (a shell's children too); a signal sent to Lifeboat alone would not reach them.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  const stop = (): void => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
  };
  process.once('exit', stop);
  child.once('close', () => process.off('exit', stop));
  const finished = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`cannot run "${command}": ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new CommandFailedError(command, code, signal))));
  });
  finished.catch(() => {});
  return { stream: child.stdout, finished };
}
