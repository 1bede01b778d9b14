// Entry point: finds the command, parses its flags, runs it, and turns errors into a message on
// stderr and the exit code from the error table. Command modules load only when used.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LifeboatError, asLifeboatError } from '../errors.ts';
import { processBudget } from '../lib/budget.ts';
import { maskUrlPassword } from '../lib/redact.ts';
import { capYoungGeneration } from '../lib/young-generation.ts';
import { GLOBAL_OPTIONS, type Command, type ParsedArgs } from './command.ts';
import { Context, deriveKeyAhead } from './context.ts';
import { commandHelp, mainHelp } from './help.ts';

/**
 * The main thread's young generation, at most (V8 would go to 64 MiB). Bench corpus, interleaved
 * pairs: restore 276-279 -> 227-234 MiB peak RSS (ten pairs, time ratio median 1.01), full backup
 * 254 -> 217 MiB (four, 1.00), check 192 -> 187 (four, 1.01); small change unchanged (four, 0.98).
 */
capYoungGeneration(16 * 1024 * 1024);

export const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./commands/init.ts')).init,
  backup: async () => (await import('./commands/backup.ts')).backup,
  restore: async () => (await import('./commands/restore.ts')).restore,
  snapshots: async () => (await import('./commands/snapshots.ts')).snapshots,
  ls: async () => (await import('./commands/ls.ts')).ls,
  find: async () => (await import('./commands/find.ts')).find,
  diff: async () => (await import('./commands/diff.ts')).diff,
  dump: async () => (await import('./commands/dump.ts')).dump,
  cat: async () => (await import('./commands/cat.ts')).cat,
  check: async () => (await import('./commands/check.ts')).check,
  key: async () => (await import('./commands/key.ts')).key,
  serve: async () => (await import('./commands/serve.ts')).serve,
  copy: async () => (await import('./commands/copy.ts')).copy,
  forget: async () => (await import('./commands/forget.ts')).forget,
  prune: async () => (await import('./commands/prune.ts')).prune,
  unlock: async () => (await import('./commands/unlock.ts')).unlock,
  repair: async () => (await import('./commands/repair.ts')).repair,
  stats: async () => (await import('./commands/stats.ts')).stats,
};

/** Commands that open the repository with its password: their key is derived while they load. */
const OPENS_REPOSITORY = new Set(['backup', 'restore', 'snapshots', 'ls', 'find', 'diff', 'dump', 'cat', 'check', 'key', 'copy', 'forget', 'prune', 'unlock', 'repair', 'stats']);

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function parse(command: Command, argv: string[]): ParsedArgs {
  const dashdash = argv.indexOf('--');
  const own = dashdash >= 0 ? argv.slice(0, dashdash) : argv;
  const rest = dashdash >= 0 ? argv.slice(dashdash + 1) : [];
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  try {
    const { values, positionals } = parseArgs({ args: own, options, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals, rest };
  } catch (err) {
    throw new LifeboatError('USAGE', `${(err as Error).message.replace(/\. To specify a positional.*$/s, '')}`, {
      hint: `Run "lifeboat help ${command.name}" for its flags.`,
    });
  }
}

async function run(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = args[0];
    if (topic && COMMANDS[topic]) process.stdout.write(commandHelp(await COMMANDS[topic]()));
    else if (topic === 'exit-codes' || topic === undefined) process.stdout.write(mainHelp(topic, await Promise.all(Object.values(COMMANDS).map((load) => load()))));
    else throw new LifeboatError('USAGE', `No help for "${topic}": there is no such command`, { hint: 'Run "lifeboat help" for the list.' });
    return 0;
  }
  if (name === '--version' || name === 'version' || name === '-V') {
    process.stdout.write(`lifeboat ${version()} (Node.js ${process.versions.node})\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) throw new LifeboatError('USAGE', `Unknown command "${name}"`, { hint: 'Run "lifeboat help" for the list of commands.' });
  // Started before the command's modules load, so that the two overlap.
  const keyAhead = OPENS_REPOSITORY.has(name) ? await deriveKeyAhead(args) : undefined;
  const command = await load();
  const parsed = parse(command, args);
  if (parsed.values.help) {
    process.stdout.write(commandHelp(command));
    return 0;
  }
  processBudget(); // a bad LIFEBOAT_THREADS is a usage error before any work, not in the middle of it
  current = new Context(parsed, keyAhead);
  return await command.run(current, parsed);
}

/** The running command's context: Ctrl-C asks its operation to stop. */
let current: Context | undefined;

function report(err: LifeboatError, debug: boolean, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, hint: err.hint, exitCode: err.exitCode } }) + '\n');
  } else {
    process.stderr.write(`lifeboat: ${err.message}\n`);
    if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  }
  if (debug) process.stderr.write(`${(err.cause as Error | undefined)?.stack ?? err.stack}\n`);
}

// `lifeboat ls | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.on('SIGINT', () => {
  // An operation that took the signal stops cleanly (its lock released); a second Ctrl-C, or a
  // command that took none, stops at once: the repository is crash-safe by write ordering.
  if (current?.interrupt()) return void process.stderr.write('\nlifeboat: stopping (Ctrl-C again to quit at once)\n');
  process.stderr.write('\nlifeboat: interrupted\n');
  process.exit(130);
});

const argv = process.argv.slice(2);
// A password in a location (rest:https://user:secret@host/) would show in ps to every local user:
// the process title (what /proc/PID/cmdline shows) is rewritten without it.
const masked = argv.map(maskUrlPassword);
if (masked.some((a, i) => a !== argv[i])) process.title = ['lifeboat', ...masked].join(' ');
try {
  process.exitCode = await run(argv);
} catch (err) {
  const e = asLifeboatError(err);
  report(e, argv.includes('--debug'), argv.includes('--json'));
  process.exitCode = e.exitCode;
}
