// lifeboat diff: added, removed, modified and metadata-changed entries between two snapshots.
import { LifeboatError } from '../../errors.ts';
import { diffTrees } from '../../engine/diff.ts';
import type { Command } from '../command.ts';
import { resolveSnapshot } from '../snapshot-ref.ts';

const MARK = { added: '+', removed: '-', modified: 'M', metadata: 'U' } as const;

export const diff: Command = {
  name: 'diff',
  summary: 'Show what changed between two snapshots: + added, - removed, M modified content, U metadata only.',
  usage: 'lifeboat diff SNAPSHOT-A SNAPSHOT-B [--json]',
  examples: ['lifeboat diff 4f2a9c1e latest'],
  options: {},
  async run(ctx, args) {
    const [a, b] = args.positionals;
    if (!a || !b) throw new LifeboatError('USAGE', 'diff needs two snapshots', { hint: 'lifeboat diff 4f2a9c1e latest' });
    const repo = await ctx.openRepository();
    try {
      const left = (await resolveSnapshot(repo, a, args)).snapshot;
      const right = (await resolveSnapshot(repo, b, args)).snapshot;
      const events = ctx.entryEvents();
      const changes = await diffTrees(repo, left.tree, right.tree, { events });
      const code = events.problems ? 3 : 0;
      const counts = { added: 0, removed: 0, modified: 0, metadata: 0 };
      for (const c of changes) counts[c.kind]++;
      if (ctx.json) {
        ctx.emitJson({ from: left.id, to: right.id, changes, ...counts });
        return code;
      }
      for (const c of changes) ctx.out(`${MARK[c.kind]}  ${c.path}${c.type === 'dir' ? '/' : ''}`);
      ctx.out(`${counts.added} added, ${counts.removed} removed, ${counts.modified} modified, ${counts.metadata} with changed metadata`);
      return code;
    } finally {
      await repo.close();
    }
  },
};
