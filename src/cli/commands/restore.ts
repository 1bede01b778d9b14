// lifeboat restore: a whole snapshot, one folder or one file, into a target directory.
import { LifeboatError } from '../../errors.ts';
import { formatBytes } from '../../lib/bytes.ts';
import { monotonicMs } from '../../lib/clock.ts';
import { restoreSnapshot } from '../../engine/restore.ts';
import { recordingEvents } from '../../model/events.ts';
import { EXISTING_POLICIES, FilesTarget, type ExistingPolicy } from '../../sources/files-target.ts';
import { flag, listOption, stringOption, type Command } from '../command.ts';
import { ProgressLine } from '../progress.ts';
import { FILTER_OPTIONS, resolveSnapshot } from '../snapshot-ref.ts';

export const restore: Command = {
  name: 'restore',
  summary: 'Restore a snapshot, or one folder or file of it, into a target directory.',
  usage: 'lifeboat restore SNAPSHOT[:PATH] --target DIR [FLAGS]',
  examples: [
    'lifeboat restore latest --target /tmp/restore',
    'lifeboat restore 4f2a9c1e:/home/ann/Documents --target /home/ann/Documents-restored',
    'lifeboat restore latest:/srv/share/report.docx --target /tmp',
    'lifeboat restore latest --target / --existing overwrite     # put everything back where it was',
  ],
  options: {
    target: { type: 'string', short: 't', arg: 'DIR', description: 'directory to restore into (created if missing)' },
    include: { type: 'string', multiple: true, short: 'i', arg: 'PATTERN', description: 'restore only paths matching PATTERN' },
    exclude: { type: 'string', multiple: true, short: 'e', arg: 'PATTERN', description: 'do not restore paths matching PATTERN' },
    existing: { type: 'string', arg: 'POLICY', description: 'when a file exists: skip-identical (default; differing files are replaced), overwrite, or fail' },
    verify: { type: 'boolean', description: 'read the restored files back and compare them with the repository' },
    'restore-privileged': { type: 'boolean', description: 'also restore setuid/setgid bits, security.* and trusted.* attributes (file capabilities, SELinux labels) and device nodes' },
    ...FILTER_OPTIONS,
  },
  async run(ctx, args) {
    const ref = args.positionals[0];
    const target = stringOption(args, 'target');
    if (!ref || !target) throw new LifeboatError('USAGE', 'restore needs a snapshot and --target DIR', { hint: 'lifeboat restore latest --target /tmp/restore' });
    const existing = (stringOption(args, 'existing') ?? 'skip-identical') as ExistingPolicy;
    if (!EXISTING_POLICIES.includes(existing)) throw new LifeboatError('USAGE', `--existing must be one of ${EXISTING_POLICIES.join(', ')}`);
    const repo = await ctx.openRepository({ lock: { exclusive: false, purpose: 'restore' } });
    const started = monotonicMs();
    const progress = new ProgressLine(ctx, 'restore');
    try {
      const { snapshot, subpath } = await resolveSnapshot(repo, ref, args);
      if (snapshot.summary) progress.setTotal(snapshot.summary.totalFiles, snapshot.summary.totalBytes);
      const files = new FilesTarget({ folder: target, existing, verify: flag(args, 'verify'), restorePrivileged: flag(args, 'restore-privileged') });
      const events = recordingEvents({ progress: (p) => progress.update(p.files, p.bytes) });
      const result = await restoreSnapshot(repo, snapshot, files, {
        subfolder: subpath, include: listOption(args, 'include'), exclude: listOption(args, 'exclude'), signal: ctx.signal, events,
      });
      progress.done();
      const seconds = (monotonicMs() - started) / 1000;
      ctx.printEntryEvents(events);
      const partial = result.problems > 0;
      if (ctx.json) {
        const { problems: errors, warnings } = events;
        ctx.emitJson({ snapshotId: snapshot.id, target, ...result, verified: files.verified, errors, warnings, partial, durationMs: Math.round(seconds * 1000), transfer: ctx.transfer });
      } else if (!ctx.quiet) {
        ctx.out(`Restored ${result.files} files, ${result.dirs} directories, ${result.other} other entries, ${formatBytes(result.bytes)} from ${snapshot.id.slice(0, 8)} in ${seconds.toFixed(1)} s`);
        if (result.skippedIdentical) ctx.out(`${result.skippedIdentical} identical files were already there and were left alone.`);
        if (flag(args, 'verify')) ctx.out(`Verified ${files.verified} files against the repository.`);
        const network = ctx.transferSummary();
        if (network) ctx.info(network);
        if (partial) ctx.out(`PARTIAL restore: ${result.problems} entries failed (listed above).`);
      }
      return partial ? 3 : 0;
    } finally {
      progress.done();
      await repo.close();
    }
  },
};
