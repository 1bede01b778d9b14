// The only place that reads the wall clock, so tests and the architecture guard know where time
// comes from. Never call Date.now() or new Date() without arguments elsewhere.

export function nowMs(): number {
  return Date.now();
}

export function nowIso(): string {
  return new Date(nowMs()).toISOString();
}

/** Monotonic milliseconds for measuring durations. */
export function monotonicMs(): number {
  return performance.now();
}
