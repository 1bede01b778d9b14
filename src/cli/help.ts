// Help texts, built from the command definitions and the error table, so they cannot drift.
import { EXIT_CODES } from '../errors.ts';
import { GLOBAL_OPTIONS, type Command, type OptionSpec } from './command.ts';

/** The main help: every command of `commands` (the command table's, in its order) with its summary. */
export function mainHelp(topic: string | undefined, commands: readonly Command[]): string {
  const codes = EXIT_CODES.map(([code, text]) => `  ${String(code).padStart(3)}  ${text}`).join('\n');
  if (topic === 'exit-codes') return `Exit codes:\n${codes}\n`;
  return `Lifeboat: encrypted, deduplicated backups, and restores you can trust.

Usage: lifeboat COMMAND [FLAGS] [ARGS]

Commands:
${commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`).join('\n')}

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
