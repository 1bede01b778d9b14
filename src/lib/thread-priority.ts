// Worker threads that do bulk work give way to the main thread (used by the chunk workers). The
// main thread walks the tree, hands work out, stores blobs and writes packs: every other thread
// waits on it. On a small machine there are more runnable threads than cores, and the kernel
// shared the cores evenly between them, so the main thread lost its core to a worker whenever it
// woke one. The workers' work is queued, so it loses nothing by waiting. Bench corpus, two cores:
// full backups measured pair by pair (bench/ab.sh's way), nice 0 against 10, five pairs: time
// ratios 0.83-1.07, median 0.96. (Series read sorted had suggested 5.50 -> 4.94 s, and 1.54 ->
// 1.37 s for a small-change re-backup.) Restore's writers and check's workers gained nothing.
import { getPriority, setPriority } from 'node:os';

const WORKER_NICE_STEPS = 10;

/**
 * Lowers the calling thread's scheduling priority by `steps` nice levels, relative to what it has
 * (a backup run under `nice` keeps its order). Linux only: there each thread has its own nice
 * value and setpriority(2) on "this process" sets the calling thread's; elsewhere it would lower
 * the whole process. Best effort: where it is not allowed, the thread keeps its priority.
 */
export function lowerThreadPriority(steps = WORKER_NICE_STEPS): void {
  if (process.platform !== 'linux') return;
  try {
    setPriority(Math.min(19, getPriority() + steps));
  } catch {
    // e.g. a seccomp sandbox that forbids setpriority: only speed differs
  }
}
