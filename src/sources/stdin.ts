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
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const finished = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`cannot run "${command}": ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new CommandFailedError(command, code, signal))));
  });
  finished.catch(() => {});
  return { stream: child.stdout, finished };
}
