// The benchmark's "small change", deterministic for a given seed: 1% of the regular files edited
// (half appended to, half overwritten in place), 8 MiB appended to the largest log file, and
// 100 new files in a new folder. Files with several links and sparse files are left alone.
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `appended`: the log file grown by 8 MiB (its path as bytes), `appendedAt`: its size before. */
export function mutate(root: string, seed: string): { edited: number; appended: Buffer; appendedAt: number; added: number } {
  let counter = 0;
  const random = (): number => createHash('sha256').update(`${seed}:${counter++}`).digest().readUInt32LE(0) / 2 ** 32;
  const files: Array<{ path: Buffer; size: number }> = [];
  // Paths as bytes: the corpus has names that are not UTF-8.
  const walk = (dir: Buffer): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true, encoding: 'buffer' }).sort((a, b) => Buffer.compare(a.name, b.name))) {
      const path = Buffer.concat([dir, Buffer.from('/'), entry.name]);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const st = lstatSync(path);
        if (st.nlink === 1 && st.blocks * 512 >= st.size) files.push({ path, size: st.size });
      }
    }
  };
  walk(Buffer.from(root));
  const picks = new Set<number>();
  const wanted = Math.max(1, Math.round(files.length / 100));
  while (picks.size < wanted) picks.add(Math.floor(random() * files.length));
  let i = 0;
  for (const p of picks) {
    const { path, size } = files[p];
    if (i++ % 2 === 0 || size < 64) appendFileSync(path, `\n# bench edit ${i}\n`);
    else {
      const fd = openSync(path, 'r+');
      writeSync(fd, Buffer.from(`BENCH-EDIT-${String(i).padStart(5, '0')}`), 0, 16, Math.floor(random() * (size - 16)));
      closeSync(fd);
    }
  }
  const logs = files.filter((f) => f.path.toString('latin1').endsWith('.log')).sort((a, b) => b.size - a.size);
  const { path: log, size: appendedAt } = logs[0] ?? files.sort((a, b) => b.size - a.size)[0];
  const lines: string[] = [];
  for (let n = 0, bytes = 0; bytes < 8 << 20; n++) {
    const line = `${1_800_000_000 + n} INFO [backup] appended after the first snapshot seq=${n} trace=${Math.floor(random() * 2 ** 32).toString(16)}\n`;
    lines.push(line);
    bytes += line.length;
  }
  appendFileSync(log, lines.join(''));
  const added = join(root, 'added-batch');
  mkdirSync(added);
  for (let n = 0; n < 100; n++) {
    const size = 512 + Math.floor(random() * 32_768);
    const bytes = Buffer.alloc(size);
    for (let k = 0; k < size; k += 32) createHash('sha256').update(`${seed}:new:${n}:${k}`).digest().copy(bytes, k);
    writeFileSync(join(added, `new_${String(n).padStart(3, '0')}.bin`), bytes);
  }
  return { edited: picks.size, appended: log, appendedAt, added: 100 };
}
