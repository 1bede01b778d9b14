// lifeboat forget: removes snapshots by a retention policy (restic's rules, see
// engine/retention.ts) or by id, and optionally prunes afterwards.
import { LifeboatError } from '../../errors.ts';
import { nowMs } from '../../lib/clock.ts';
import { applyPolicy, emptyPolicy, groupSnapshots, isEmptyPolicy, parseDuration, parseGroupBy, PERIODS, type Decision, type RetentionPolicy } from '../../engine/retention.ts';
import { flag, listOption, stringOption, type Command, type OptionSpec, type ParsedArgs } from '../command.ts';
import type { Context } from '../context.ts';
import { FILTER_OPTIONS, filterOf, snapshotJson } from '../snapshot-ref.ts';
import { PRUNE_OPTIONS, runPrune } from './prune.ts';

const SHORT: Record<string, string> = { last: 'l', hourly: 'H', daily: 'd', weekly: 'w', monthly: 'm', yearly: 'y' };

const KEEP_OPTIONS: Record<string, OptionSpec> = Object.fromEntries([
  ...['last', ...PERIODS].map((k) => [`keep-${k}`, { type: 'string', short: SHORT[k], arg: 'N', description: k === 'last' ? 'keep the newest N snapshots (-1: all)' : `keep the newest snapshot of each of the last N ${k === 'daily' ? 'days' : k.replace(/ly$/, 's')} that have one (-1: all)` }]),
  ['keep-within', { type: 'string', arg: 'DURATION', description: 'keep every snapshot newer than DURATION (e.g. 1y6m7d2h) before the newest' }],
  ...PERIODS.map((k) => [`keep-within-${k}`, { type: 'string', arg: 'DURATION', description: `keep the newest ${k} snapshot of each period within DURATION of the newest` }]),
  ['keep-tag', { type: 'string', multiple: true, arg: 'TAG[,TAG...]', description: 'keep snapshots that have all these tags (repeatable)' }],
]);

export const forget: Command = {
  name: 'forget',
  summary: 'Remove snapshots by a retention policy (restic\'s rules) or by id; --prune frees the space.',
  usage: 'lifeboat forget [--keep-daily N] [--keep-weekly N] [--keep-...] [--group-by host,paths,tags] [--dry-run] [--prune] [SNAPSHOT...]',
  examples: [
    'lifeboat forget --keep-hourly 24 --keep-daily 14 --keep-weekly 8 --keep-monthly 12 --keep-yearly 7 --prune',
    'lifeboat forget --keep-within 30d --keep-tag audit --dry-run',
    'lifeboat forget 4a1b2c3d',
  ],
  options: {
    ...KEEP_OPTIONS,
    ...FILTER_OPTIONS,
    'group-by': { type: 'string', short: 'g', arg: 'FIELDS', description: 'apply the policy per group of snapshots with the same host, paths and/or tags (default: host,paths; "" for one group)' },
    'dry-run': { type: 'boolean', short: 'n', description: 'only show what would be removed, and why each snapshot is kept' },
    'allow-empty': { type: 'boolean', description: 'allow a policy to remove every snapshot of a group' },
    prune: { type: 'boolean', description: 'prune afterwards (see lifeboat prune)' },
    ...PRUNE_OPTIONS,
  },
  async run(ctx, args) {
    const policy = policyOf(args);
    const repo = await ctx.openRepository({ loadIndex: false, lock: { exclusive: true, purpose: 'forget' } });
    let removed: string[];
    try {
      const { snapshots: all, damaged } = await repo.snapshots.list(filterOf(args));
      for (const d of damaged) ctx.warn(`snapshot file ${d.id.slice(0, 12)} is damaged and was left alone: ${d.problem}`);
      if (args.positionals.length) {
        if (!isEmptyPolicy(policy)) throw new LifeboatError('USAGE', 'Give either snapshot ids or a --keep policy, not both');
        const chosen = await Promise.all(args.positionals.map((ref) => repo.snapshots.resolve(ref)));
        removed = [...new Set(chosen.map((s) => s.id))];
        for (const s of chosen) ctx.info(`${flag(args, 'dry-run') ? 'would remove' : 'removing'} ${s.id.slice(0, 8)} ${s.time}`);
        if (ctx.json) ctx.emitJson([{ keep: [], remove: chosen.map(snapshotJson), reasons: [] }]);
      } else {
        if (isEmptyPolicy(policy)) {
          ctx.warn('no policy was given (--keep-...), so no snapshots are removed');
          return 0;
        }
        const groups = groupSnapshots(all, parseGroupBy(stringOption(args, 'group-by') ?? 'host,paths')).map((g) => ({ ...g, decisions: applyPolicy(g.snapshots, policy, nowMs()) }));
        const emptied = groups.filter((g) => g.decisions.every((d) => !d.keep));
        if (emptied.length && !flag(args, 'allow-empty')) {
          throw new LifeboatError('USAGE', `This policy would remove every snapshot of ${emptied.length} group(s), e.g. ${JSON.stringify(emptied[0].key)}`, { hint: 'Check the policy with --dry-run; add --allow-empty if that is what you want.' });
        }
        if (ctx.json) ctx.emitJson(groups.map((g) => ({ ...g.key, keep: g.decisions.filter((d) => d.keep).map((d) => snapshotJson(d.snapshot)), remove: g.decisions.filter((d) => !d.keep).map((d) => snapshotJson(d.snapshot)), reasons: g.decisions.filter((d) => d.keep).map(reasonJson) })));
        else if (!ctx.quiet || flag(args, 'dry-run')) for (const g of groups) printGroup(ctx, g.key, g.decisions);
        removed = groups.flatMap((g) => g.decisions.filter((d) => !d.keep).map((d) => d.snapshot.id));
      }
      if (flag(args, 'dry-run')) {
        ctx.info(`dry run: ${removed.length} snapshot(s) would be removed`);
        return 0;
      }
      let retained = 0;
      for (const id of removed) {
        try {
          await repo.snapshots.remove(id);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ERETAINED') throw err;
          retained++; // S3 Object Lock: the message says until when
          ctx.warn(`snapshot ${id.slice(0, 8)} was kept: ${(err as Error).message}`);
        }
      }
      ctx.info(`${removed.length - retained} snapshot(s) removed${retained ? `, ${retained} kept under Object Lock retention` : ''}`);
    } finally {
      await repo.close();
    }
    if (flag(args, 'prune') && removed.length) return await runPrune(ctx, args);
    return 0;
  },
};

function count(args: ParsedArgs, name: string): number {
  const text = stringOption(args, name);
  if (text === undefined) return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < -1) throw new LifeboatError('USAGE', `--${name} needs a whole number (or -1 for all), not "${text}"`);
  return n;
}

export function policyOf(args: ParsedArgs): RetentionPolicy {
  const p = emptyPolicy();
  p.last = count(args, 'keep-last');
  for (const k of PERIODS) {
    p.counts[k] = count(args, `keep-${k}`);
    const within = stringOption(args, `keep-within-${k}`);
    if (within !== undefined) p.withinPeriod[k] = parseDuration(within);
  }
  const within = stringOption(args, 'keep-within');
  if (within !== undefined) p.within = parseDuration(within);
  p.keepTags = listOption(args, 'keep-tag').map((l) => l.split(',').filter(Boolean));
  return p;
}

function reasonJson(d: Decision): object {
  return { snapshot: snapshotJson(d.snapshot), matches: d.reasons, counters: d.counters };
}

function printGroup(ctx: Context, key: object, decisions: Decision[]): void {
  const label = Object.entries(key).map(([k, v]) => `${k} ${Array.isArray(v) ? `[${v.join(', ')}]` : v}`).join(', ');
  ctx.out(`snapshots for ${label || 'all snapshots'}:`);
  for (const d of decisions) ctx.out(`  ${d.keep ? 'keep  ' : 'remove'}  ${d.snapshot.id.slice(0, 8)}  ${d.snapshot.time.replace('T', ' ').slice(0, 19)}  ${d.keep ? d.reasons.join(', ') : ''}`);
  const kept = decisions.filter((d) => d.keep).length;
  ctx.out(`  ${kept} kept, ${decisions.length - kept} removed`);
}
