// Help texts, built from the command definitions and the error table, so they cannot drift.
import { EXIT_CODES } from '../errors.ts';
import { GLOBAL_OPTIONS, type Command, type OptionSpec } from './command.ts';

const SUMMARIES: Array<[string, string]> = [
  ['init', 'create a repository'],
  ['backup', 'back up files and folders, a stream, or a program\'s output'],
  ['restore', 'restore a snapshot, a folder or a file'],
  ['snapshots', 'list snapshots'],
  ['ls', 'list the files in a snapshot'],
  ['find', 'find files by name across all snapshots'],
  ['diff', 'show what changed between two snapshots'],
  ['dump', 'write a file (or a folder as tar) from a snapshot to stdout'],
  ['cat', 'print a repository object (config, key, snapshot, index, tree, blob, pack header)'],
  ['check', 'verify the repository\'s structure, and optionally its data'],
  ['key', 'list, add, remove or change password slots'],
];

export function mainHelp(topic?: string): string {
  const codes = EXIT_CODES.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`).join('\n');
  if (topic === 'exit-codes') return `Exit codes:\n${codes}\n`;
  return `Lifeboat: encrypted, deduplicated backups, and restores you can trust.

Usage: lifeboat COMMAND [FLAGS] [ARGS]

Commands:
${SUMMARIES.map(([n, s]) => `  ${n.padEnd(10)} ${s}`).join('\n')}

Run "lifeboat help COMMAND" for a command's flags and examples, "lifeboat --version" for the version.

Flags for every command:
${formatOptions(GLOBAL_OPTIONS)}

Environment:
  LIFEBOAT_REPOSITORY      repository location (instead of --repo)
  LIFEBOAT_PASSWORD        repository password
  LIFEBOAT_PASSWORD_FILE   file holding the repository password (instead of --password-file)
  XDG_DATA_HOME, XDG_CONFIG_HOME  where the default repository and its password file live

Exit codes:
${codes}
`;
}

export function commandHelp(command: Command): string {
  return `${command.summary}

Usage: ${command.usage}

Flags:
${formatOptions(command.options)}

Examples:
${command.examples.map((e) => `  ${e}`).join('\n')}

Run "lifeboat help" for the flags every command takes.
`;
}

function formatOptions(options: Record<string, OptionSpec>): string {
  return Object.entries(options)
    .map(([name, o]) => {
      const left = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
      return `  ${left.padEnd(34)} ${o.description}${o.multiple ? ' (repeatable)' : ''}`;
    })
    .join('\n');
}
