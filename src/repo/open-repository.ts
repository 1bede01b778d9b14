// Opening and creating a repository: find the config, try each password slot, check the format
// version, and turn every way this can fail into a clear LifeboatError.
import { randomBytes } from 'node:crypto';
import { LifeboatError, errnoCode } from '../errors.ts';
import { nowIso } from '../lib/clock.ts';
import type { Backend, RetentionPolicy } from '../storage/open.ts';
import { CONFIG_NAME } from '../storage/open.ts';
import { deriveRepositoryKeys, AuthenticationError, type RepositoryKeys } from './crypto.ts';
import { checkConfigEnvelope, decodeConfig, encodeConfig, FormatVersionError, FORMAT_VERSION, type RepositoryConfig } from './config.ts';
import { DEFAULT_CHUNKER, type ChunkerParams } from './chunker.ts';
import { createKeyFile, parseKeyFile, unwrapMasterKey, type KeyFile } from './keys.ts';
import type { DerivedSlotKey } from './key-derivation.ts';
import { FileFormatError } from './sealed-file.ts';

export const DEFAULT_PACK_TARGET_BYTES = 16 * 1024 * 1024;

export interface OpenedRepository {
  config: RepositoryConfig;
  keys: RepositoryKeys;
  master: Buffer;
  keyId: string;
}

export interface CreateOptions {
  chunker?: ChunkerParams;
  objectLock?: RetentionPolicy;
}

export async function createRepository(backend: Backend, password: string, options: CreateOptions = {}): Promise<OpenedRepository> {
  if (await backend.exists()) {
    throw new LifeboatError('REPO_EXISTS', `Cannot create a repository at "${backend.location}": one already exists there`, {
      hint: 'Use the existing repository, or choose an empty location.',
    });
  }
  if (options.objectLock && !backend.setRetention) {
    throw new LifeboatError('USAGE', `Object Lock needs an S3 location; "${backend.location}" cannot lock files`, {
      hint: 'Use an s3: location on a bucket created with Object Lock enabled, or leave out --object-lock.',
    });
  }
  await backend.create({ objectLock: options.objectLock !== undefined });
  if (options.objectLock) await backend.setRetention!(options.objectLock);
  const master = randomBytes(32);
  const keys = deriveRepositoryKeys(master);
  const config: RepositoryConfig = {
    version: FORMAT_VERSION,
    id: randomBytes(16).toString('hex'),
    chunker: options.chunker ?? DEFAULT_CHUNKER,
    packTargetBytes: DEFAULT_PACK_TARGET_BYTES,
    created: nowIso(),
    ...(options.objectLock ? { objectLock: options.objectLock } : {}),
  };
  const key = await createKeyFile(master, password);
  await backend.write('keys', key.name, key.bytes);
  try {
    await backend.write('config', CONFIG_NAME, encodeConfig(keys, config));
  } catch (err) {
    // Lost a race with another init: leave its repository as it is, remove only our own key.
    await backend.delete('keys', key.name).catch(() => {});
    if (errnoCode(err) === 'EEXIST') {
      throw new LifeboatError('REPO_EXISTS', `Cannot create a repository at "${backend.location}": one already exists there`);
    }
    throw err;
  }
  return { config, keys, master, keyId: key.name };
}

export async function readConfigBytes(backend: Backend): Promise<Buffer> {
  try {
    return await backend.read('config', CONFIG_NAME);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
      throw new LifeboatError('REPO_NOT_FOUND', `Cannot open repository "${backend.location}": no config file found`, {
        hint: 'Check the location, or create a repository there with "lifeboat init".',
        cause: err,
      });
    }
    throw err;
  }
}

export function configProblem(backend: Backend, err: unknown): LifeboatError {
  if (err instanceof FormatVersionError) {
    return new LifeboatError('REPO_VERSION', `Cannot open repository "${backend.location}": ${err.message}`, {
      hint: 'Upgrade Lifeboat to a version that reads this repository.',
    });
  }
  return new LifeboatError('REPO_CORRUPT', `Cannot open repository "${backend.location}": ${(err as Error).message}`, {
    hint: 'The config file is damaged. Restore it from a copy of the repository; data files are untouched.',
    cause: err,
  });
}

export interface KeySlot {
  id: string;
  file?: KeyFile;
  problem?: string;
}

export async function listKeyFiles(backend: Backend): Promise<KeySlot[]> {
  const out: Array<{ id: string; file?: KeyFile; problem?: string }> = [];
  for await (const info of backend.list('keys')) {
    try {
      out.push({ id: info.name, file: parseKeyFile(info.name, await backend.read('keys', info.name)) });
    } catch (err) {
      out.push({ id: info.name, problem: (err as Error).message });
    }
  }
  return out;
}

/** Key slots tried with one password at most (a repository has a few: one per person or machine). */
const MAX_SLOTS_TRIED = 20;

function kdfCost(file: KeyFile): number {
  return file.kdf.memoryKiB * file.kdf.passes;
}

/** `ahead`: a slot's wrapping key derived while the program loaded (key-derivation.ts deriveAhead). */
export async function openWithPassword(backend: Backend, password: string, ahead?: Promise<DerivedSlotKey | undefined>): Promise<OpenedRepository> {
  const configBytes = await readConfigBytes(backend);
  try {
    checkConfigEnvelope(configBytes);
  } catch (err) {
    throw configProblem(backend, err);
  }
  const slots = await listKeyFiles(backend);
  const damaged = slots.filter((s) => s.problem);
  const derived = await ahead;
  // The cheapest slots first, and only so many: a planted slot must not cost more than a few tries.
  const tried = slots.filter((s) => s.file).sort((a, b) => kdfCost(a.file!) - kdfCost(b.file!));
  if (tried.length > MAX_SLOTS_TRIED) damaged.push({ id: `(${tried.length - MAX_SLOTS_TRIED} more)`, problem: `only the ${MAX_SLOTS_TRIED} cheapest key slots are tried` });
  for (const slot of tried.slice(0, MAX_SLOTS_TRIED)) {
    // The key file's name is the hash of its content, so the same name means the same KDF parameters.
    const master = await unwrapMasterKey(slot.file!, password, derived?.keyId === slot.id && derived.password === password ? derived.wrappingKey : undefined);
    if (!master) continue;
    const keys = deriveRepositoryKeys(master);
    try {
      const config = decodeConfig(keys, configBytes);
      if (config.objectLock) await backend.setRetention?.(config.objectLock);
      return { config, keys, master, keyId: slot.id };
    } catch (err) {
      if (err instanceof AuthenticationError || err instanceof FileFormatError || err instanceof SyntaxError) throw configProblem(backend, err);
      throw err;
    }
  }
  const list = damaged.map((d) => `keys/${d.id} (${d.problem})`).join('; ');
  if (slots.length === 0 || damaged.length === slots.length) {
    // No intact key slot is left: no password can help, so say what is damaged, not "wrong password".
    throw new LifeboatError('REPO_CORRUPT', `Cannot open repository "${backend.location}": ${slots.length === 0 ? 'there is no key file (keys/ is empty)' : `every key file is damaged: ${list}`}`, {
      hint: 'The master key is stored only in the key files: restore keys/ from a copy of this repository\'s files. (A repository made by "lifeboat copy" has keys of its own, and its data can be restored from it.)',
    });
  }
  const note = damaged.length ? ` (${damaged.length} key file(s) are damaged: ${list})` : '';
  throw new LifeboatError('WRONG_PASSWORD', `Cannot open repository "${backend.location}": wrong password, no key slot opens with it${note}`, {
    hint: 'Check LIFEBOAT_PASSWORD or --password-file.',
  });
}
