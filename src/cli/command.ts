// What every command file exports, and the options every command accepts.
import type { ParseArgsOptionDescriptor } from 'node:util';
import type { Context } from './context.ts';
import type { ParsedArgs } from './args.ts';

export { flag, listOption, stringOption, type ParsedArgs } from './args.ts';

export interface OptionSpec extends ParseArgsOptionDescriptor {
  description: string;
  /** Placeholder shown in help, e.g. "DIR". */
  arg?: string;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Examples shown by `lifeboat help COMMAND`. */
  examples: string[];
  options: Record<string, OptionSpec>;
  run(ctx: Context, args: ParsedArgs): Promise<number>;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  repo: { type: 'string', short: 'r', arg: 'LOCATION', description: 'repository location (default: $LIFEBOAT_REPOSITORY, else the default local repository)' },
  'password-file': { type: 'string', arg: 'FILE', description: 'read the repository password from FILE (default: $LIFEBOAT_PASSWORD_FILE)' },
  option: { type: 'string', short: 'o', multiple: true, arg: 'KEY=VALUE', description: 'a storage setting, e.g. s3.region=eu-west-1, sftp.key=~/.ssh/id_ed25519, connections=4 (see README)' },
  'limit-upload': { type: 'string', arg: 'KiB/s', description: 'limit uploads to the repository to this many KiB per second' },
  'limit-download': { type: 'string', arg: 'KiB/s', description: 'limit downloads from the repository to this many KiB per second' },
  'retry-lock': { type: 'string', arg: 'SECONDS', description: 'while another process holds a conflicting lock, keep trying this long (default: fail at once, exit 11)' },
  'no-lock': { type: 'boolean', description: 'take no lock (a read-only repository; only when nothing prunes at the same time)' },
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout' },
  progress: { type: 'boolean', description: 'show progress on stderr even when it is not a terminal' },
  'no-progress': { type: 'boolean', description: 'never show progress' },
  quiet: { type: 'boolean', short: 'q', description: 'print only errors' },
  debug: { type: 'boolean', description: 'print stack traces of errors' },
  help: { type: 'boolean', short: 'h', description: 'show help for the command' },
};
