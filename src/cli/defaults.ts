// The embedded defaults that let "lifeboat backup ~/Documents" work with nothing configured: a
// repository under the user's data directory and a generated password file (mode 0600) under the
// config directory, created on first use.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function dataDir(): string {
  return join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lifeboat');
}

export function configDir(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'lifeboat');
}

/** Where this machine keeps what backups saw of each folder (see engine/folder-cache.ts). */
export function folderCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lifeboat', 'folders');
}

export function defaultRepository(): string {
  return join(dataDir(), 'repository');
}

export function defaultPasswordFile(): string {
  return join(configDir(), 'repository.key');
}

/** Creates the default password file if it is missing; returns true when it was created now. */
export function ensureDefaultPasswordFile(): boolean {
  const file = defaultPasswordFile();
  if (existsSync(file)) return false;
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  return true;
}
