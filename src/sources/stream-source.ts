// The stream source: standard input, or the output of a program (how database dumps get backed
// up), as one file in a snapshot of its own. A program that exits non-zero makes the backup fail:
// a truncated dump must never become a snapshot that looks good.
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { LifeboatError } from '../errors.ts';
import { nowMs } from '../lib/clock.ts';
import { nameFields, type TreeNode } from '../model/tree.ts';
import type { EntryStats } from './dir-scan.ts';
import type { Source } from './source.ts';

export class CommandFailedError extends Error {
  readonly exitCode: number | null;
  constructor(command: string, exitCode: number | null, signal: string | null) {
    super(signal ? `"${command}" was killed by ${signal}` : `"${command}" exited with code ${exitCode}`);
    this.exitCode = exitCode;
  }
}

/** Standard input as the file `filename`. */
export function stdinSource(filename: string): Source {
  checkFilename(filename);
  return streamSource(filename, process.stdin as Readable, Promise.resolve(), () => {});
}

/** The standard output of `command` as the file `filename`; the backup fails unless it exits 0. */
export function commandSource(filename: string, command: string, args: string[]): Source {
  checkFilename(filename); // before the program starts
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
  // Piped at once: Node discards what a child wrote to a pipe nobody reads yet when it exits, and
  // a short program is done before the backup gets to its output. The pipe keeps backpressure.
  return streamSource(filename, child.stdout.pipe(new PassThrough()), finished, stop);
}

function checkFilename(filename: string): void {
  if (!filename || filename.includes('/') || filename === '.' || filename === '..' || filename.includes('\0')) {
    throw new LifeboatError('USAGE', `--stdin-filename must be a plain file name, not "${filename}"`);
  }
}

function streamSource(filename: string, stream: AsyncIterable<Buffer>, finished: Promise<void>, close: () => void): Source {
  const path = `/${filename}`;
  const now = BigInt(nowMs()) * 1_000_000n;
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const stats = streamStats(now, uid, gid);
  return {
    paths: [path],
    localFolders: false,
    stat: async (p) => {
      if (p.toString() !== path) throw Object.assign(new Error(`no such entry ${p}`), { code: 'ENOENT' });
      return stats;
    },
    list: async (p) => {
      throw new Error(`a stream has no folder ${p}`);
    },
    describe: async (_path, name) => {
      const node: TreeNode = {
        ...nameFields(name), type: 'file', mode: 0o644, uid, gid,
        mtimeNs: now.toString(), ctimeNs: now.toString(), inode: '0', device: '0', links: 1, size: 0,
      };
      return { node, problems: [] };
    },
    unchanged: () => false, // a stream is read whole every time
    content: () => ({ stream }),
    isCacheDir: async () => false,
    finished: async () => {
      try {
        await finished;
      } catch (err) {
        throw new LifeboatError('COMMAND_FAILED', `Backup of the stream failed: ${(err as Error).message}; no snapshot was saved`, {
          hint: 'Fix the command so it succeeds; what was uploaded is removed by the next prune.',
          cause: err,
        });
      }
    },
    close,
  };
}

function streamStats(now: bigint, uid: number, gid: number): EntryStats {
  const no = (): boolean => false;
  return {
    dev: 0n, ino: 0n, mode: BigInt(constants.S_IFREG | 0o644), nlink: 1n, uid: BigInt(uid), gid: BigInt(gid), rdev: 0n,
    size: 0n, blocks: 0n, mtimeNs: now, ctimeNs: now, xattrListBytes: 0,
    isFile: () => true, isDirectory: no, isSymbolicLink: no, isFIFO: no, isCharacterDevice: no, isBlockDevice: no,
  };
}
