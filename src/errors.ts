// The one error table: every failure Lifeboat reports has a stable code that maps to an exit
// code, an HTTP status and whether retrying can help. The README's exit-code table is generated
// from EXIT_CODES below; never invent an exit code elsewhere.

export const ERROR_CODES = {
  FATAL: { exit: 1, http: 500, retryable: false },
  USAGE: { exit: 2, http: 400, retryable: false },
  INCOMPLETE: { exit: 3, http: 200, retryable: false },
  REPO_NOT_FOUND: { exit: 10, http: 404, retryable: false },
  LOCKED: { exit: 11, http: 423, retryable: true },
  WRONG_PASSWORD: { exit: 12, http: 401, retryable: false },
  REPO_EXISTS: { exit: 13, http: 409, retryable: false },
  REPO_VERSION: { exit: 14, http: 400, retryable: false },
  REPO_CORRUPT: { exit: 15, http: 500, retryable: false },
  SOURCE_NOT_FOUND: { exit: 16, http: 404, retryable: false },
  SNAPSHOT_NOT_FOUND: { exit: 17, http: 404, retryable: false },
  NO_SPACE: { exit: 18, http: 507, retryable: false },
  TARGET_EXISTS: { exit: 19, http: 409, retryable: false },
  COMMAND_FAILED: { exit: 20, http: 502, retryable: false },
  CHECK_FAILED: { exit: 21, http: 500, retryable: false },
  IO: { exit: 22, http: 500, retryable: true },
  TARGET_NOT_WRITABLE: { exit: 23, http: 403, retryable: false },
  STORAGE_DENIED: { exit: 24, http: 403, retryable: false },
  STORAGE_UNREACHABLE: { exit: 25, http: 503, retryable: true },
  HOST_KEY: { exit: 26, http: 502, retryable: false },
  INTERRUPTED: { exit: 130, http: 499, retryable: true },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What each exit code means, for `lifeboat help exit-codes` and the README. */
export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [0, 'success'],
  [1, 'fatal error (anything not listed below)'],
  [2, 'usage error: unknown command, bad flag or argument'],
  [3, 'incomplete: the snapshot was saved but some files could not be read, or a restore was partial'],
  [10, 'repository not found (no config file at the location)'],
  [11, 'repository is locked by another process (see lifeboat unlock)'],
  [12, 'wrong password, or no key slot opens with it'],
  [13, 'a repository already exists at the location (init)'],
  [14, 'the repository uses a format version this Lifeboat does not understand'],
  [15, 'the repository is damaged (a file failed its integrity check)'],
  [16, 'a source path to back up does not exist'],
  [17, 'no snapshot matches'],
  [18, 'no space left on the device'],
  [19, 'restore target already has a file and --existing fail was given'],
  [20, 'the command given to --stdin-from-command failed'],
  [21, 'check found problems'],
  [22, 'an input/output error on the repository storage'],
  [23, 'the restore target cannot be written (permission denied, read-only)'],
  [24, 'the storage refused access: bad credentials or permission denied'],
  [25, 'the storage cannot be reached (server down, network, timeouts), after retries'],
  [26, 'the SFTP server\'s host key is unknown or has changed'],
  [130, 'interrupted (Ctrl-C)'],
];

export interface LifeboatErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** A failure with a stable code; `message` says what happened, `hint` what the user can do. */
export class LifeboatError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: LifeboatErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LifeboatError';
    this.code = code;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

/** Node's system error codes that mean "the disk is full". */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A system error in words a user reads in a list of failed files ("permission denied"). */
export function describeError(err: unknown): string {
  const code = errnoCode(err);
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'no space left on device';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOENT') return 'no such file or directory';
  // Restore names entries as /proc/self/fd/N/NAME (sources/files-at.ts); the caller names the entry.
  return (err as Error).message.replace(/, (\w+) '\/proc\/self\/fd\/[^']*'( -> '[^']*')?$/, ' ($1)');
}

/** The code of one entry's failure: a LifeboatError's own, NO_SPACE, or IO for any other. */
export function entryErrorCode(err: unknown): ErrorCode {
  if (err instanceof LifeboatError) return err.code;
  return isNoSpace(err) ? 'NO_SPACE' : 'IO';
}

/** Turns any thrown value into a LifeboatError, keeping the original as `cause`. */
export function asLifeboatError(err: unknown): LifeboatError {
  if (err instanceof LifeboatError) return err;
  if (isNoSpace(err)) {
    return new LifeboatError('NO_SPACE', `No space left on device: ${(err as Error).message}`, {
      hint: 'Free some space or use another location; the repository was left consistent.',
      cause: err,
    });
  }
  const storage = fromStorageError(err);
  if (storage) return storage;
  const message = err instanceof Error ? err.message : String(err);
  return new LifeboatError('FATAL', message, { cause: err });
}

/** Storage failures (storage/backend.ts StorageError, matched by name: errors.ts imports nothing). */
function fromStorageError(err: unknown): LifeboatError | undefined {
  if (!(err instanceof Error) || err.name !== 'StorageError') return undefined;
  const code = (err as Error & { code: string }).code;
  const cause = err;
  switch (code) {
    case 'EACCES':
      return new LifeboatError('STORAGE_DENIED', err.message, { cause, hint: 'Check the credentials (keys, password, access key) and that they may use this location.' });
    case 'EUNREACHABLE':
      return new LifeboatError('STORAGE_UNREACHABLE', err.message, { cause, hint: 'Check that the server is up and reachable; the repository is left consistent, and the next run picks up from there.' });
    case 'ERETAINED':
      return new LifeboatError('IO', err.message, { cause, hint: 'The file is protected by Object Lock; nothing was changed.' });
    case 'EHOSTKEY':
      return new LifeboatError('HOST_KEY', err.message, { cause });
    case 'ENOSPC':
      return new LifeboatError('NO_SPACE', err.message, { cause, hint: 'Free some space or raise the quota; the repository was left consistent.' });
    default:
      return new LifeboatError('IO', err.message, { cause });
  }
}
