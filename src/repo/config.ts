// The repository config: format version, repository id and the parameters every writer must agree
// on (chunker sizes, pack size). Layout: "LBCF", a 2-byte big-endian format version, a 32-byte
// salt, the sealed JSON body, and a SHA-256 of everything before it so damage is found even without a password.
// The version stands outside the encryption so a reader can refuse a newer format with a clear
// error; it is also the sealing's additional data, so it cannot be changed unnoticed.
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { fileKey, newSalt, nonce, seal, unseal, NONCE_FILE, SALT_BYTES, type RepositoryKeys } from './crypto.ts';
import { FileFormatError } from './sealed-file.ts';

export const FORMAT_VERSION = 1;
const MAGIC = 'LBCF';

const integer = v.pipe(v.number(), v.integer());
const between = (min: number, max: number) => v.pipe(integer, v.minValue(min), v.maxValue(max));
// Range-checked: a config with chunk sizes the chunker cannot use crashed backup with a stack
// trace. A chunk at most 64 MiB keeps far below the 512 MiB any blob may hold (pack.ts).
const configSchema = v.object({
  version: integer,
  id: v.string(),
  chunker: v.pipe(
    v.object({ minBytes: between(1024, 64 << 20), avgBytes: between(1024, 64 << 20), maxBytes: between(1024, 64 << 20) }),
    v.check((c) => c.minBytes <= c.avgBytes && c.avgBytes <= c.maxBytes, 'chunk sizes must be min <= avg <= max'),
  ),
  packTargetBytes: between(64 << 10, 1 << 30),
  created: v.string(),
  /** Every file is written with this retention (S3 Object Lock); absent: no lock. */
  objectLock: v.optional(v.object({ days: v.pipe(integer, v.minValue(1)), mode: v.picklist(['compliance', 'governance']) })),
});

export type RepositoryConfig = v.InferOutput<typeof configSchema>;

export class FormatVersionError extends Error {
  readonly found: number;
  constructor(found: number) {
    super(`the repository has format version ${found}; this Lifeboat reads version ${FORMAT_VERSION}`);
    this.found = found;
  }
}

const HEADER_BYTES = 6 + SALT_BYTES;

export function encodeConfig(keys: RepositoryKeys, config: RepositoryConfig): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt16BE(config.version, 4);
  newSalt().copy(header, 6);
  const body = seal(fileKey(keys, header.subarray(6)), nonce(NONCE_FILE, 0), Buffer.from(JSON.stringify(config)), header);
  const withoutSum = Buffer.concat([header, body]);
  return Buffer.concat([withoutSum, createHash('sha256').update(withoutSum).digest()]);
}

/** Checks magic, checksum and version; these need no key. */
export function checkConfigEnvelope(bytes: Buffer): void {
  if (bytes.byteLength < HEADER_BYTES + 16 + 32 || bytes.toString('latin1', 0, 4) !== MAGIC) {
    throw new FileFormatError('the config file is not a Lifeboat config');
  }
  const body = bytes.subarray(0, bytes.byteLength - 32);
  const sum = createHash('sha256').update(body).digest();
  if (!sum.equals(bytes.subarray(bytes.byteLength - 32))) throw new FileFormatError('the config file is damaged (checksum mismatch)');
  const version = bytes.readUInt16BE(4);
  if (version !== FORMAT_VERSION) throw new FormatVersionError(version);
}

export function decodeConfig(keys: RepositoryKeys, bytes: Buffer): RepositoryConfig {
  checkConfigEnvelope(bytes);
  const header = bytes.subarray(0, HEADER_BYTES);
  const key = fileKey(keys, header.subarray(6));
  const plain = unseal(key, nonce(NONCE_FILE, 0), bytes.subarray(HEADER_BYTES, bytes.byteLength - 32), 'config', header);
  const parsed = v.safeParse(configSchema, JSON.parse(plain.toString('utf8')));
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new FileFormatError(`the config file is malformed (${v.getDotPath(issue) ?? 'config'}: ${issue.message})`);
  }
  return parsed.output;
}
