// lifeboat backup: files and folders, a stream from stdin, or a program's output.
import { readFileSync } from 'node:fs';
import { LifeboatError } from '../../errors.ts';
import { formatBytes, parseSize } from '../../lib/bytes.ts';
import { parseLocalTime } from '../../lib/clock.ts';
import type { BackupResult } from '../../engine/backup.ts';
import { backupSource } from '../../engine/backup.ts';
import { scanTotals } from '../../engine/scan.ts';
import { recordingEvents, type RecordingEvents } from '../../model/events.ts';
import type { Repository } from '../../repo/repository.ts';
import { Repository as RepositoryClass } from '../../repo/repository.ts';
import { filesSource } from '../../sources/files-source.ts';
import { commandSource, stdinSource } from '../../sources/stream-source.ts';
import { flag, listOption, stringOption, type Command, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { defaultPasswordFile, ensureDefaultPasswordFile, folderCacheDir } from '../defaults.ts';
import { ProgressLine } from '../progress.ts';

export const backup: Command = {
  name: 'backup',
  summary: 'Back up files and folders (or a stream) into a new snapshot. Unchanged files are not read again.',
  usage: 'lifeboat backup [FLAGS] PATH...\n       lifeboat backup --stdin --stdin-filename NAME\n       lifeboat backup --stdin-from-command --stdin-filename NAME -- COMMAND [ARGS...]',
  examples: [
    'lifeboat backup ~/Documents',
    'lifeboat backup --repo /mnt/usb/lifeboat --exclude "*.tmp" --exclude-caches --tag daily /srv /etc',
    'pg_dump mydb | lifeboat backup --stdin --stdin-filename mydb.sql',
    'lifeboat backup --stdin-from-command --stdin-filename mydb.sql -- pg_dump mydb',
  ],
  options: {
    exclude: { type: 'string', multiple: true, short: 'e', arg: 'PATTERN', description: 'exclude paths matching a gitignore-like PATTERN' },
    'exclude-file': { type: 'string', multiple: true, arg: 'FILE', description: 'read exclude patterns from FILE, one per line' },
    'exclude-if-present': { type: 'string', multiple: true, arg: 'NAME', description: 'exclude a directory that contains a file called NAME' },
    'exclude-caches': { type: 'boolean', description: 'exclude directories marked with a valid CACHEDIR.TAG (the tag file itself is kept)' },
    'one-file-system': { type: 'boolean', short: 'x', description: 'do not cross filesystem boundaries' },
    'exclude-larger-than': { type: 'string', arg: 'SIZE', description: 'skip files larger than SIZE (e.g. 500M, 2G)' },
    compression: { type: 'string', arg: 'LEVEL', description: 'auto (default), off, max, or a zstd level 1-19: smaller repository against more CPU' },
    tag: { type: 'string', multiple: true, arg: 'TAG', description: 'add TAG to the snapshot' },
    host: { type: 'string', arg: 'NAME', description: 'record NAME as the host (default: this machine\'s name)' },
    time: { type: 'string', arg: 'TIME', description: 'record TIME as the snapshot\'s time instead of now: "2026-01-31 23:00[:00]" (local time) or RFC 3339' },
    parent: { type: 'string', arg: 'SNAPSHOT', description: 'compare with SNAPSHOT instead of the latest of the same host and paths' },
    force: { type: 'boolean', description: 'read every file, even those unchanged since the parent snapshot' },
    'no-cache': { type: 'boolean', description: "neither use nor update this machine's folder cache (then every folder's listing is compared with the parent snapshot's)" },
    'dry-run': { type: 'boolean', short: 'n', description: 'do everything but write to the repository' },
    stdin: { type: 'boolean', description: 'back up standard input as one file' },
    'stdin-filename': { type: 'string', arg: 'NAME', description: 'file name for --stdin and --stdin-from-command (default: stdin)' },
    'stdin-from-command': { type: 'boolean', description: 'back up the output of the command given after "--"; fail if it exits non-zero' },
  },
  async run(ctx, args) {
    const repo = await openOrCreate(ctx);
    try {
      const result = await runBackup(ctx, args, repo);
      report(ctx, result, flag(args, 'dry-run'));
      return result.snapshot.incomplete ? 3 : 0;
    } finally {
      await repo.close();
    }
  },
};

/** Opens the repository; with nothing configured, creates the default one on first use. */
async function openOrCreate(ctx: Context): Promise<Repository> {
  const { location, isDefault } = ctx.repositoryLocation();
  if (isDefault) {
    const backend = await ctx.openBackend(location);
    if (!(await backend.exists())) {
      const usesEnvPassword = Boolean(process.env.LIFEBOAT_PASSWORD || process.env.LIFEBOAT_PASSWORD_FILE || ctx.args.values['password-file']);
      if (!usesEnvPassword) ensureDefaultPasswordFile();
      const repo = await RepositoryClass.init(backend, await ctx.password({ isDefault: true }));
      ctx.info(`Created the default repository at ${location}` + (usesEnvPassword ? '.' : `,\nwith its password in ${defaultPasswordFile()} (mode 0600). Keep a copy of that file somewhere safe: without it these backups cannot be read.`));
      await repo.reloadIndex();
      return repo;
    }
  }
  return await ctx.openRepository({ lock: { exclusive: false, purpose: 'backup' } });
}

/** A backup's result, with the problems and warnings it reported. */
type BackupOutcome = BackupResult & { events: RecordingEvents };

async function runBackup(ctx: Context, args: ParsedArgs, repo: Repository): Promise<BackupOutcome> {
  const progress = new ProgressLine(ctx, 'backup');
  const common = {
    host: stringOption(args, 'host'), tags: listOption(args, 'tag'), time: snapshotTime(args), dryRun: flag(args, 'dry-run'),
    compressionLevel: compressionLevel(stringOption(args, 'compression')),
  };
  const events = recordingEvents({ progress: (p) => progress.update(p.files, p.bytes, p.current) });
  try {
    if (flag(args, 'stdin') || flag(args, 'stdin-from-command')) {
      const filename = stringOption(args, 'stdin-filename') ?? 'stdin';
      const [command, ...commandArgs] = args.rest;
      if (flag(args, 'stdin-from-command') && !command) {
        throw new LifeboatError('USAGE', '--stdin-from-command needs a command after "--"', { hint: 'lifeboat backup --stdin-from-command --stdin-filename db.sql -- pg_dump mydb' });
      }
      const source = flag(args, 'stdin-from-command') ? commandSource(filename, command, commandArgs) : stdinSource(filename);
      return { ...(await backupSource(repo, source, { ...common, signal: ctx.signal, events })), events };
    }
    const paths = args.positionals;
    if (paths.length === 0) throw new LifeboatError('USAGE', 'Nothing to back up: give one or more paths', { hint: 'lifeboat backup ~/Documents' });
    const excludes = [...listOption(args, 'exclude')];
    for (const file of listOption(args, 'exclude-file')) {
      try {
        excludes.push(...readFileSync(file, 'utf8').split('\n'));
      } catch (err) {
        throw new LifeboatError('USAGE', `Cannot read exclude file "${file}": ${(err as Error).message}`);
      }
    }
    const sizeText = stringOption(args, 'exclude-larger-than');
    const excludeLargerThanBytes = sizeText === undefined ? undefined : parseSize(sizeText);
    if (sizeText !== undefined && excludeLargerThanBytes === undefined) throw new LifeboatError('USAGE', `"${sizeText}" is not a size (examples: 500K, 20M, 2G)`);
    const parentRef = stringOption(args, 'parent');
    const parent = flag(args, 'force') ? null : parentRef ? await repo.snapshots.resolve(parentRef) : undefined;
    if (ctx.showProgress) void scanTotals(paths, excludes).then((t) => progress.setTotal(t.files, t.bytes)).catch(() => {});
    const cache = flag(args, 'no-cache') ? undefined : folderCacheDir();
    if (cache?.refused) ctx.warn(`no folder cache (every folder is compared with the last snapshot): ${cache.refused}`);
    const result = await backupSource(repo, await filesSource(paths), {
      ...common, parent, excludes, excludeLargerThanBytes, signal: ctx.signal,
      excludeIfPresent: listOption(args, 'exclude-if-present'),
      excludeCaches: flag(args, 'exclude-caches'),
      oneFileSystem: flag(args, 'one-file-system'),
      folderCacheDir: cache?.refused ? undefined : cache?.dir,
      events,
    });
    return { ...result, events };
  } finally {
    progress.done();
  }
}

function report(ctx: Context, r: BackupOutcome, dryRun: boolean): void {
  ctx.printEntryEvents(r.events);
  const s = r.summary;
  if (ctx.json) {
    ctx.emitJson({
      snapshotId: r.snapshotId ?? null, dryRun, incomplete: r.snapshot.incomplete === true,
      filesNew: s.filesNew, filesChanged: s.filesChanged, filesUnchanged: s.filesUnchanged,
      dirsNew: s.dirsNew, dirsChanged: s.dirsChanged, dirsUnchanged: s.dirsUnchanged,
      bytesRead: s.bytesRead, bytesAdded: s.bytesAdded, bytesAddedStored: s.bytesAddedStored,
      totalFiles: s.totalFiles, totalBytes: s.totalBytes, durationMs: s.durationMs, foldersFromCache: r.foldersFromCache ?? 0, errors: r.events.problems, warnings: r.events.warnings,
      transfer: ctx.transfer,
    });
    return;
  }
  if (ctx.quiet) return;
  ctx.out(`Files:   ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnchanged} unchanged`);
  ctx.out(`Dirs:    ${s.dirsNew} new, ${s.dirsChanged} changed, ${s.dirsUnchanged} unchanged`);
  ctx.out(`Read ${formatBytes(s.bytesRead)}; added ${formatBytes(s.bytesAdded)} to the repository (${formatBytes(s.bytesAddedStored)} stored)`);
  ctx.out(`Processed ${s.totalFiles} files, ${formatBytes(s.totalBytes)} in ${(s.durationMs / 1000).toFixed(1)} s`);
  const network = ctx.transferSummary();
  if (network) ctx.out(network.replace(/^network:/, 'Network:'));
  if (dryRun) ctx.out('Dry run: nothing was written.');
  else if (r.snapshot.incomplete) ctx.out(`Snapshot ${r.snapshotId!.slice(0, 8)} saved, but INCOMPLETE: ${s.errors} entries could not be read (listed above).`);
  else ctx.out(`Snapshot ${r.snapshotId!.slice(0, 8)} saved.`);
}

function snapshotTime(args: ParsedArgs): string | undefined {
  const given = stringOption(args, 'time');
  if (given === undefined) return undefined;
  const time = parseLocalTime(given);
  if (!time) throw new LifeboatError('USAGE', `--time "${given}" is not a time`, { hint: 'Give "YYYY-MM-DD HH:MM:SS" (this machine\'s time zone) or RFC 3339 like 2026-01-31T23:00:00+01:00.' });
  return time;
}

/** --compression: auto is undefined (the engine's choice), off is 0, max is zstd's level 19. */
function compressionLevel(text: string | undefined): number | undefined {
  if (text === undefined || text === 'auto') return undefined;
  if (text === 'off') return 0;
  if (text === 'max') return 19;
  const level = Number(text);
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new LifeboatError('USAGE', `--compression takes auto, off, max or a level from 1 to 19, not "${text}"`);
  }
  return level;
}
