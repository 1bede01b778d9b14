// The files source: paths on this machine's file systems, read as they are.
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { LifeboatError, errnoCode } from '../errors.ts';
import { scanFolder } from './dir-scan.ts';
import { describeEntry, joinPath, statEntry, unchangedSince } from './files.ts';
import { LongPaths } from './long-paths.ts';
import type { Source } from './source.ts';

const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

/** The given paths, absolute, without repeats, each checked to exist: a typo fails before anything is written. */
export async function filesSource(paths: string[]): Promise<Source> {
  const absolute = [...new Set(paths.map((p) => resolvePath(p)))].sort();
  for (const path of absolute) {
    try {
      await statEntry(Buffer.from(path));
    } catch (err) {
      throw new LifeboatError('SOURCE_NOT_FOUND', `Cannot back up "${path}": ${errnoCode(err) === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, {
        hint: 'Check the path; nothing was written to the repository.',
        cause: err,
      });
    }
  }
  // Every call reaches its entry by a path the kernel takes, however deep (long-paths.ts).
  const long = new LongPaths();
  return {
    paths: absolute,
    localFolders: true,
    stat: (path) => long.with(path, statEntry),
    list: (path) => long.with(path, scanFolder),
    describe: (path, name, stats, previous) => long.with(path, (short) => describeEntry(short, name, stats, previous)),
    unchanged: unchangedSince,
    content: (path) => {
      const { short, release } = long.hold(path);
      return { path: short, release };
    },
    isCacheDir: (path) => long.with(joinPath(path, Buffer.from('CACHEDIR.TAG')), isCacheTag),
    finished: async () => {},
    close: () => long.close(),
  };
}

/** Whether the file is a CACHEDIR.TAG with the standard signature (bford.info/cachedir). */
async function isCacheTag(path: Buffer): Promise<boolean> {
  try {
    return (await readFile(path)).toString('latin1').startsWith(CACHEDIR_SIGNATURE);
  } catch {
    return false;
  }
}
