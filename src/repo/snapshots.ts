// Snapshot files: one sealed JSON record per backup, named by the SHA-256 of the file. Written
// last, after the packs and index it depends on. Listing reports damaged snapshot files instead
// of failing, so one bad file never hides the others.
import { parseTimestamp } from '../model/timestamp.ts';
import { LifeboatError } from '../errors.ts';
import type { Snapshot, SnapshotRecord } from '../model/snapshot.ts';
import type { Backend } from '../storage/open.ts';
import type { RepositoryKeys } from './crypto.ts';
import { openSealedFile, sealFile } from './sealed-file.ts';

const MAGIC = 'LBSN';

export interface SnapshotFilter {
  hosts?: string[];
  tags?: string[];
  paths?: string[];
}

export interface SnapshotList {
  snapshots: SnapshotRecord[];
  damaged: Array<{ id: string; problem: string }>;
}

export class SnapshotStore {
  readonly #backend: Backend;
  readonly #keys: RepositoryKeys;

  constructor(backend: Backend, keys: RepositoryKeys) {
    this.#backend = backend;
    this.#keys = keys;
  }

  async save(snapshot: Snapshot): Promise<string> {
    const { name, bytes } = sealFile(this.#keys, MAGIC, Buffer.from(JSON.stringify(snapshot)));
    await this.#backend.write('snapshots', name, bytes);
    return name;
  }

  async load(id: string): Promise<SnapshotRecord> {
    const bytes = await this.#backend.read('snapshots', id);
    const snapshot = JSON.parse(openSealedFile(this.#keys, MAGIC, id, bytes).toString('utf8')) as Snapshot;
    if (snapshot.version !== 1) throw new Error(`snapshot format version ${snapshot.version} is not supported`);
    return { ...snapshot, id };
  }

  /** Removes a snapshot (forget): its data stays until prune finds it unreferenced. */
  async remove(id: string): Promise<void> {
    await this.#backend.delete('snapshots', id);
  }

  /** All readable snapshots, oldest first, and the files that could not be read. */
  async list(filter: SnapshotFilter = {}): Promise<SnapshotList> {
    const out: SnapshotList = { snapshots: [], damaged: [] };
    for await (const info of this.#backend.list('snapshots')) {
      try {
        const s = await this.load(info.name);
        if (matches(s, filter)) out.snapshots.push(s);
      } catch (err) {
        out.damaged.push({ id: info.name, problem: (err as Error).message });
      }
    }
    // By the instant, not the text: times carry the offset of the machine that made them.
    out.snapshots.sort((a, b) => timeMs(a.time) - timeMs(b.time) || a.id.localeCompare(b.id));
    return out;
  }

  /** Resolves "latest" (within the filter) or a unique id prefix. */
  async resolve(ref: string, filter: SnapshotFilter = {}): Promise<SnapshotRecord> {
    if (ref === 'latest') {
      const { snapshots } = await this.list(filter);
      const latest = snapshots.at(-1);
      if (!latest) throw new LifeboatError('SNAPSHOT_NOT_FOUND', 'No snapshot matches "latest"', { hint: 'Run "lifeboat snapshots" to see what there is.' });
      return latest;
    }
    if (!/^[0-9a-f]{1,64}$/.test(ref)) {
      throw new LifeboatError('USAGE', `"${ref}" is not a snapshot id (hex) or "latest"`);
    }
    const candidates: string[] = [];
    for await (const info of this.#backend.list('snapshots')) if (info.name.startsWith(ref)) candidates.push(info.name);
    if (candidates.length === 0) throw new LifeboatError('SNAPSHOT_NOT_FOUND', `No snapshot has an id starting with "${ref}"`, { hint: 'Run "lifeboat snapshots".' });
    if (candidates.length > 1) throw new LifeboatError('USAGE', `The prefix "${ref}" matches ${candidates.length} snapshots; give more characters`);
    try {
      return await this.load(candidates[0]);
    } catch (err) {
      throw new LifeboatError('REPO_CORRUPT', `Snapshot ${candidates[0]} is damaged: ${(err as Error).message}`, { cause: err });
    }
  }
}

export function matches(s: Snapshot, filter: SnapshotFilter): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(s.host)) return false;
  if (filter.tags?.length && !filter.tags.every((t) => s.tags.includes(t))) return false;
  if (filter.paths?.length && !filter.paths.every((p) => s.paths.includes(p))) return false;
  return true;
}

function timeMs(time: string): number {
  return parseTimestamp(time)?.ms ?? 0;
}
