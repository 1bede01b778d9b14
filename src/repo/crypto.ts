// Encryption and content addressing. Every byte the repository stores (but small unencrypted
// headers that name the format) is sealed with AES-256-GCM. Nonces never repeat by construction:
// each file gets its own key, derived by HKDF from the master key and a fresh 256-bit salt, and
// inside a file a nonce is (domain, byte offset of the sealed item), unique within that file.
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { nativeAddonIfBuilt, type NativeAddon } from '../lib/native-addon.ts';

export const KEY_BYTES = 32;
export const SALT_BYTES = 32;
export const TAG_BYTES = 16;

/** Nonce domains: blobs and headers inside packs, and whole sealed files, never share a nonce. */
export const NONCE_BLOB = 0;
export const NONCE_PACK_HEADER = 1;
export const NONCE_FILE = 2;

export interface RepositoryKeys {
  /** Input to per-file key derivation. */
  encryption: Buffer;
  /** HMAC-SHA256 key that names blobs by their plaintext. */
  blobId: Buffer;
  /** Seeds the chunker's gear table, so chunk boundaries do not reveal known files. */
  chunker: Buffer;
}

export class AuthenticationError extends Error {
  constructor(what: string) {
    super(`${what}: authentication failed (wrong key, or the data is damaged)`);
    this.name = 'AuthenticationError';
  }
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, KEY_BYTES));
}

export function deriveRepositoryKeys(master: Uint8Array): RepositoryKeys {
  const none = Buffer.alloc(0);
  return {
    encryption: hkdf(master, none, 'lifeboat/v1/encryption'),
    blobId: hkdf(master, none, 'lifeboat/v1/blob-id'),
    chunker: hkdf(master, none, 'lifeboat/v1/chunker'),
  };
}

export function newSalt(): Buffer {
  return randomBytes(SALT_BYTES);
}

/** The key of one file. A KeyObject, because ciphers built from raw bytes re-import the key each time. */
export function fileKey(keys: RepositoryKeys, salt: Uint8Array): KeyObject {
  return createSecretKey(fileKeyBytes(keys, salt));
}

/** The key of one file as bytes, to hand to the native addon. */
export function fileKeyBytes(keys: RepositoryKeys, salt: Uint8Array): Buffer {
  return hkdf(keys.encryption, salt, 'lifeboat/v1/file');
}

export type CipherKey = KeyObject | Uint8Array;

export function nonce(domain: number, offset: number): Buffer {
  const n = Buffer.alloc(12);
  n[0] = domain;
  n.writeBigUInt64BE(BigInt(offset), 4);
  return n;
}

export function seal(key: CipherKey, iv: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]); // final() is empty for GCM
}

export function unseal(key: CipherKey, iv: Uint8Array, sealed: Uint8Array, what: string, aad?: Uint8Array): Buffer {
  if (sealed.byteLength < TAG_BYTES) throw new AuthenticationError(what);
  const body = sealed.subarray(0, sealed.byteLength - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
  if (aad) decipher.setAAD(aad);
  try {
    const plain = decipher.update(body);
    const tail = decipher.final(); // always empty for GCM; checks the tag
    return tail.length ? Buffer.concat([plain, tail]) : plain;
  } catch {
    throw new AuthenticationError(what);
  }
}

/** A blob's id: a keyed MAC of its plaintext, so storage cannot test for known content. */
export function blobIdOf(keys: RepositoryKeys, data: Uint8Array): Buffer {
  return macBlob(keys.blobId, data);
}

let native: NativeAddon | null | undefined;

/**
 * The addon's HMAC and AES-256-GCM (native/blob_crypto.c), which keep one context of each per
 * thread: node:crypto makes an object with its key schedule for every blob, 10-15 µs each for a
 * 4 KiB blob. Without the addon, node:crypto does the same work.
 */
function nativeCrypto(): NativeAddon | null {
  native ??= nativeAddonIfBuilt() ?? null;
  return native;
}

const macKeys = new Map<string, KeyObject>();

/** HMAC-SHA256 under a blob-id key (32 bytes). */
export function macBlob(key: Uint8Array, data: Uint8Array): Buffer {
  const n = nativeCrypto();
  if (n) return n.blobMac(key, data);
  // An HMAC keyed with raw bytes costs about 30 µs to set up against 3 µs with a KeyObject.
  const hex = Buffer.from(key).toString('hex');
  let object = macKeys.get(hex);
  if (!object) macKeys.set(hex, (object = createSecretKey(key)));
  return createHmac('sha256', object).update(data).digest();
}

/**
 * seal() with a key given as bytes, written into `into` from byte `at` (the pack being built): the
 * ciphertext, then the tag. Returns the length written.
 */
export function sealWithKeyBytesInto(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, into: Uint8Array, at: number): number {
  const n = nativeCrypto();
  if (n) return n.blobSeal(key, iv, plaintext, aad, into, at);
  const sealed = seal(key, iv, plaintext, aad);
  if (at + sealed.byteLength > into.byteLength) throw new RangeError('sealWithKeyBytesInto: no room for the sealed blob at that offset');
  into.set(sealed, at);
  return sealed.byteLength;
}

/** unseal() with a key given as bytes; undefined when the data does not authenticate. */
export function unsealWithKeyBytes(key: Uint8Array, iv: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer | undefined {
  const n = nativeCrypto();
  if (n) return n.blobOpen(key, iv, sealed, aad);
  try {
    return unseal(key, iv, sealed, 'blob', aad);
  } catch (err) {
    if (err instanceof AuthenticationError) return undefined;
    throw err;
  }
}
