// Errors for a failed system call made in the native addon, which reports its errno: worded as
// Node.js's own fs errors are ("EACCES: permission denied, open '/a/b'"), with their code.
import { getSystemErrorMessage, getSystemErrorName } from 'node:util';

export function errnoMessage(errno: number, syscall: string, path?: Buffer): string {
  return `${getSystemErrorName(-errno)}: ${getSystemErrorMessage(-errno)}, ${syscall}${path ? ` '${path.toString()}'` : ''}`;
}

export function errnoError(errno: number, syscall: string, path?: Buffer): Error {
  return Object.assign(new Error(errnoMessage(errno, syscall, path)), { code: getSystemErrorName(-errno), errno: -errno, syscall });
}

/** A rejection of the addon's (an errno error) worded as Node.js words it; anything else as it is. */
export function nodeWorded(err: unknown, syscall: string): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' ? errnoError(-errno, syscall) : err;
}
