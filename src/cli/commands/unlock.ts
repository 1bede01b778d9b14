// lifeboat unlock: removes stale locks (a dead process on this host; not refreshed for 30 minutes
// on another) and damaged lock files, or every lock with --remove-all. Lists the locks with --list.
import { listRepositoryLocks, removeLock } from '../../repo/maintenance.ts';
import { flag, type Command } from '../command.ts';

export const unlock: Command = {
  name: 'unlock',
  summary: 'Remove stale locks (or all of them with --remove-all).',
  usage: 'lifeboat unlock [--remove-all] [--list]',
  examples: ['lifeboat unlock', 'lifeboat unlock --list'],
  options: {
    'remove-all': { type: 'boolean', description: 'remove every lock, also live ones (only when you are sure nothing runs)' },
    list: { type: 'boolean', description: 'only list the locks' },
  },
  async run(ctx, args) {
    const repo = await ctx.openRepository({ loadIndex: false });
    try {
      const locks = await listRepositoryLocks(repo);
      if (flag(args, 'list')) {
        if (ctx.json) ctx.emitJson(locks);
        for (const l of locks) ctx.out(`${l.name.slice(0, 12)}  ${l.exclusive ? 'exclusive' : 'shared   '}  ${l.purpose}  pid ${l.pid} on ${l.host} (${l.username}) since ${l.time}${l.stale ? '  STALE' : ''}${l.damaged ? `  DAMAGED: ${l.damaged}` : ''}`);
        return 0;
      }
      // A damaged lock file goes too: a live owner replaces its lock file every few minutes, and
      // the acquire message tells the user to wait that long before running unlock.
      const doomed = locks.filter((l) => l.stale || l.damaged || flag(args, 'remove-all'));
      for (const l of doomed) await removeLock(repo, l.name);
      ctx.info(`removed ${doomed.length} lock(s)${locks.length > doomed.length ? `; ${locks.length - doomed.length} live lock(s) left` : ''}`);
      if (ctx.json) ctx.emitJson({ removed: doomed.map((l) => l.name) });
      return 0;
    } finally {
      await repo.close();
    }
  },
};
