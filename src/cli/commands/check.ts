// lifeboat check: is the repository intact, and if not, exactly what is damaged and what it touches.
import { LifeboatError } from '../../errors.ts';
import { checkRepository, type CheckOptions, type CheckReport } from '../../repo/maintenance.ts';
import { flag, stringOption, type Command } from '../command.ts';

export const check: Command = {
  name: 'check',
  summary: 'Verify the repository: structure always; with --read-data, every byte of the packs (or a subset).',
  usage: 'lifeboat check [--read-data | --read-data-subset N/T | --read-data-subset P%]',
  examples: ['lifeboat check', 'lifeboat check --read-data', 'lifeboat check --read-data-subset 1/10   # a tenth of the packs, group 1', 'lifeboat check --read-data-subset 5%'],
  options: {
    'read-data': { type: 'boolean', description: 'read and verify all data' },
    'read-data-subset': { type: 'string', arg: 'SUBSET', description: 'read and verify a subset of packs: N/T (group N of T) or P% (random)' },
  },
  async run(ctx, args) {
    const readData = parseSubset(stringOption(args, 'read-data-subset')) ?? (flag(args, 'read-data') ? { kind: 'all' as const } : undefined);
    const repo = await ctx.openRepository({ loadIndex: false, lock: { exclusive: false, purpose: 'check', tolerateDamaged: true } });
    try {
      const report = await checkRepository(repo, { readData, signal: ctx.signal });
      if (ctx.json) {
        ctx.emitJson({ ok: report.problems.length === 0, ...report, transfer: ctx.transfer });
        return report.problems.length ? 21 : 0;
      }
      const s = report.stats;
      ctx.info(`checked ${s.snapshots} snapshots, ${s.trees} trees, ${s.blobs} blobs in ${s.packs} packs${readData ? `; read ${s.packsRead} packs in full` : ''}`);
      const network = ctx.transferSummary();
      if (network) ctx.info(network);
      if (report.unreferencedPacks.length) ctx.info(`${report.unreferencedPacks.length} pack(s) are not referenced by any index (left by an interrupted backup; prune removes them)`);
      if (report.problems.length === 0) {
        ctx.out('no problems found');
        return 0;
      }
      ctx.out(`${report.problems.length} problem(s) found:`);
      for (const p of report.problems) ctx.out(`  ${p.kind} ${p.file.slice(0, 16)}: ${p.message}`);
      if (report.affected.length) {
        ctx.out('Affected snapshots and files:');
        for (const a of report.affected) ctx.out(`  snapshot ${a.snapshot.slice(0, 8)}  ${a.path}  (${a.reason})`);
      }
      ctx.out(repairAdvice(report));
      return 21;
    } finally {
      await repo.close();
    }
  },
};

function parseSubset(text: string | undefined): CheckOptions['readData'] {
  if (text === undefined) return undefined;
  const group = /^(\d+)\/(\d+)$/.exec(text);
  if (group && +group[1] >= 1 && +group[1] <= +group[2]) return { kind: 'group', n: +group[1], of: +group[2] };
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct && +pct[1] > 0 && +pct[1] <= 100) return { kind: 'percent', percent: +pct[1] };
  throw new LifeboatError('USAGE', `--read-data-subset "${text}" must be N/T (1 <= N <= T) or P% (0 < P <= 100)`);
}

/** What to run next, from what was found. */
function repairAdvice(report: CheckReport): string {
  const kinds = new Set(report.problems.map((p) => p.kind));
  const steps: string[] = [];
  if (kinds.has('index') || kinds.has('pack') || kinds.has('blob') || kinds.has('tree') || report.unreferencedPacks.length) {
    steps.push('"lifeboat repair index --read-all-packs" rebuilds the index from the packs (packs no index lists may hold the missing data)');
  }
  if (report.affected.length) steps.push('back up the same sources again (data that still exists there is stored anew), then "lifeboat repair snapshots" drops what stays unreadable');
  if (kinds.has('lock')) steps.push('"lifeboat unlock" removes damaged lock files');
  if (kinds.has('key') || kinds.has('snapshot')) steps.push('a damaged key or snapshot file cannot be rebuilt: restore it from a copy of the repository, or remove it ("lifeboat key remove", "lifeboat forget")');
  return steps.length ? `What to do: ${steps.map((s, i) => `\n  ${i + 1}. ${s}`).join('')}` : '';
}
