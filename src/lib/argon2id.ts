// argon2id (RFC 9106) for the repository's key slots and the server's users file. Every command
// that opens a repository runs it once, so its cost is part of every command's time. It runs in
// @node-rs/argon2 (RustCrypto's argon2, vectorised, one thread per lane) where that package's
// binary is installed, and in node:crypto (OpenSSL's portable code) where it is not: same result
// for the same input. 64 MiB, 3 passes, 2 lanes here: 55-60 ms against 210-220 ms, and about a
// quarter of the CPU (0.18 against 0.38 s for a Node.js process that does one derivation).
import { argon2 } from 'node:crypto';
import { createRequire } from 'node:module';

export interface Argon2idCost {
  memoryKiB: number;
  passes: number;
  /** Lanes: part of the result, not only of the speed. */
  parallelism: number;
}

/**
 * The cost of new key slots and user passwords: 64 MiB, 3 passes, 2 lanes (RFC 9106's second
 * recommended setting), about 60 ms here (0.2 s without @node-rs/argon2). LIFEBOAT_KDF_MEMORY_KIB
 * lowers the memory for tests.
 */
export function defaultArgon2idCost(): Argon2idCost {
  return { memoryKiB: Number(process.env.LIFEBOAT_KDF_MEMORY_KIB) || 64 * 1024, passes: 3, parallelism: 2 };
}

interface NodeRsArgon2 {
  hashRaw(
    password: Uint8Array,
    options: { salt: Uint8Array; memoryCost: number; timeCost: number; parallelism: number; outputLen: number; algorithm: number; version: number },
  ): Promise<Buffer>;
}

const ARGON2ID = 2;
const VERSION_0x13 = 1;
let vectorised: NodeRsArgon2 | null | undefined;

function loadVectorised(): NodeRsArgon2 | null {
  if (vectorised === undefined) {
    try {
      vectorised = createRequire(import.meta.url)('@node-rs/argon2') as NodeRsArgon2;
    } catch {
      vectorised = null; // no binary for this platform: node:crypto does the same work, slower
    }
  }
  return vectorised;
}

/** The `tagLength`-byte argon2id hash of `password` with `salt`; off the main thread either way. */
export async function argon2id(password: Uint8Array, salt: Uint8Array, cost: Argon2idCost, tagLength = 32): Promise<Buffer> {
  const fast = loadVectorised();
  if (!fast) return await argon2idOpenSsl(password, salt, cost, tagLength);
  const options = { salt, memoryCost: cost.memoryKiB, timeCost: cost.passes, parallelism: cost.parallelism, outputLen: tagLength, algorithm: ARGON2ID, version: VERSION_0x13 };
  return await fast.hashRaw(password, options);
}

/** node:crypto's argon2id: the fallback, exported so that tests can hold the two to the same result. */
export function argon2idOpenSsl(password: Uint8Array, salt: Uint8Array, cost: Argon2idCost, tagLength = 32): Promise<Buffer> {
  const params = { message: password, nonce: salt, memory: cost.memoryKiB, passes: cost.passes, parallelism: cost.parallelism, tagLength };
  return new Promise((resolve, reject) => argon2('argon2id', params, (err, key) => (err ? reject(err) : resolve(Buffer.from(key)))));
}

/** Whether the vectorised implementation is in use (the tests check that npm ci installed it). */
export function argon2idIsVectorised(): boolean {
  return loadVectorised() !== null;
}
