// lifeboat cat: print one repository object, decrypted and decoded, as JSON (for debugging).
import { LifeboatError } from '../../errors.ts';
import { describeObject } from '../../repo/maintenance.ts';
import type { Command } from '../command.ts';

export const cat: Command = {
  name: 'cat',
  summary: 'Print a repository object as JSON: config, key ID, snapshot ID, index ID, pack ID (its header), tree ID, blob ID (base64).',
  usage: 'lifeboat cat config | key ID | snapshot ID | index ID | pack ID | tree ID | blob ID',
  examples: ['lifeboat cat config', 'lifeboat cat snapshot 4f2a9c1e', 'lifeboat cat tree $(lifeboat cat snapshot 4f2a9c1e | jq -r .tree)'],
  options: {},
  async run(ctx, args) {
    const [kind, id] = args.positionals;
    if (!kind || (kind !== 'config' && !id)) throw new LifeboatError('USAGE', 'cat needs an object kind and, except for config, an id', { hint: 'lifeboat cat snapshot 4f2a9c1e' });
    const repo = await ctx.openRepository({ loadIndex: kind === 'blob' || kind === 'tree' });
    try {
      const value = await describeObject(repo, kind, id ?? '');
      ctx.emitJson(value);
      return 0;
    } finally {
      await repo.close();
    }
  },
};
