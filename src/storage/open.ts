// Maps a repository location string to a backend. A backend's module is imported only when its
// scheme is used, so a local backup never loads a cloud SDK. Remote backends are wrapped in
// ResilientBackend (retries, timeouts, concurrency, rate limits); a local one only when a rate
// limit asks for it, since a disk needs none of that and restore reads it thousands of times a second.
import { resolve } from 'node:path';
import { LifeboatError } from '../errors.ts';
import type { Backend } from './backend.ts';
import { ResilientBackend, type TransferOptions } from './resilient.ts';

export { newTransferMeter, type TransferMeter } from './resilient.ts';

export type { Backend, FileInfo, FileKind, ReadRange, RetentionPolicy, SpoolFile } from './backend.ts';
export { FILE_KINDS, CONFIG_NAME, StorageError } from './backend.ts';

export interface BackendSettings {
  /** `--option key=value` pairs: `s3.region`, `sftp.key`, `connections`, `retries`, `timeout`... */
  options?: Record<string, string>;
  transfer?: Partial<TransferOptions>;
  /** Warnings the backend wants a person to see (a retry, a deprecated setting). */
  warn?: (text: string) => void;
}

export async function openBackend(location: string, settings: BackendSettings = {}): Promise<Backend> {
  const options = settings.options ?? {};
  const transfer: Partial<TransferOptions> = {
    ...settings.transfer,
    ...numberOption(options, 'connections', 'connections'),
    ...numberOption(options, 'retries', 'retries'),
    ...(options.timeout !== undefined ? { timeoutMs: positiveNumber('timeout', options.timeout) * 1000 } : {}),
    onRetry: (what, attempt, err, delayMs) => settings.warn?.(`${what}: ${err.message}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`),
  };
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  const rest = scheme === undefined ? location : location.slice(scheme.length + 1);
  switch (scheme) {
    case undefined:
    case 'local': {
      if (rest === '') throw new LifeboatError('USAGE', 'The repository location "local:" has no path');
      const { LocalBackend } = await import('./local.ts');
      const local = new LocalBackend(resolve(rest));
      return transfer.uploadKiBps || transfer.downloadKiBps ? new ResilientBackend(local, { ...transfer, retries: 0 }) : local;
    }
    case 's3': {
      const { S3Backend } = await import('./s3.ts');
      return new ResilientBackend(S3Backend.fromLocation(rest, options), transfer);
    }
    case 'sftp': {
      const { SftpBackend } = await import('./sftp.ts');
      return new ResilientBackend(SftpBackend.fromLocation(rest, options), transfer);
    }
    case 'rest': {
      const { RestBackend } = await import('./rest.ts');
      return new ResilientBackend(RestBackend.fromLocation(rest, options, settings.warn), transfer);
    }
    case 'rclone': {
      const { RcloneBackend } = await import('./rclone.ts');
      // One HTTP connection over rclone's stdin/stdout: one request at a time.
      return new ResilientBackend(await RcloneBackend.start(rest, options), { ...transfer, connections: 1 });
    }
    default:
      // A Windows drive letter or a relative path with a colon is still a path.
      throw new LifeboatError('USAGE', `Unknown repository location scheme "${scheme}:" in "${location}"`, {
        hint: 'Use /path, local:/path, s3:https://HOST/BUCKET[/PREFIX], sftp:[USER@]HOST[:PORT]/PATH, rest:http[s]://HOST:PORT/[PATH] or rclone:REMOTE:PATH.',
      });
  }
}

function numberOption(options: Record<string, string>, key: string, field: keyof TransferOptions): Partial<TransferOptions> {
  return options[key] === undefined ? {} : { [field]: positiveNumber(key, options[key]) };
}

export function positiveNumber(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new LifeboatError('USAGE', `The option ${key}=${value} needs a number of 0 or more`);
  return n;
}

/** Parses `--option key=value` arguments. */
export function parseOptions(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new LifeboatError('USAGE', `--option "${pair}" is not KEY=VALUE`, { hint: 'For example: --option s3.region=eu-central-1' });
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
