// The process's share of the machine for heavy work, which every operation in it takes from:
// jobs on libuv's thread pool that keep a core busy (backup's chunking lanes, check's pack
// verifying, restore's writers), and the memory that restores hold in blobs read ahead. One
// operation alone still gets what it was tuned for (each keeps its own, smaller limits); several
// at once in one process (a server running a backup, a check and a restore drill) share these,
// instead of each taking the whole machine.
import { availableParallelism } from 'node:os';
import { LifeboatError } from '../errors.ts';
import { Limiter } from './limiter.ts';

export class Budget {
  /** Thread-pool jobs that compute (not those that wait for a disk or network) at once. */
  readonly threads: Limiter;
  /** Bytes of blobs read ahead and not yet written, across operations. */
  readonly memory: Limiter;
  readonly threadCount: number;
  /** The most thread slots held at once so far. */
  peakThreads = 0;
  #busy = 0;

  constructor(threadCount: number, memoryBytes: number) {
    this.threadCount = threadCount;
    this.threads = new Limiter(threadCount);
    this.memory = new Limiter(memoryBytes);
  }

  /** Runs `job` holding one thread slot. */
  onThread<T>(job: () => Promise<T>): Promise<T> {
    return this.threads.run(async () => {
      this.peakThreads = Math.max(this.peakThreads, ++this.#busy);
      try {
        return await job();
      } finally {
        this.#busy--;
      }
    });
  }
}

/**
 * The process's budget, made on first use. One more job than cores: a restore's writers ran
 * fastest with three on two cores (restore.ts WRITER_JOBS), and no operation alone uses more than
 * four. The thread pool itself has eight threads (bin/lifeboat), so file system calls never wait
 * behind computing jobs. LIFEBOAT_THREADS sets fewer (or more), to leave cores to the machine's
 * own work. 256 MiB is four restores' worth of runs in flight (restore-content.ts).
 */
export function processBudget(): Budget {
  return (made ??= new Budget(threadsWanted(process.env.LIFEBOAT_THREADS), 256 * 1024 * 1024));
}

let made: Budget | undefined;

function threadsWanted(setting: string | undefined): number {
  if (setting === undefined || setting === '') return Math.max(3, Math.min(8, availableParallelism() + 1));
  const asked = Number(setting);
  if (Number.isInteger(asked) && asked >= 1 && asked <= 256) return asked;
  throw new LifeboatError('USAGE', `LIFEBOAT_THREADS must be a whole number from 1 to 256, not "${setting}"`, {
    hint: 'Unset it to use one more than the cores.',
  });
}
