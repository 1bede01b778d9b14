// lifeboat repair index | snapshots: after check found damage, make everything still readable
// usable again (see repo/repair-index.ts and repo/repair-snapshots.ts). Exclusive lock.
import { LifeboatError } from '../../errors.ts';
import { repairIndex, repairSnapshots } from '../../repo/maintenance.ts';
import { flag, type Command, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { ProgressLine } from '../progress.ts';

export const repair: Command = {
  name: 'repair',
  summary: 'Rebuild the index from the packs, or rewrite damaged snapshots without what is unreadable.',
  usage: 'lifeboat repair index [--read-all-packs] | repair snapshots [ID...] [--dry-run] [--forget]',
  examples: [
    'lifeboat repair index                    # index files damaged or lost',
    'lifeboat repair index --read-all-packs   # also leave out blobs damaged inside packs',
    'lifeboat repair snapshots --dry-run      # what would be dropped',
    'lifeboat repair snapshots --forget       # replace each damaged snapshot by its repaired copy',
  ],
  options: {
    'read-all-packs': { type: 'boolean', description: 'index: read every pack whole and list only intact blobs' },
    'dry-run': { type: 'boolean', short: 'n', description: 'snapshots: only report what would be dropped' },
    forget: { type: 'boolean', description: 'snapshots: remove each damaged original once its repaired copy is saved' },
  },
  async run(ctx, args) {
    const [what, ...ids] = args.positionals;
    if (what === 'index') return repairIndexCommand(ctx, args);
    if (what === 'snapshots') return repairSnapshotsCommand(ctx, args, ids);
    throw new LifeboatError('USAGE', `repair needs "index" or "snapshots"${what ? `, not "${what}"` : ''}`, { hint: 'lifeboat repair index; then lifeboat repair snapshots' });
  },
};

async function repairIndexCommand(ctx: Context, args: ParsedArgs): Promise<number> {
  const repo = await ctx.openRepository({ lock: { exclusive: true, purpose: 'repair index' } });
  const progress = new ProgressLine(ctx, 'packs');
  try {
    const r = await repairIndex(repo, { readAllPacks: flag(args, 'read-all-packs'), onProgress: (done, total) => progress.count(done, total), signal: ctx.signal });
    progress.done();
    if (ctx.json) {
      ctx.emitJson({ ...r, transfer: ctx.transfer });
      return 0;
    }
    ctx.out(`new index: ${r.blobs} blobs; of ${r.packs} packs, ${r.packsFromIndex} kept as the old index lists them and ${r.packsRead} read; replaced ${r.oldIndexFiles} index file(s)`);
    for (const m of r.missingPacks) ctx.out(`pack ${m.slice(0, 12)}: listed by the old index but missing from storage; its blobs are no longer indexed`);
    for (const u of r.unreadablePacks) ctx.out(`pack ${u.pack.slice(0, 12)}: cannot be read (${u.problem}); the old index's listing of it is kept if it had one`);
    for (const d of r.damagedBlobs) ctx.out(`blob ${d.blob.slice(0, 16)} in pack ${d.pack.slice(0, 12)}: left out, damaged (${d.problem})`);
    for (const p of r.packsReplaced) ctx.out(`pack ${p.slice(0, 12)}: its intact blobs were written to new packs, and the damaged pack was deleted`);
    if (r.missingPacks.length + r.unreadablePacks.length + r.damagedBlobs.length) {
      ctx.out('Some data is lost. "lifeboat check" names the snapshots and files it touches; backing up the same data again stores it anew, and "lifeboat repair snapshots" drops what stays missing.');
    }
    return 0;
  } finally {
    progress.done();
    await repo.close();
  }
}

async function repairSnapshotsCommand(ctx: Context, args: ParsedArgs, refs: string[]): Promise<number> {
  const dryRun = flag(args, 'dry-run');
  const repo = await ctx.openRepository({ lock: { exclusive: true, purpose: 'repair snapshots' } });
  try {
    const ids: string[] = [];
    for (const ref of refs) ids.push((await repo.snapshots.resolve(ref)).id);
    const r = await repairSnapshots(repo, { ids, dryRun, forget: flag(args, 'forget'), signal: ctx.signal });
    if (ctx.json) {
      ctx.emitJson({ dryRun, ...r });
      return 0;
    }
    for (const u of r.unreadableSnapshotFiles) ctx.out(`snapshot file ${u.id.slice(0, 12)} cannot be opened (${u.problem}); nothing of it can be recovered`);
    for (const s of r.repaired) {
      const verb = s.unrecoverable ? 'cannot be repaired:' : dryRun ? 'would drop' : 'dropped';
      ctx.out(`snapshot ${s.snapshot.slice(0, 8)} ${verb} ${s.unrecoverable ? '' : `${s.dropped.length} entr${s.dropped.length === 1 ? 'y' : 'ies'}`}${s.repairedAs ? `; saved as ${s.repairedAs.slice(0, 8)}` : ''}${s.forgotten ? '; original removed' : ''}`);
      for (const d of s.dropped) ctx.out(`  ${d.path}  (${d.reason})`);
    }
    const fixed = r.repaired.filter((s) => !s.unrecoverable).length;
    ctx.out(`${r.checked} snapshot(s) checked, ${fixed} ${dryRun ? 'would be repaired' : 'repaired'}${fixed && !flag(args, 'forget') && !dryRun ? ' (originals kept: remove them with "lifeboat forget ID" or repair with --forget)' : ''}`);
    return 0;
  } finally {
    await repo.close();
  }
}
