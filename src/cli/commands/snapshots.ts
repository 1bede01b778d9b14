// lifeboat snapshots: the list, filtered by host, tag and path.
import { formatBytes } from '../../lib/bytes.ts';
import type { Command } from '../command.ts';
import { FILTER_OPTIONS, filterOf, snapshotJson } from '../snapshot-ref.ts';

export const snapshots: Command = {
  name: 'snapshots',
  summary: 'List the snapshots in the repository, oldest first.',
  usage: 'lifeboat snapshots [--host HOST] [--tag TAG] [--path PATH] [--json]',
  examples: ['lifeboat snapshots', 'lifeboat snapshots --host fileserver --tag daily --json'],
  options: { ...FILTER_OPTIONS },
  async run(ctx, args) {
    const repo = await ctx.openRepository({ loadIndex: false });
    try {
      const { snapshots: list, damaged } = await repo.snapshots.list(filterOf(args));
      for (const d of damaged) ctx.warn(`snapshot file ${d.id.slice(0, 12)} is damaged: ${d.problem}`);
      if (ctx.json) {
        ctx.emitJson(list.map(snapshotJson));
        return 0;
      }
      ctx.out(`${'ID'.padEnd(8)}  ${'Time'.padEnd(19)}  ${'Host'.padEnd(12)}  ${'Tags'.padEnd(12)}  ${'Size'.padStart(9)}  Paths`);
      for (const s of list) {
        const time = s.time.replace('T', ' ').slice(0, 19);
        const size = s.summary ? formatBytes(s.summary.totalBytes) : '';
        ctx.out(`${s.id.slice(0, 8)}  ${time}  ${s.host.padEnd(12)}  ${s.tags.join(',').padEnd(12)}  ${size.padStart(9)}  ${s.paths.join(' ')}${s.incomplete ? '  (incomplete)' : ''}`);
      }
      ctx.out(`${list.length} snapshot${list.length === 1 ? '' : 's'}`);
      return 0;
    } finally {
      await repo.close();
    }
  },
};
