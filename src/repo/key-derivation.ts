// argon2id, which turns a password into the key that unwraps one password slot's master key, and
// a way to start it before the rest of the program has loaded. Loads little: the CLI starts the
// derivation first and loads the command's modules (about 0.1 s) while argon2id runs on other
// threads (lib/argon2id.ts: about 60 ms), instead of one after the other.
import { argon2id, defaultArgon2idCost } from '../lib/argon2id.ts';
import type { Backend } from '../storage/open.ts';
import { sha256Hex } from './sealed-file.ts';

export interface KdfParams {
  name: 'argon2id';
  memoryKiB: number;
  passes: number;
  parallelism: number;
  salt: string;
}

/**
 * The bounds a key file's KDF parameters must keep (keys.ts checks them with the rest of the file):
 * the default cost (64 MiB, 3 passes, 2 lanes) times a small factor. A key file is tried against
 * every password given, and another machine sharing the repository can plant one: at 4 GiB, 100
 * passes and 64 lanes a planted slot cost 13 minutes and 4 GiB per try.
 */
export const KDF_LIMITS = {
  memoryKiB: { min: 8, max: 1024 * 1024 },
  passes: { min: 1, max: 12 },
  parallelism: { min: 1, max: 16 },
} as const;

/** A new slot's KDF: argon2id at lib/argon2id.ts's default cost. */
export function defaultKdf(): Omit<KdfParams, 'salt'> {
  const cost = defaultArgon2idCost();
  if (cost.memoryKiB < KDF_LIMITS.memoryKiB.min || cost.memoryKiB > KDF_LIMITS.memoryKiB.max) {
    throw new RangeError(`LIFEBOAT_KDF_MEMORY_KIB must be between ${KDF_LIMITS.memoryKiB.min} and ${KDF_LIMITS.memoryKiB.max}: a slot outside that range would not be accepted`);
  }
  return { name: 'argon2id', ...cost };
}

export async function deriveWrappingKey(password: string, kdf: KdfParams): Promise<Buffer> {
  return await argon2id(Buffer.from(password, 'utf8'), Buffer.from(kdf.salt, 'base64'), kdf);
}

/** The wrapping key of one slot (named by its key file), derived from one password. */
export interface DerivedSlotKey {
  keyId: string;
  password: string;
  wrappingKey: Buffer;
}

/**
 * Starts deriving the wrapping key of the repository's first key slot from `password`, for
 * Repository.open to use if that slot is the one it tries. Resolves once argon2id has started
 * (the caller then loads its modules, which would hold up the reads before it), with the key to
 * come in `derived`. Best effort: anything that goes wrong (no repository, a damaged key file)
 * gives undefined and is left for the real open to report. Never rejects.
 */
export async function deriveAhead(backend: Backend, password: string): Promise<{ derived: Promise<DerivedSlotKey | undefined> }> {
  try {
    for await (const info of backend.list('keys')) {
      const bytes = await backend.read('keys', info.name);
      if (sha256Hex(bytes) !== info.name) continue;
      const kdf = (JSON.parse(bytes.toString('utf8')) as { kdf?: Partial<KdfParams> }).kdf;
      if (!kdf || kdf.name !== 'argon2id' || typeof kdf.salt !== 'string' || !withinLimits(kdf)) continue;
      const derived = deriveWrappingKey(password, kdf as KdfParams).then(
        (wrappingKey) => ({ keyId: info.name, password, wrappingKey }),
        () => undefined,
      );
      return { derived };
    }
  } catch {
    // reported by the open that follows, with its own words
  }
  return { derived: Promise.resolve(undefined) };
}

function withinLimits(kdf: Partial<KdfParams>): boolean {
  return (Object.keys(KDF_LIMITS) as Array<keyof typeof KDF_LIMITS>).every((k) => {
    const value = kdf[k];
    return Number.isInteger(value) && (value as number) >= KDF_LIMITS[k].min && (value as number) <= KDF_LIMITS[k].max;
  });
}
