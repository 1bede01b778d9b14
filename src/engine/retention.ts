// Which snapshots a retention policy keeps (`lifeboat forget`). The rules are restic's, so that
// a policy moved over from restic keeps the same snapshots; test/forget.test.ts compares the two
// on the same snapshot times. Per group, newest first, a snapshot is kept when:
// - it has all the tags of one --keep-tag list, or is within --keep-within of the newest;
// - it is the first (newest) one seen of its hour/day/ISO week/month/year while that rule still
//   has count left (each keep uses one; -1 never runs out); --keep-last counts every snapshot;
// - it is the first of its period among those within the --keep-within-<period> duration.
// Periods are read in the offset the snapshot recorded (the day of the machine that made it).
// Unlike restic 0.17 and later, the oldest snapshot is not kept just because a count is left:
// this is restic 0.14's rule, the one Debian ships.
import { LifeboatError } from '../errors.ts';
import type { SnapshotRecord } from '../model/snapshot.ts';
import { calendarBack, fieldsOf, isoWeek, parseTimestamp, type Timestamp } from '../model/timestamp.ts';

export interface CalendarDuration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

export const PERIODS = ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type Period = (typeof PERIODS)[number];

export interface RetentionPolicy {
  /** Counts; 0 = rule off, -1 = no limit. */
  last: number;
  counts: Record<Period, number>;
  within?: CalendarDuration;
  withinPeriod: Partial<Record<Period, CalendarDuration>>;
  /** Keep snapshots that have every tag of any one of these lists. */
  keepTags: string[][];
}

export interface Decision {
  snapshot: SnapshotRecord;
  keep: boolean;
  /** Why it is kept ("daily snapshot", "within 7d", "has tags [db]"); empty when removed. */
  reasons: string[];
  /** What each counting rule has left after this snapshot (restic's "counters"). */
  counters: Partial<Record<'last' | Period, number>>;
}

export function emptyPolicy(): RetentionPolicy {
  return { last: 0, counts: { hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }, withinPeriod: {}, keepTags: [] };
}

export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return p.last === 0 && PERIODS.every((k) => p.counts[k] === 0 && !p.withinPeriod[k]) && !p.within && p.keepTags.length === 0;
}

/** "1y6m", "14d", "36h", "2y3m4d5h": years, months, days and hours, each at most once. */
export function parseDuration(text: string): CalendarDuration {
  const d: CalendarDuration = { years: 0, months: 0, days: 0, hours: 0 };
  const units: Record<string, keyof CalendarDuration> = { y: 'years', m: 'months', d: 'days', h: 'hours' };
  const re = /(\d+)([ymdh])/gy;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    d[units[m[2]]] += Number(m[1]);
    matched = re.lastIndex;
  }
  if (text === '' || matched !== text.length) {
    throw new LifeboatError('USAGE', `"${text}" is not a duration`, { hint: 'Write it as numbers with y, m, d or h: 7d, 1y6m, 36h.' });
  }
  return d;
}

export function formatDuration(d: CalendarDuration): string {
  return [d.years && `${d.years}y`, d.months && `${d.months}m`, d.days && `${d.days}d`, d.hours && `${d.hours}h`].filter(Boolean).join('') || '0h';
}

/** The period a time falls in, as one comparable number (YYYYMMDDHH, YYYYMMDD, YYYYWW, YYYYMM, YYYY). */
function periodOf(period: Period, t: Timestamp): number {
  const f = fieldsOf(t);
  switch (period) {
    case 'hourly':
      return f.year * 1_000_000 + f.month * 10_000 + f.day * 100 + f.hour;
    case 'daily':
      return f.year * 10_000 + f.month * 100 + f.day;
    case 'weekly': {
      const w = isoWeek(t);
      return w.year * 100 + w.week;
    }
    case 'monthly':
      return f.year * 100 + f.month;
    case 'yearly':
      return f.year;
  }
}

export function timestampOf(s: SnapshotRecord): Timestamp {
  const t = parseTimestamp(s.time);
  if (!t) throw new LifeboatError('REPO_CORRUPT', `Snapshot ${s.id.slice(0, 8)} has an unreadable time "${s.time}"`);
  return t;
}

/** Applies the policy to one group; returns its snapshots newest first with the decision for each. */
export function applyPolicy(snapshots: SnapshotRecord[], policy: RetentionPolicy, nowMs: number): Decision[] {
  const list = snapshots.map((s) => ({ s, t: timestampOf(s) })).sort((a, b) => b.t.ms - a.t.ms);
  if (isEmptyPolicy(policy)) return list.map(({ s }) => ({ snapshot: s, keep: true, reasons: ['policy is empty'], counters: {} }));
  // "The newest" is the newest that is not in the future (a machine with a wrong clock).
  const newest = list.find(({ t }) => t.ms <= nowMs)?.t ?? list[list.length - 1]?.t;
  const counting = [{ rule: 'last' as const, left: policy.last, last: NaN }, ...PERIODS.map((p) => ({ rule: p, left: policy.counts[p], last: NaN }))];
  const withinLast: Partial<Record<Period, number>> = {};
  return list.map(({ s, t }, nr) => {
    const reasons: string[] = [];
    for (const tags of policy.keepTags) if (tags.every((tag) => s.tags.includes(tag))) reasons.push(`has tags [${tags.join(' ')}]`);
    if (policy.within && t.ms > calendarBack(newest!, policy.within).ms) reasons.push(`within ${formatDuration(policy.within)}`);
    for (const c of counting) {
      if (c.left === 0) continue;
      const value = c.rule === 'last' ? nr : periodOf(c.rule, t);
      if (value === c.last) continue;
      c.last = value;
      if (c.left > 0) c.left--;
      reasons.push(c.rule === 'last' ? 'last snapshot' : `${c.rule} snapshot`);
    }
    for (const p of PERIODS) {
      const within = policy.withinPeriod[p];
      if (!within || !(t.ms > calendarBack(newest!, within).ms)) continue;
      const value = periodOf(p, t);
      if (value === withinLast[p]) continue;
      withinLast[p] = value;
      reasons.push(`${p} within ${formatDuration(within)}`);
    }
    const counters = Object.fromEntries(counting.filter((c) => c.left !== 0).map((c) => [c.rule, c.left]));
    return { snapshot: s, keep: reasons.length > 0, reasons, counters };
  });
}

export interface GroupKey {
  host?: string;
  paths?: string[];
  tags?: string[];
}

export type GroupBy = Array<'host' | 'paths' | 'tags'>;

export function parseGroupBy(text: string): GroupBy {
  const parts = text.split(',').map((p) => p.trim()).filter(Boolean);
  for (const p of parts) if (!['host', 'paths', 'tags'].includes(p)) throw new LifeboatError('USAGE', `--group-by takes host, paths and tags, not "${p}"`);
  return parts as GroupBy;
}

/** Splits snapshots into groups with the same host, paths and/or tags (in the order first met). */
export function groupSnapshots(snapshots: SnapshotRecord[], by: GroupBy): Array<{ key: GroupKey; snapshots: SnapshotRecord[] }> {
  const groups = new Map<string, { key: GroupKey; snapshots: SnapshotRecord[] }>();
  for (const s of snapshots) {
    const key: GroupKey = {};
    if (by.includes('host')) key.host = s.host;
    if (by.includes('paths')) key.paths = [...s.paths].sort();
    if (by.includes('tags')) key.tags = [...s.tags].sort();
    const k = JSON.stringify(key);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { key, snapshots: [] }));
    g.snapshots.push(s);
  }
  return [...groups.values()];
}
