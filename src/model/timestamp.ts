// Snapshot times are RFC 3339 with the UTC offset of the machine that made them (as restic's are),
// so that "daily" and "weekly" mean that machine's days and weeks. Everything that groups times
// into calendar periods reads the fields in the recorded offset, never in the reader's zone.

export interface Timestamp {
  ms: number;
  /** Minutes east of UTC, as recorded. */
  offsetMinutes: number;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/i;

export function parseTimestamp(text: string): Timestamp | undefined {
  const m = RFC3339.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const digits = zone.replace(':', '');
    offsetMinutes = (digits[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, frac ? Math.floor(Number(frac) * 1000) : 0) - offsetMinutes * 60_000;
  return Number.isNaN(ms) ? undefined : { ms, offsetMinutes };
}

/** RFC 3339 in the given offset, with milliseconds: 2026-11-24T13:05:00.123+01:00. */
export function formatTimestamp(t: Timestamp): string {
  const local = new Date(t.ms + t.offsetMinutes * 60_000).toISOString().slice(0, 23);
  if (t.offsetMinutes === 0) return `${local}Z`;
  const abs = Math.abs(t.offsetMinutes);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${local}${t.offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Calendar fields in the recorded offset. */
export function fieldsOf(t: Timestamp): { year: number; month: number; day: number; hour: number } {
  const d = new Date(t.ms + t.offsetMinutes * 60_000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours() };
}

/** ISO 8601 week-numbering year and week (weeks start on Monday; week 1 holds the first Thursday). */
export function isoWeek(t: Timestamp): { year: number; week: number } {
  const { year, month, day } = fieldsOf(t);
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const weekYear = date.getUTCFullYear();
  const week = Math.floor((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 / 7) + 1;
  return { year: weekYear, week };
}

/**
 * `t` moved back by years, months and days on the calendar (overflowing days roll over, as Go's
 * AddDate does: March 31 minus one month is March 3 or 2), then by hours.
 */
export function calendarBack(t: Timestamp, d: { years: number; months: number; days: number; hours: number }): Timestamp {
  const local = new Date(t.ms + t.offsetMinutes * 60_000);
  const moved = Date.UTC(local.getUTCFullYear() - d.years, local.getUTCMonth() - d.months, local.getUTCDate() - d.days, local.getUTCHours(), local.getUTCMinutes(), local.getUTCSeconds(), local.getUTCMilliseconds());
  return { ms: moved - t.offsetMinutes * 60_000 - d.hours * 3_600_000, offsetMinutes: t.offsetMinutes };
}
