// Parsed command-line arguments, the small accessors commands read them with, and the options
// every command accepts.
import type { ParseArgsOptionDescriptor } from 'node:util';

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Arguments after a bare "--". */
  rest: string[];
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export interface OptionSpec extends ParseArgsOptionDescriptor {
  description: string;
  /** Placeholder shown in help, e.g. "DIR". */
  arg?: string;
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
