// Everything a command needs from its surroundings: where the repository is, its password, and
// where to write (stdout for results, stderr for messages and progress). The one place, with the
// renderers, that prints.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LifeboatError } from '../errors.ts';
import type { EntryProblem, EntryWarning, OperationEvents } from '../model/events.ts';
import { deriveAhead, type DerivedSlotKey } from '../repo/key-derivation.ts';
// Types only: the repository's modules load while the key is derived.
import type { LockRequest, Repository } from '../repo/repository.ts';
import { formatBytes } from '../lib/bytes.ts';
import { newTransferMeter, openBackend, parseOptions, positiveNumber, type Backend } from '../storage/open.ts';
import { flag, listOption, stringOption, GLOBAL_OPTIONS, type ParsedArgs } from './args.ts';
import { checkedDefaultPasswordFile, defaultPasswordFile, defaultRepository } from './defaults.ts';
import { passwordFromEnvironment, promptPassword, readPasswordFile } from './password.ts';

/** A repository key being derived while the command's modules load: for that location only. */
export interface KeyAhead {
  location: string;
  derived: Promise<DerivedSlotKey | undefined>;
}

/**
 * Starts deriving the repository's key (argon2id, 60 ms on other threads) before the command's
 * modules load (0.1-0.15 s on the main thread), when the repository is local and the password
 * needs no prompt; resolves once it has started (after reading the key file, a millisecond).
 * The arguments are read with the global options alone, so the guess may be wrong (an option of
 * the command taking "--repo" as its value); a key derived for another location or password is
 * then not used.
 */
export async function deriveKeyAhead(argv: readonly string[]): Promise<KeyAhead | undefined> {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, strict: false, allowPositionals: true });
    const args: ParsedArgs = { values, positionals, rest: [] };
    if (flag(args, 'help')) return undefined;
    const { location, isDefault } = repositoryLocation(args);
    // A remote one would connect here, with settings the command has not checked yet.
    if (/^[a-z0-9]+:/.test(location) && !location.startsWith('local:')) return undefined;
    const password = passwordWithoutPrompt(args, isDefault);
    if (password === undefined) return undefined;
    const { derived } = await deriveAhead(await openBackend(location), password);
    return { location, derived };
  } catch {
    return undefined; // the command reports it when it reads the same arguments
  }
}

function repositoryLocation(args: ParsedArgs): { location: string; isDefault: boolean } {
  const given = stringOption(args, 'repo') ?? process.env.LIFEBOAT_REPOSITORY;
  if (given) return { location: given, isDefault: false };
  return { location: defaultRepository(), isDefault: true };
}

function passwordWithoutPrompt(args: ParsedArgs, isDefault: boolean): string | undefined {
  const fromEnv = passwordFromEnvironment(stringOption(args, 'password-file'));
  if (fromEnv !== undefined) return fromEnv;
  if (isDefault && existsSync(defaultPasswordFile())) return readPasswordFile(checkedDefaultPasswordFile());
  return undefined;
}

export class Context {
  readonly args: ParsedArgs;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly showProgress: boolean;
  /** Traffic to and from remote storage in this run (zero for a local repository). */
  readonly transfer = newTransferMeter();

  readonly #keyAhead: KeyAhead | undefined;
  readonly #interrupt = new AbortController();
  #signalHandedOut = false;

  constructor(args: ParsedArgs, keyAhead?: KeyAhead) {
    this.args = args;
    this.#keyAhead = keyAhead;
    this.json = flag(args, 'json');
    this.quiet = flag(args, 'quiet');
    this.showProgress = !flag(args, 'no-progress') && !this.quiet && (flag(args, 'progress') || process.stderr.isTTY === true);
  }

  /** Ctrl-C, for an operation that stops cleanly when asked (it unwinds and releases its lock). */
  get signal(): AbortSignal {
    this.#signalHandedOut = true;
    return this.#interrupt.signal;
  }

  /** Asks the running operation to stop; false when it took no signal (or was asked already). */
  interrupt(): boolean {
    if (!this.#signalHandedOut || this.#interrupt.signal.aborted) return false;
    this.#interrupt.abort(new LifeboatError('INTERRUPTED', 'Interrupted; the repository is as a crash at this moment would leave it, which is safe'));
    return true;
  }

  /** The repository location, and whether it is the embedded default. */
  repositoryLocation(): { location: string; isDefault: boolean } {
    return repositoryLocation(this.args);
  }

  async password(options: { isDefault?: boolean; prompt?: string } = {}): Promise<string> {
    return passwordWithoutPrompt(this.args, options.isDefault === true) ?? (await promptPassword(options.prompt ?? 'Repository password: '));
  }

  /** The storage at `location` (default: the repository location), with --option and the limits. */
  async openBackend(location = this.repositoryLocation().location): Promise<Backend> {
    const up = stringOption(this.args, 'limit-upload');
    const down = stringOption(this.args, 'limit-download');
    return await openBackend(location, {
      options: parseOptions(listOption(this.args, 'option')),
      transfer: {
        ...(up ? { uploadKiBps: positiveNumber('--limit-upload', up) } : {}),
        ...(down ? { downloadKiBps: positiveNumber('--limit-download', down) } : {}),
        meter: this.transfer,
      },
      warn: (text) => this.warn(text),
    });
  }

  /** One line on what went over the wire, for remote repositories; undefined for a local one. */
  transferSummary(): string | undefined {
    const t = this.transfer;
    if (t.requests === 0) return undefined;
    const retries = t.retries ? ` (${t.retries} ${t.retries === 1 ? 'retry' : 'retries'})` : '';
    return `network: sent ${formatBytes(t.uploadedBytes)}, received ${formatBytes(t.downloadedBytes)} in ${t.requests} requests${retries}`;
  }

  /** The source repository of `copy`: --from-repo, its password from LIFEBOAT_FROM_PASSWORD, --from-password-file or a prompt. */
  async openSourceRepository(): Promise<Repository> {
    const location = stringOption(this.args, 'from-repo') ?? process.env.LIFEBOAT_FROM_REPOSITORY;
    if (!location) throw new LifeboatError('USAGE', 'copy needs --from-repo LOCATION (or LIFEBOAT_FROM_REPOSITORY)');
    const file = stringOption(this.args, 'from-password-file') ?? process.env.LIFEBOAT_FROM_PASSWORD_FILE;
    const password = process.env.LIFEBOAT_FROM_PASSWORD || (file ? readPasswordFile(file) : await promptPassword(`Password of ${location}: `));
    return await this.#open(location, password, false, { lock: { exclusive: false, purpose: 'copy (source)' } }, undefined);
  }

  async openRepository(options: { loadIndex?: boolean; lock?: LockRequest } = {}): Promise<Repository> {
    const { location, isDefault } = this.repositoryLocation();
    return await this.#open(location, undefined, isDefault, options, this.#keyAhead?.location === location ? this.#keyAhead.derived : undefined);
  }

  async #open(location: string, givenPassword: string | undefined, isDefault: boolean, options: { loadIndex?: boolean; lock?: LockRequest }, derivedAhead: KeyAhead['derived'] | undefined): Promise<Repository> {
    const { Repository } = await import('../repo/repository.ts');
    const backend = await this.openBackend(location);
    let repo: Repository;
    try {
      if (!(await backend.exists())) {
        throw new LifeboatError('REPO_NOT_FOUND', `Cannot open repository "${backend.location}": no config file found`, {
          hint: isDefault ? 'No repository is configured: give --repo or set LIFEBOAT_REPOSITORY, or run "lifeboat backup PATH" to create the default one.' : 'Check the location, or create a repository there with "lifeboat init".',
        });
      }
      const wait = stringOption(this.args, 'retry-lock');
      const lock = flag(this.args, 'no-lock') || !options.lock ? undefined : { ...options.lock, waitMs: wait ? positiveNumber('--retry-lock', wait) * 1000 : 0 };
      repo = await Repository.open(backend, givenPassword ?? (await this.password({ isDefault })), { ...options, lock, derivedAhead });
    } catch (err) {
      await backend.close(); // a connection (SSH, rclone) must not keep the process alive
      throw err;
    }
    const { damagedFiles, recoveredPacks } = repo.indexDamage;
    for (const d of damagedFiles) this.warn(`index file ${d.name.slice(0, 12)} is damaged (${d.problem}); using the headers of ${recoveredPacks} pack(s) instead`);
    return repo;
  }

  /** A result line for people (suppressed in --json mode). */
  out(text: string): void {
    if (!this.json) process.stdout.write(text + '\n');
  }

  /** Raw bytes to stdout (dump). */
  async raw(data: Uint8Array): Promise<void> {
    if (!process.stdout.write(data)) await new Promise((resolve) => process.stdout.once('drain', resolve));
  }

  emitJson(value: unknown): void {
    process.stdout.write(JSON.stringify(value) + '\n');
  }

  info(text: string): void {
    if (!this.quiet && !this.json) process.stderr.write(text + '\n');
  }

  warn(text: string): void {
    process.stderr.write(`warning: ${text}\n`);
  }

  error(text: string): void {
    process.stderr.write(`error: ${text}\n`);
  }

  /**
   * Events for an engine operation that print each entry problem as an error as it comes;
   * `problems` counts them, for the command's exit code (3 when there were any).
   */
  entryEvents(): OperationEvents & { problems: number } {
    const events = {
      problems: 0,
      problem: (p: EntryProblem): void => {
        events.problems++;
        this.#printProblem(p);
      },
      warning: (w: EntryWarning): void => this.#printWarning(w),
    };
    return events;
  }

  /** An operation's recorded warnings, then its problems, as lines on stderr. */
  printEntryEvents(events: { problems: EntryProblem[]; warnings: EntryWarning[] }): void {
    for (const w of events.warnings) this.#printWarning(w);
    for (const p of events.problems) this.#printProblem(p);
  }

  #printWarning(w: EntryWarning): void {
    this.warn(`${w.path}: ${w.message}`);
  }

  #printProblem(p: EntryProblem): void {
    this.error(`${p.path}: ${p.message}`);
  }

  stderr(text: string): void {
    process.stderr.write(text);
  }
}
