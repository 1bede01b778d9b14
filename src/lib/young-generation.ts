// A cap on the main thread's young generation, set after start. V8 doubles a young generation
// each time many of its objects survive a scavenge, up to two semi-spaces of 32 MiB on this kind
// of machine; a backup or a restore gets there within seconds, though its young objects alive at
// any time are a few MiB. The proper cap, --max-semi-space-size, can only be given when Node.js
// starts, and the CLI started by the pinned Node.js runs in that process (a second one would cost
// 60 ms of every command). V8 reads its growth factor at each growth, though: set to 1 once the
// young generation has reached the cap, it grows no further.
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

export function youngGenerationBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

/** Stops the young generation's growth once it holds `bytes` (process-wide: a worker thread's too, which has its own cap). */
export function capYoungGeneration(bytes: number): void {
  const watch = new PerformanceObserver(() => {
    if (youngGenerationBytes() < bytes) return;
    v8.setFlagsFromString('--semi-space-growth-factor=1');
    watch.disconnect();
  });
  watch.observe({ entryTypes: ['gc'] });
}
