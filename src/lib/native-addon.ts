// The native addon (native/*.c), built by `npm ci` through node-gyp (Node-API, so it loads on any
// Node version, in any thread). Loaded on first use, so a missing build is reported as such. Its
// functions are typed where they are used: sources/native.ts (filesystem calls), repo/chunker.ts
// (the chunker's inner loop), and where Node's own zstd and OpenSSL are called through it for one
// blob at a time (lib/zstd.ts, repo/crypto.ts, repo/pack-check.ts), which fall back to node:zlib
// and node:crypto without it.
import { createRequire } from 'node:module';
import { LifeboatError } from '../errors.ts';

let loaded: unknown;

export function nativeAddon<T>(): T {
  if (loaded) return loaded as T;
  try {
    loaded = createRequire(import.meta.url)('../../build/Release/lifeboat_native.node');
    return loaded as T;
  } catch (err) {
    throw new LifeboatError('FATAL', `Lifeboat's native helper is not built: ${(err as Error).message}`, {
      hint: 'Run "npm rebuild" (or "npm ci") in the Lifeboat directory; it needs python3, make and a C compiler.',
      cause: err,
    });
  }
}

/** The addon, or undefined when it is not built: for callers that can do without it. */
export function nativeAddonIfBuilt<T>(): T | undefined {
  try {
    return nativeAddon<T>();
  } catch {
    return undefined;
  }
}

/**
 * Hands the C heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere or
 * without the addon). For after a burst of short-lived buffers: the allocator keeps them otherwise.
 */
export function releaseFreeMemory(): void {
  nativeAddonIfBuilt<{ releaseFreeMemory(): boolean }>()?.releaseFreeMemory();
}
