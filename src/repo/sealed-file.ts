// Index and snapshot files: a 4-byte magic naming the kind, a format byte, a 32-byte salt, then
// the zstd-compressed payload sealed with the file's own key. The file name is the SHA-256 of all
// of it, so damage is found without the key.
import { createHash } from 'node:crypto';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { decompressBlob, frameContentSize } from '../lib/zstd.ts';
import { AuthenticationError, fileKey, fileKeyBytes, newSalt, nonce, seal, unsealWithKeyBytes, NONCE_FILE, SALT_BYTES, type RepositoryKeys } from './crypto.ts';

const HEADER_BYTES = 4 + 1 + SALT_BYTES;
/** The most a sealed file (an index, a snapshot) may decompress to. */
const MAX_PAYLOAD = 1 << 30;
export const SEALED_FILE_VERSION = 1;

export class FileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileFormatError';
  }
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sealFile(keys: RepositoryKeys, magic: string, payload: Uint8Array): { name: string; bytes: Buffer } {
  const salt = newSalt();
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(magic, 0, 'latin1');
  header[4] = SEALED_FILE_VERSION;
  salt.copy(header, 5);
  const body = seal(fileKey(keys, salt), nonce(NONCE_FILE, 0), zstdCompressSync(payload), header);
  const bytes = Buffer.concat([header, body]);
  return { name: sha256Hex(bytes), bytes };
}

/** Opens a sealed file; `name` is checked against the content hash first. */
export function openSealedFile(keys: RepositoryKeys, magic: string, name: string, bytes: Buffer): Buffer {
  if (sha256Hex(bytes) !== name) throw new FileFormatError(`content does not match its name (hash mismatch)`);
  if (bytes.byteLength < HEADER_BYTES || bytes.toString('latin1', 0, 4) !== magic) {
    throw new FileFormatError(`not a ${magic} file`);
  }
  if (bytes[4] !== SEALED_FILE_VERSION) throw new FileFormatError(`unknown ${magic} format version ${bytes[4]}`);
  const header = bytes.subarray(0, HEADER_BYTES);
  const salt = bytes.subarray(5, HEADER_BYTES);
  // The key as bytes, for the addon's AES-GCM context: no KeyObject and Decipher per file.
  const compressed = unsealWithKeyBytes(fileKeyBytes(keys, salt), nonce(NONCE_FILE, 0), bytes.subarray(HEADER_BYTES), header);
  if (!compressed) throw new AuthenticationError(magic);
  // In one buffer of the size the frame declares, with the addon's context: loading an index of
  // 10,000,000 blobs made a gigabyte of 16 KiB pieces and joined copies, and V8 collects garbage
  // for every 64 MiB of such memory. Damage past authentication is not expected (it would take
  // the key, which another machine sharing the repository has); a frame that declares no size is
  // decoded the plain way. Neither way decodes past MAX_PAYLOAD: a small frame can hold gigabytes.
  const size = frameContentSize(compressed);
  try {
    if (size !== undefined && size > MAX_PAYLOAD) throw new Error(`it declares ${size} bytes, more than a ${magic} file may hold`);
    return size !== undefined ? decompressBlob(compressed, size) : zstdDecompressSync(compressed, { maxOutputLength: MAX_PAYLOAD });
  } catch (err) {
    throw new FileFormatError(`the content cannot be decompressed: ${(err as Error).message}`);
  }
}
