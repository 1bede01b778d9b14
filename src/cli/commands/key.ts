// lifeboat key: password slots. Every slot opens the same master key; removing the slot you
// logged in with, or the last one, is refused.
import { LifeboatError } from '../../errors.ts';
import { addKeySlot, listKeySlots, removeKeySlot } from '../../repo/maintenance.ts';
import { stringOption, type Command } from '../command.ts';
import type { Context } from '../context.ts';
import { promptPassword, readPasswordFile } from '../password.ts';

export const key: Command = {
  name: 'key',
  summary: 'Manage password slots: list, add, remove ID, passwd (change the password you use).',
  usage: 'lifeboat key list | add | remove ID | passwd  [--new-password-file FILE]',
  examples: ['lifeboat key list', 'lifeboat key add --new-password-file /root/second-admin.pw', 'lifeboat key remove 3f9a2b', 'lifeboat key passwd'],
  options: {
    'new-password-file': { type: 'string', arg: 'FILE', description: 'read the new password from FILE (add, passwd); or set LIFEBOAT_NEW_PASSWORD' },
  },
  async run(ctx, args) {
    const [action, id] = args.positionals;
    const repo = await ctx.openRepository({ loadIndex: false });
    try {
      if (action === 'list' || action === undefined) {
        const slots = await listKeySlots(repo);
        if (ctx.json) {
          ctx.emitJson(slots.map((s) => ({ id: s.id, current: s.id === repo.keyId, created: s.file?.created, host: s.file?.host, user: s.file?.user, kdf: s.file?.kdf && { ...s.file.kdf, salt: undefined }, problem: s.problem })));
          return 0;
        }
        ctx.out(` ${'ID'.padEnd(12)}  ${'Created'.padEnd(19)}  ${'User'.padEnd(10)}  Host`);
        for (const s of slots) {
          if (s.problem) ctx.out(` ${s.id.slice(0, 12)}  DAMAGED: ${s.problem}`);
          else ctx.out(`${s.id === repo.keyId ? '*' : ' '}${s.id.slice(0, 12)}  ${s.file!.created.replace('T', ' ').slice(0, 19)}  ${s.file!.user.padEnd(10)}  ${s.file!.host}`);
        }
        return 0;
      }
      if (action === 'add') {
        const newId = await addKeySlot(repo, await newPassword(ctx));
        if (ctx.json) ctx.emitJson({ id: newId });
        ctx.out(`Added key ${newId.slice(0, 12)}.`);
        return 0;
      }
      if (action === 'passwd') {
        const newId = await addKeySlot(repo, await newPassword(ctx));
        await removeKeySlot(repo, repo.keyId);
        ctx.out(`Password changed: key ${repo.keyId.slice(0, 12)} was replaced by ${newId.slice(0, 12)}.`);
        return 0;
      }
      if (action === 'remove') {
        if (!id) throw new LifeboatError('USAGE', 'key remove needs a key id', { hint: 'Run "lifeboat key list" to see the ids.' });
        const slots = (await listKeySlots(repo)).filter((s) => s.id.startsWith(id));
        if (slots.length !== 1) throw new LifeboatError('USAGE', slots.length ? `"${id}" matches ${slots.length} keys; give more characters` : `No key has an id starting with "${id}"`);
        if (slots[0].id === repo.keyId) throw new LifeboatError('USAGE', 'Refusing to remove the key you opened the repository with', { hint: 'Open the repository with another password, or use "lifeboat key passwd".' });
        await removeKeySlot(repo, slots[0].id);
        ctx.out(`Removed key ${slots[0].id.slice(0, 12)}.`);
        return 0;
      }
      throw new LifeboatError('USAGE', `Unknown key action "${action}"`, { hint: 'Use list, add, remove ID or passwd.' });
    } finally {
      await repo.close();
    }
  },
};

async function newPassword(ctx: Context): Promise<string> {
  if (process.env.LIFEBOAT_NEW_PASSWORD) return process.env.LIFEBOAT_NEW_PASSWORD;
  const file = stringOption(ctx.args, 'new-password-file');
  if (file) return readPasswordFile(file);
  const first = await promptPassword('New password: ');
  if ((await promptPassword('Type it again: ')) !== first) throw new LifeboatError('USAGE', 'The passwords differ; nothing was changed');
  if (first === '') throw new LifeboatError('USAGE', 'The new password is empty');
  return first;
}
