// A quick scan that counts files and bytes under the backup paths, run beside the backup so the
// progress display can show a percentage and time left. Approximate by design: it skips the
// less common exclude options.
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PathMatcher } from './excludes.ts';

export async function scanTotals(paths: string[], excludes: string[]): Promise<{ files: number; bytes: number }> {
  const matcher = new PathMatcher(excludes);
  const totals = { files: 0, bytes: 0 };
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path).catch(() => undefined);
    if (!st || (!matcher.empty && matcher.matches(path, st.isDirectory()))) return;
    if (st.isFile()) {
      totals.files++;
      totals.bytes += st.size;
    } else if (st.isDirectory()) {
      const names = await readdir(path).catch(() => [] as string[]);
      for (const name of names) await visit(join(path, name));
    }
  };
  for (const p of paths) await visit(resolve(p));
  return totals;
}
