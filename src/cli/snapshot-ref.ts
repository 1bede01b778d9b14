// Naming snapshots on the command line: "latest", a unique id prefix, optionally ":/sub/path",
// with --host/--tag/--path narrowing what "latest" means.
import type { SnapshotRecord } from '../model/snapshot.ts';
import type { Repository } from '../repo/repository.ts';
import { listOption, type OptionSpec, type ParsedArgs } from './command.ts';

export const FILTER_OPTIONS: Record<string, OptionSpec> = {
  host: { type: 'string', multiple: true, arg: 'HOST', description: 'only snapshots of HOST' },
  tag: { type: 'string', multiple: true, arg: 'TAG', description: 'only snapshots with TAG' },
  path: { type: 'string', multiple: true, arg: 'PATH', description: 'only snapshots that include PATH' },
};

export function filterOf(args: ParsedArgs): { hosts: string[]; tags: string[]; paths: string[] } {
  return { hosts: listOption(args, 'host'), tags: listOption(args, 'tag'), paths: listOption(args, 'path') };
}

export async function resolveSnapshot(repo: Repository, ref: string, args: ParsedArgs): Promise<{ snapshot: SnapshotRecord; subpath?: string }> {
  const colon = ref.indexOf(':');
  const id = colon >= 0 ? ref.slice(0, colon) : ref;
  const subpath = colon >= 0 ? ref.slice(colon + 1) || '/' : undefined;
  return { snapshot: await repo.snapshots.resolve(id, filterOf(args)), subpath };
}

/** A snapshot as `--json` shows it (restic's field names where restic has the field). */
export function snapshotJson(s: SnapshotRecord): object {
  return { id: s.id, short_id: s.id.slice(0, 8), time: s.time, host: s.host, username: s.username, paths: s.paths, tags: s.tags, tree: s.tree, parent: s.parent, incomplete: s.incomplete === true, summary: s.summary };
}
