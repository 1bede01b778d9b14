// The native addon (native/*.c), built by `npm ci` through node-gyp (Node-API, so it loads on any
// Node version, in any thread). Loaded on first use, so a missing build is reported as such. Its
// functions are typed where they are used: sources/native.ts (filesystem calls) and
// repo/chunker.ts (the chunker's inner loop).
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
