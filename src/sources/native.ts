// The native addon (native/lifeboat_native.c): extended attributes, utimensat with nanoseconds,
// mknod. Node.js has none of these. Built by `npm ci` through node-gyp (Node-API, so it loads on
// any Node version).
import { createRequire } from 'node:module';

export interface NativeFs {
  listXattrs(path: Buffer): Buffer[];
  getXattr(path: Buffer, name: Buffer): Buffer;
  setXattr(path: Buffer, name: Buffer, value: Buffer): void;
  utimens(path: Buffer, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void;
  mknod(path: Buffer, mode: number, major: number, minor: number): void;
  devParts(rdev: number): [number, number];
}

export const nativeFs: NativeFs = createRequire(import.meta.url)('../../build/Release/lifeboat_native.node') as NativeFs;
