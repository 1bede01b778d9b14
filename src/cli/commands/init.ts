// lifeboat init: create a repository at --repo / LIFEBOAT_REPOSITORY.
import { Repository } from '../../repo/repository.ts';
import { LifeboatError } from '../../errors.ts';
import type { RetentionPolicy } from '../../storage/open.ts';
import { stringOption, type Command } from '../command.ts';
import type { Context } from '../context.ts';

export const init: Command = {
  name: 'init',
  summary: 'Create a new, empty repository.',
  usage: 'lifeboat init [--repo LOCATION]',
  examples: ['LIFEBOAT_PASSWORD_FILE=~/.lifeboat-pw lifeboat init --repo /mnt/backup/lifeboat', 'lifeboat init --repo s3:https://s3.eu-central-1.amazonaws.com/acme-backups/server1 --object-lock 30'],
  options: {
    'object-lock': { type: 'string', arg: 'DAYS', description: 'S3 only: write every file with an Object Lock retention of DAYS days (the bucket must have Object Lock enabled, or not exist yet)' },
    'object-lock-mode': { type: 'string', arg: 'MODE', description: 'compliance (default: nobody can shorten the retention) or governance' },
  },
  async run(ctx) {
    const { location, isDefault } = ctx.repositoryLocation();
    const backend = await ctx.openBackend(location);
    let password = await ctx.password({ isDefault, prompt: 'Password for the new repository: ' });
    if (process.stdin.isTTY && process.env.LIFEBOAT_PASSWORD === undefined && !ctx.args.values['password-file']) {
      const again = await ctx.password({ prompt: 'Type it again: ' });
      if (again !== password) {
        ctx.error('the passwords differ; nothing was created');
        return 2;
      }
    }
    const repo = await Repository.init(backend, password, { objectLock: objectLockPolicy(ctx) }).finally(() => backend.close());
    password = '';
    if (ctx.json) ctx.emitJson({ id: repo.config.id, location: backend.location, version: repo.config.version });
    else ctx.out(`Created repository ${repo.config.id.slice(0, 8)} at ${backend.location}.\nKeep the password safe: without it the backups cannot be read.`);
    return 0;
  },
};

function objectLockPolicy(ctx: Context): RetentionPolicy | undefined {
  const days = stringOption(ctx.args, 'object-lock');
  const mode = stringOption(ctx.args, 'object-lock-mode') ?? 'compliance';
  if (days === undefined) {
    if (stringOption(ctx.args, 'object-lock-mode')) throw new LifeboatError('USAGE', '--object-lock-mode needs --object-lock DAYS');
    return undefined;
  }
  if (!/^[1-9]\d*$/.test(days)) throw new LifeboatError('USAGE', `--object-lock needs a whole number of days, not "${days}"`);
  if (mode !== 'compliance' && mode !== 'governance') throw new LifeboatError('USAGE', `--object-lock-mode is compliance or governance, not "${mode}"`);
  return { days: Number(days), mode };
}
