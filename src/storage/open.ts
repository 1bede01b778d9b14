// Maps a repository location string to a backend. A backend's module is imported only when its
// scheme is used, so a local backup never loads a cloud SDK.
import { resolve } from 'node:path';
import { LifeboatError } from '../errors.ts';
import type { Backend } from './backend.ts';

export type { Backend, FileInfo, FileKind, ReadRange } from './backend.ts';
export { FILE_KINDS, CONFIG_NAME } from './backend.ts';

export async function openBackend(location: string): Promise<Backend> {
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  if (scheme === undefined || scheme === 'local') {
    const path = scheme === 'local' ? location.slice('local:'.length) : location;
    if (path === '') throw new LifeboatError('USAGE', 'The repository location "local:" has no path');
    const { LocalBackend } = await import('./local.ts');
    return new LocalBackend(resolve(path));
  }
  throw new LifeboatError('USAGE', `Unknown repository location scheme "${scheme}:" in "${location}"`, {
    hint: 'Use a path or local:/path. Other backends (s3, sftp, rest, rclone) come in a later release.',
  });
}
