// The embedded defaults that let "lifeboat backup ~/Documents" work with nothing configured: a
// repository under the user's data directory and a generated password file (mode 0600) under the
// config directory, created on first use.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { LifeboatError } from '../errors.ts';
import { untrustedFolder, untrustedSecretFile } from '../lib/trusted-folder.ts';

export function dataDir(): string {
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lifeboat');
}

export function configDir(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'lifeboat');
}

/**
 * Where this machine keeps what backups saw of each folder (see engine/folder-cache.ts), or why
 * there is none: a folder another user could change (lib/trusted-folder.ts) is not used.
 */
export function folderCacheDir(): { dir: string; refused?: string } {
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lifeboat', 'folders');
  return { dir, refused: untrustedFolder(dir) };
}

export function defaultRepository(): string {
  return join(dataDir(), 'repository');
}

export function defaultPasswordFile(): string {
  return join(configDir(), 'repository.key');
}

/**
 * The default password file, refused when someone else could have planted or read it: root would
 * otherwise back up into a repository whose password another user chose.
 */
export function checkedDefaultPasswordFile(): string {
  const file = defaultPasswordFile();
  const why = untrustedFolder(configDir(), false) ?? untrustedSecretFile(file);
  if (why) {
    throw new LifeboatError('USAGE', `The default password file ${file} is not used: ${why}`, {
      hint: 'It must be yours, mode 0600, in folders only you can change. Fix that, or give the password with --password-file or LIFEBOAT_PASSWORD_FILE.',
    });
  }
  return file;
}

/** Creates the default password file if it is missing; returns true when it was created now. */
export function ensureDefaultPasswordFile(): boolean {
  const file = defaultPasswordFile();
  if (existsSync(file)) return false;
  const why = untrustedFolder(configDir());
  if (why) throw new LifeboatError('USAGE', `Cannot keep the default password file in ${configDir()}: ${why}`, { hint: 'Give the password with --password-file or LIFEBOAT_PASSWORD_FILE.' });
  writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  return true;
}
