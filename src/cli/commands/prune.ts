// lifeboat prune: frees the space of data no snapshot uses (see repo/prune.ts).
import { LifeboatError } from '../../errors.ts';
import { formatBytes } from '../../lib/bytes.ts';
import { prunePacks } from '../../repo/maintenance.ts';
import { flag, stringOption, type Command, type OptionSpec, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { ProgressLine } from '../progress.ts';

export const PRUNE_OPTIONS: Record<string, OptionSpec> = {
  'max-unused': { type: 'string', arg: 'PERCENT', description: 'unused space tolerated in kept packs, as % of the used space (default 5%)' },
  'repack-small': { type: 'boolean', description: 'also rewrite packs smaller than 80% of the target pack size' },
};

export const prune: Command = {
  name: 'prune',
  summary: 'Delete data no snapshot uses and rewrite mostly-empty packs (takes an exclusive lock).',
  usage: 'lifeboat prune [--max-unused 5%] [--repack-small] [--dry-run]',
  examples: ['lifeboat prune --dry-run', 'lifeboat prune --max-unused 0%'],
  options: {
    ...PRUNE_OPTIONS,
    'dry-run': { type: 'boolean', short: 'n', description: 'only report what would be deleted and rewritten' },
  },
  run: (ctx, args) => runPrune(ctx, args),
};

export async function runPrune(ctx: Context, args: ParsedArgs): Promise<number> {
  const text = stringOption(args, 'max-unused') ?? '5%';
  const maxUnusedPercent = Number(text.replace(/%$/, ''));
  if (!Number.isFinite(maxUnusedPercent) || maxUnusedPercent < 0 || maxUnusedPercent >= 100) {
    throw new LifeboatError('USAGE', `--max-unused takes a percentage from 0 up to 100, not "${text}"`);
  }
  const dryRun = flag(args, 'dry-run');
  const repo = await ctx.openRepository({ lock: { exclusive: true, purpose: 'prune' } });
  const progress = new ProgressLine(ctx, 'packs');
  try {
    const r = await prunePacks(repo, {
      maxUnusedPercent, repackSmall: flag(args, 'repack-small'), dryRun, signal: ctx.signal,
      onPhase: (p) => {
        progress.restart();
        if (ctx.showProgress) ctx.info(`${p}…`);
      },
      onProgress: (done, total) => progress.count(done, total),
    });
    progress.done();
    if (ctx.json) ctx.emitJson({ dryRun, ...r, transfer: ctx.transfer });
    else {
      ctx.out(`used: ${r.blobsUsed} blobs, ${formatBytes(r.bytesUsed)}; unused: ${r.blobsUnused} blobs, ${formatBytes(r.bytesUnused)} in ${r.packs} packs`);
      ctx.out(`${dryRun ? 'would delete' : 'deleted'} ${r.packsDeleted} unused and ${r.packsUnindexed} unindexed pack(s), ${dryRun ? 'would rewrite' : 'rewrote'} ${r.packsRepacked} (${formatBytes(r.bytesRepacked)} moved); ${dryRun ? 'frees' : 'freed'} ${formatBytes(r.bytesFreed)}`);
      for (const k of r.retained) ctx.out(`kept pack ${k.pack.slice(0, 12)}: under Object Lock retention until ${k.until}; a prune after that date deletes it`);
      const network = ctx.transferSummary();
      if (network) ctx.info(network);
    }
    return 0;
  } finally {
    progress.done();
    await repo.close();
  }
}
