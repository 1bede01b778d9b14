// The native addon's filesystem calls (native/lifeboat_native.c, scan_dir.c): extended
// attributes, utimensat with nanoseconds, mknod, a folder's scan. Node.js has none of these.
import { nativeAddon } from '../lib/native-addon.ts';

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

function load(): NativeFs {
  return nativeAddon<NativeFs>();
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
