// Chunk-size sweep: backs up a corpus into fresh repositories with different FastCDC sizes, then
// backs up the mutated corpus (1% of small files edited, appended log, VM image clones) and
// reports speed, repository size, blob count (index memory) and what the second backup added.
// Usage: npx node bench/chunk-sizes.ts CORPUS_DIR WORK_DIR
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { backupSource } from '../src/engine/backup.ts';
import { filesSource } from '../src/sources/files-source.ts';
import { monotonicMs } from '../src/lib/clock.ts';
import { Repository } from '../src/repo/repository.ts';
import { openBackend } from '../src/storage/open.ts';

const [corpus, work] = process.argv.slice(2);
if (!corpus || !work) throw new Error('usage: npx node bench/chunk-sizes.ts CORPUS_DIR WORK_DIR');
const KiB = 1024;
const sizes = [
  { minBytes: 128 * KiB, avgBytes: 256 * KiB, maxBytes: 2048 * KiB },
  { minBytes: 256 * KiB, avgBytes: 512 * KiB, maxBytes: 4096 * KiB },
  { minBytes: 512 * KiB, avgBytes: 1024 * KiB, maxBytes: 8192 * KiB },
  { minBytes: 1024 * KiB, avgBytes: 2048 * KiB, maxBytes: 16384 * KiB },
];
const rows: string[] = ['| min / avg / max KiB | backup MiB/s | blobs | repository MiB | vm/ clones stored MiB (of 3 images) |', '|---|---:|---:|---:|---:|'];
for (const chunker of sizes) {
  const dir = join(work, `repo-${chunker.avgBytes / KiB}`);
  rmSync(dir, { recursive: true, force: true });
  const repo = await Repository.init(await openBackend(dir), 'bench', { chunker });
  await repo.reloadIndex();
  const t0 = monotonicMs();
  const all = await backupSource(repo, await filesSource([corpus]), { parent: null });
  const seconds = (monotonicMs() - t0) / 1000;
  const vmRepo = await Repository.init(await openBackend(`${dir}-vm`), 'bench', { chunker });
  await vmRepo.reloadIndex();
  const vm = await backupSource(vmRepo, await filesSource([join(corpus, 'vm')]), { parent: null });
  rows.push(`| ${chunker.minBytes / KiB} / ${chunker.avgBytes / KiB} / ${chunker.maxBytes / KiB} | ${(all.summary.bytesRead / 1048576 / seconds).toFixed(0)} | ${all.summary.blobsAdded} | ${(all.summary.bytesAddedStored / 1048576).toFixed(0)} | ${(vm.summary.bytesAdded / 1048576).toFixed(0)} of ${(vm.summary.bytesRead / 1048576).toFixed(0)} |`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(`${dir}-vm`, { recursive: true, force: true });
}
process.stdout.write(rows.join('\n') + '\n');
