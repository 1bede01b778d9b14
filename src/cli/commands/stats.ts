// lifeboat stats: storage used, restore sizes, deduplication and compression.
import { formatBytes } from '../../lib/bytes.ts';
import { repositoryStats } from '../../repo/maintenance.ts';
import type { Command } from '../command.ts';

export const stats: Command = {
  name: 'stats',
  summary: 'Show storage used, what the snapshots would restore, and the deduplication and compression ratios.',
  usage: 'lifeboat stats [SNAPSHOT...] [--json]',
  examples: ['lifeboat stats', 'lifeboat stats latest --json'],
  options: {},
  async run(ctx, args) {
    const repo = await ctx.openRepository();
    try {
      const s = await repositoryStats(repo, args.positionals);
      if (ctx.json) {
        ctx.emitJson(s);
        return 0;
      }
      for (const snap of s.snapshots) ctx.out(`${snap.id.slice(0, 8)}  ${snap.time.replace('T', ' ').slice(0, 19)}  ${snap.host.padEnd(12)}  ${String(snap.files).padStart(8)} files  ${formatBytes(snap.restoreBytes).padStart(10)}`);
      ctx.out(`restore size:        ${formatBytes(s.restoreBytes)} in ${s.snapshots.length} snapshot(s)`);
      ctx.out(`unique content:      ${formatBytes(s.uniqueRawBytes)} (${formatBytes(s.uniqueStoredBytes)} compressed and encrypted)`);
      ctx.out(`on storage:          ${formatBytes(s.storageBytes)} in ${s.packs} packs, ${s.storageFiles.index} index, ${s.storageFiles.snapshots} snapshot files`);
      ctx.out(`blobs:               ${s.blobs.data} data, ${s.blobs.tree} tree`);
      ctx.out(`deduplication ratio: ${s.deduplicationRatio.toFixed(2)}x; compression ratio: ${s.compressionRatio.toFixed(2)}x`);
      return 0;
    } finally {
      await repo.close();
    }
  },
};
