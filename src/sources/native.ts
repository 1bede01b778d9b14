// The native addon (native/lifeboat_native.c): extended attributes, utimensat with nanoseconds,
// mknod. Node.js has none of these. Built by `npm ci` through node-gyp (Node-API, so it loads on
// any Node version). Loaded on first use, so a missing build is reported as such.
import { createRequire } from 'node:module';
import { LifeboatError } from '../errors.ts';

export interface NativeFs {
  listXattrs(path: Buffer): Buffer[];
  getXattr(path: Buffer, name: Buffer): Buffer;
  setXattr(path: Buffer, name: Buffer, value: Buffer): void;
  utimens(path: Buffer, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  futimens(fd: number, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  fsetxattr(fd: number, name: Buffer, value: Buffer): void;
  devParts(rdev: number): [number, number];
  scanDirectory(path: Buffer): Promise<{ names: Buffer; ends: Uint32Array; stats: BigInt64Array }>;
}

let loaded: NativeFs | undefined;

function load(): NativeFs {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('../../build/Release/lifeboat_native.node') as NativeFs;
    return loaded;
  } catch (err) {
    throw new LifeboatError('FATAL', `Lifeboat's native helper is not built: ${(err as Error).message}`, {
      hint: 'Run "npm rebuild" (or "npm ci") in the Lifeboat directory; it needs python3, make and a C compiler.',
      cause: err,
    });
  }
}

export const nativeFs: NativeFs = {
  listXattrs: (path) => load().listXattrs(path),
  getXattr: (path, name) => load().getXattr(path, name),
  setXattr: (path, name, value) => load().setXattr(path, name, value),
  utimens: (path, a, an, m, mn) => load().utimens(path, a, an, m, mn),
  mknod: (path, mode, major, minor) => load().mknod(path, mode, major, minor),
  futimens: (fd, a, an, m, mn) => load().futimens(fd, a, an, m, mn),
  fsetxattr: (fd, name, value) => load().fsetxattr(fd, name, value),
  devParts: (rdev) => load().devParts(rdev),
  scanDirectory: (path) => load().scanDirectory(path),
};
