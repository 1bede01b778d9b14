// Password slots. The repository's random master key is stored once per slot, wrapped with a key
// derived from that slot's password by argon2id (parameters stored in the slot). A key file is
// JSON: the KDF header is readable, the master key is not. Each slot's wrapping key encrypts
// exactly one message, so a fixed nonce is safe by construction.
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import * as v from 'valibot';
import { nowIso } from '../lib/clock.ts';
import { seal, unseal, AuthenticationError } from './crypto.ts';
import { sha256Hex } from './sealed-file.ts';
import { defaultKdf, deriveWrappingKey, KDF_LIMITS, type KdfParams } from './key-derivation.ts';

const bounded = ({ min, max }: { min: number; max: number }) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));
const keyFileSchema = v.object({
  format: v.literal('lifeboat-key'),
  version: v.literal(1),
  kdf: v.object({
    name: v.literal('argon2id'),
    memoryKiB: bounded(KDF_LIMITS.memoryKiB),
    passes: bounded(KDF_LIMITS.passes),
    parallelism: bounded(KDF_LIMITS.parallelism),
    salt: v.string(),
  }),
  created: v.string(),
  host: v.string(),
  user: v.string(),
  wrapped: v.string(),
});

export type KeyFile = v.InferOutput<typeof keyFileSchema>;

const WRAP_NONCE = Buffer.alloc(12);
const WRAP_AAD = Buffer.from('lifeboat/v1/key-slot');

export async function createKeyFile(master: Uint8Array, password: string): Promise<{ name: string; bytes: Buffer }> {
  const kdf: KdfParams = { ...defaultKdf(), salt: randomBytes(32).toString('base64') };
  const wrappingKey = await deriveWrappingKey(password, kdf);
  const file: KeyFile = {
    format: 'lifeboat-key',
    version: 1,
    kdf,
    created: nowIso(),
    host: hostname(),
    user: safeUsername(),
    wrapped: seal(wrappingKey, WRAP_NONCE, master, WRAP_AAD).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 1) + '\n');
  return { name: sha256Hex(bytes), bytes };
}

/** Parses and checks a key file's integrity; throws an Error describing the damage. */
export function parseKeyFile(name: string, bytes: Buffer): KeyFile {
  if (sha256Hex(bytes) !== name) throw new Error('content does not match its name (hash mismatch)');
  const parsed = v.safeParse(keyFileSchema, JSON.parse(bytes.toString('utf8')));
  if (!parsed.success) throw new Error(`malformed key file: ${describeIssue(parsed.issues[0])}`);
  return parsed.output;
}

/**
 * The master key, or undefined when the password does not open this slot. `derived` is this
 * slot's wrapping key for this password when it was derived ahead (key-derivation.ts).
 */
export async function unwrapMasterKey(file: KeyFile, password: string, derived?: Buffer): Promise<Buffer | undefined> {
  const wrappingKey = derived ?? (await deriveWrappingKey(password, file.kdf));
  try {
    return unseal(wrappingKey, WRAP_NONCE, Buffer.from(file.wrapped, 'base64'), 'key slot', WRAP_AAD);
  } catch (err) {
    if (err instanceof AuthenticationError) return undefined;
    throw err;
  }
}

/** "kdf.passes: Invalid value: Expected <=100 but received 1000", say: where, then what. */
function describeIssue(issue: v.BaseIssue<unknown>): string {
  const where = v.getDotPath(issue);
  return where ? `${where}: ${issue.message}` : issue.message;
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}
