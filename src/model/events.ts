// What a long operation tells whoever runs it while it runs: per-entry problems as data (the CLI
// prints them, a server stores them), never as strings printed from inside the engine.
import type { ErrorCode } from '../errors.ts';

/** One entry that could not be handled; the operation went on with the rest. */
export interface EntryProblem {
  /** Where, inside the snapshot or the source: "/home/ann/report.docx". */
  path: string;
  code: ErrorCode;
  message: string;
}

/** Receives an operation's events. Every member is optional. */
export interface OperationEvents {
  problem?(problem: EntryProblem): void;
}

/** What every engine operation takes besides its own options. */
export interface OperationContext {
  signal?: AbortSignal;
  events?: OperationEvents;
}
