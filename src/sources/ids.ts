// User and group names for uids and gids, read from /etc/passwd and /etc/group (Node has no
// getpwuid). Names let a restore onto a new machine map owners by name; ids are kept as well.
import { readFileSync } from 'node:fs';

function readIdFile(path: string): { byId: Map<number, string>; byName: Map<string, number> } {
  const byId = new Map<number, string>();
  const byName = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { byId, byName };
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    const n = Number(id);
    if (name && Number.isInteger(n)) {
      if (!byId.has(n)) byId.set(n, name);
      if (!byName.has(name)) byName.set(name, n);
    }
  }
  return { byId, byName };
}

let users: ReturnType<typeof readIdFile> | undefined;
let groups: ReturnType<typeof readIdFile> | undefined;

export function userName(uid: number): string | undefined {
  return (users ??= readIdFile('/etc/passwd')).byId.get(uid);
}

export function groupName(gid: number): string | undefined {
  return (groups ??= readIdFile('/etc/group')).byId.get(gid);
}

export function uidOf(name: string): number | undefined {
  return (users ??= readIdFile('/etc/passwd')).byName.get(name);
}

export function gidOf(name: string): number | undefined {
  return (groups ??= readIdFile('/etc/group')).byName.get(name);
}
