// What an administrator does to a repository besides backing up and restoring: password slots,
// locks, and `lifeboat cat`'s decoded objects. These touch key files and storage directly, so
// they live with the format.
import { LifeboatError } from '../errors.ts';
import { decodeIndex, type IndexedPack } from './index-file.ts';
import { readPackEntries } from './index-loader.ts';
import { createKeyFile } from './keys.ts';
import { listLocks, type LockFile } from './locks.ts';
import { listKeyFiles, type KeySlot } from './open-repository.ts';
import type { Repository } from './repository.ts';

/** Adds a password slot for the repository's master key; returns the new key file's id. */
export async function addKeySlot(repo: Repository, password: string): Promise<string> {
  const key = await createKeyFile(repo.masterKey, password);
  await repo.backend.write('keys', key.name, key.bytes);
  return key.name;
}

/** The password slots (key files), each decoded or with what is wrong with it. */
export async function listKeySlots(repo: Repository): Promise<KeySlot[]> {
  return await listKeyFiles(repo.backend);
}

export async function removeKeySlot(repo: Repository, id: string): Promise<void> {
  await repo.backend.delete('keys', id);
}

export async function listRepositoryLocks(repo: Repository): Promise<LockFile[]> {
  return await listLocks(repo.backend, repo.keys);
}

export async function removeLock(repo: Repository, name: string): Promise<void> {
  await repo.backend.delete('locks', name);
}

/** Decoded repository objects, for `lifeboat cat` (debugging): never the master key. */
export async function describeObject(repo: Repository, kind: string, id: string): Promise<unknown> {
  const find = async (fileKind: 'keys' | 'index' | 'packs' | 'snapshots'): Promise<string> => {
    const names: string[] = [];
    for await (const f of repo.backend.list(fileKind)) if (f.name.startsWith(id)) names.push(f.name);
    if (names.length !== 1) throw new LifeboatError('USAGE', names.length ? `"${id}" matches ${names.length} ${fileKind} files` : `No ${fileKind} file starts with "${id}"`);
    return names[0];
  };
  switch (kind) {
    case 'config':
      return repo.config;
    case 'key': {
      const name = await find('keys');
      const file = JSON.parse((await repo.backend.read('keys', name)).toString('utf8'));
      return { id: name, ...file, wrapped: '(encrypted master key)' };
    }
    case 'snapshot':
      return await repo.snapshots.load(await find('snapshots'));
    case 'index': {
      const name = await find('index');
      const content = decodeIndex(repo.keys, name, await repo.backend.read('index', name));
      return { id: name, supersedes: content.supersedes.map((b) => b.toString('hex')), packs: content.packs.map(packJson) };
    }
    case 'pack': {
      const name = await find('packs');
      const size = (await repo.backend.stat('packs', name)).sizeBytes;
      const { salt, entries } = await readPackEntries(repo.backend, repo.keys, name, size);
      return packJson({ id: Buffer.from(name, 'hex'), salt, entries });
    }
    case 'tree':
      return await repo.loadTree(id);
    case 'blob':
      return (await repo.loadBlob(Buffer.from(id, 'hex'))).toString('base64');
    default:
      throw new LifeboatError('USAGE', `cat knows config, key, snapshot, index, pack, tree and blob, not "${kind}"`);
  }
}

function packJson(p: IndexedPack): unknown {
  return { id: p.id.toString('hex'), blobs: p.entries.map((e) => ({ id: e.id.toString('hex'), type: e.type, compression: e.compression, offset: e.offset, storedLength: e.storedLength, rawLength: e.rawLength })) };
}
