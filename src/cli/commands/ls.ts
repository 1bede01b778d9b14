// lifeboat ls: the entries of a snapshot, or of one folder in it.
import { LifeboatError } from '../../errors.ts';
import { findNode, walkTree } from '../../engine/tree-path.ts';
import { flag, type Command } from '../command.ts';
import { longLine, nodeJson } from '../node-format.ts';
import { FILTER_OPTIONS, resolveSnapshot } from '../snapshot-ref.ts';

export const ls: Command = {
  name: 'ls',
  summary: 'List the files and folders in a snapshot (recursively), or below PATH in it.',
  usage: 'lifeboat ls SNAPSHOT [PATH] [--long] [--json]',
  examples: ['lifeboat ls latest', 'lifeboat ls 4f2a9c1e /home/ann/Documents --long', 'lifeboat ls latest --json | jq .path'],
  options: { long: { type: 'boolean', short: 'l', description: 'show mode, owner, size and time' }, ...FILTER_OPTIONS },
  async run(ctx, args) {
    const [ref, path] = args.positionals;
    if (!ref) throw new LifeboatError('USAGE', 'ls needs a snapshot', { hint: 'lifeboat ls latest' });
    const repo = await ctx.openRepository();
    try {
      const { snapshot, subpath } = await resolveSnapshot(repo, ref, args);
      const base = (path ?? subpath ?? '/').replace(/\/+$/, '');
      const start = await findNode(repo, snapshot.tree, base || '/');
      if (!start) throw new LifeboatError('SNAPSHOT_NOT_FOUND', `The snapshot ${snapshot.id.slice(0, 8)} has no "${base}"`);
      const show = (p: string, n: Parameters<typeof longLine>[0]): void => {
        if (ctx.json) ctx.emitJson(nodeJson(n, p));
        else ctx.out(flag(args, 'long') ? longLine(n, p) : p);
      };
      const events = ctx.entryEvents();
      if (start.type !== 'dir') show(base, start);
      else for await (const { path: p, node } of walkTree(repo, start.subtree!, base, { events })) show(p, node);
      return events.problems ? 3 : 0;
    } finally {
      await repo.close();
    }
  },
};
