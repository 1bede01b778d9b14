// lifeboat find: which versions of a file the repository holds, and from when.
import { LifeboatError } from '../../errors.ts';
import { formatBytes } from '../../lib/bytes.ts';
import { findInSnapshots } from '../../engine/find.ts';
import type { Command } from '../command.ts';
import { mtimeIso, nodeJson } from '../node-format.ts';
import { FILTER_OPTIONS, filterOf } from '../snapshot-ref.ts';

export const find: Command = {
  name: 'find',
  summary: 'Find files and folders by name or path pattern across all snapshots.',
  usage: 'lifeboat find PATTERN... [--host HOST] [--tag TAG] [--json]',
  examples: ['lifeboat find report.docx', 'lifeboat find "*.xlsx" --host office-pc', 'lifeboat find "/srv/share/**/invoice-2026-*"'],
  options: { ...FILTER_OPTIONS },
  async run(ctx, args) {
    if (args.positionals.length === 0) throw new LifeboatError('USAGE', 'find needs a pattern', { hint: 'lifeboat find report.docx' });
    const repo = await ctx.openRepository();
    try {
      const { snapshots } = await repo.snapshots.list(filterOf(args));
      const events = ctx.entryEvents();
      const found = await findInSnapshots(repo, snapshots, args.positionals, { events });
      const code = events.problems ? 3 : 0;
      if (ctx.json) {
        for (const f of found) ctx.emitJson({ snapshot: f.snapshot.id, snapshotTime: f.snapshot.time, host: f.snapshot.host, ...nodeJson(f.node, f.path) });
        return code;
      }
      let last = '';
      for (const f of found) {
        if (f.snapshot.id !== last) {
          ctx.out(`snapshot ${f.snapshot.id.slice(0, 8)} of ${f.snapshot.time.replace('T', ' ').slice(0, 19)} (${f.snapshot.host}):`);
          last = f.snapshot.id;
        }
        ctx.out(`  ${f.path}  ${f.node.type === 'file' ? formatBytes(f.node.size) + ', ' : ''}modified ${mtimeIso(f.node).slice(0, 19).replace('T', ' ')}`);
      }
      ctx.out(`${found.length} match${found.length === 1 ? '' : 'es'} in ${new Set(found.map((f) => f.snapshot.id)).size} of ${snapshots.length} snapshots`);
      return code;
    } finally {
      await repo.close();
    }
  },
};
