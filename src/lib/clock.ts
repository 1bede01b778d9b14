// The only place that reads the wall clock, so tests and the architecture guard know where time
// comes from. Never call Date.now() or new Date() without arguments elsewhere.
import { formatTimestamp, parseTimestamp } from '../model/timestamp.ts';

export function nowMs(): number {
  return Date.now();
}

export function nowIso(): string {
  return new Date(nowMs()).toISOString();
}

/** Now in RFC 3339 with this machine's UTC offset (snapshot times: "daily" means the local day). */
export function nowLocalIso(): string {
  const ms = nowMs();
  return formatTimestamp({ ms, offsetMinutes: -new Date(ms).getTimezoneOffset() });
}

/**
 * A time given by a person: RFC 3339, or "YYYY-MM-DD HH:MM[:SS]" in this machine's time zone (as
 * restic's --time takes it). Returned with its offset; undefined when it is neither.
 */
export function parseLocalTime(text: string): string | undefined {
  const exact = parseTimestamp(text);
  if (exact) return formatTimestamp(exact);
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (!m) return undefined;
  const local = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0));
  if (Number.isNaN(local.getTime())) return undefined;
  return formatTimestamp({ ms: local.getTime(), offsetMinutes: -local.getTimezoneOffset() });
}

/** Monotonic milliseconds for measuring durations. */
export function monotonicMs(): number {
  return performance.now();
}
