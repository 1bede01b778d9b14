// Folders Lifeboat keeps its own state in (caches, the default password file) must be folders no
// one else can change: root runs backups with a HOME or XDG_CACHE_HOME that another user owns
// (sudo -E, su -m, a cron job or a unit with HOME=), and that user could plant links or files
// there. A folder is trusted when every folder on its path is a real folder (no link), owned by
// this user or root, and writable by no one else; or, like /tmp, owned by root with the sticky
// bit, where others may add entries but not rename or remove ours.
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** Why `path` is not, or cannot be made (missing folders are made, mode 0700), a trusted folder; undefined when it is. */
export function untrustedFolder(path: string, create = true): string | undefined {
  const uid = process.geteuid?.() ?? 0;
  let at = '/';
  for (const part of path.split('/').filter(Boolean)) {
    at = join(at, part);
    let st: Stats | undefined = lstatSync(at, { throwIfNoEntry: false });
    if (!st && create) {
      try {
        mkdirSync(at, { mode: 0o700 });
      } catch (err) {
        return `${at} cannot be created (${(err as Error).message})`;
      }
      st = lstatSync(at);
    }
    if (!st) return `${at} does not exist`;
    if (!st.isDirectory()) return `${at} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a folder'}`;
    if (st.uid !== uid && st.uid !== 0) return `${at} belongs to another user (uid ${st.uid})`;
    if ((st.mode & 0o022) !== 0 && !(st.uid === 0 && st.mode & 0o1000)) return `${at} is writable by others`;
  }
  return undefined;
}

/** Why a file of secrets at `path` must not be used (a link, another user's, open to others); undefined when it may. */
export function untrustedSecretFile(path: string): string | undefined {
  const st = lstatSync(path);
  const uid = process.geteuid?.() ?? 0;
  if (!st.isFile()) return `it is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`;
  if (st.uid !== uid) return `it belongs to another user (uid ${st.uid})`;
  if ((st.mode & 0o077) !== 0) return `other users can read or change it (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}
