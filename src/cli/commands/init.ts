// lifeboat init: create a repository at --repo / LIFEBOAT_REPOSITORY.
import { Repository } from '../../repo/repository.ts';
import { openBackend } from '../../storage/open.ts';
import type { Command } from '../command.ts';

export const init: Command = {
  name: 'init',
  summary: 'Create a new, empty repository.',
  usage: 'lifeboat init [--repo LOCATION]',
  examples: ['LIFEBOAT_PASSWORD_FILE=~/.lifeboat-pw lifeboat init --repo /mnt/backup/lifeboat'],
  options: {},
  async run(ctx) {
    const { location, isDefault } = ctx.repositoryLocation();
    const backend = await openBackend(location);
    let password = await ctx.password({ isDefault, prompt: 'Password for the new repository: ' });
    if (process.stdin.isTTY && process.env.LIFEBOAT_PASSWORD === undefined && !ctx.args.values['password-file']) {
      const again = await ctx.password({ prompt: 'Type it again: ' });
      if (again !== password) {
        ctx.error('the passwords differ; nothing was created');
        return 2;
      }
    }
    const repo = await Repository.init(backend, password);
    password = '';
    if (ctx.json) ctx.emitJson({ id: repo.config.id, location: backend.location, version: repo.config.version });
    else ctx.out(`Created repository ${repo.config.id.slice(0, 8)} at ${backend.location}.\nKeep the password safe: without it the backups cannot be read.`);
    return 0;
  },
};
