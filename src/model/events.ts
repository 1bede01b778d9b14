// What a long operation tells whoever runs it while it runs: per-entry problems as data (the CLI
// prints them, a server stores them), never as strings printed from inside the engine.
import type { ErrorCode } from '../errors.ts';

/** One entry that could not be handled; the operation went on with the rest (exit code 3). */
export interface EntryProblem {
  /** Where, inside the snapshot or the source: "/home/ann/report.docx". */
  path: string;
  code: ErrorCode;
  message: string;
}

/**
 * Why an entry was handled with something missing, which does not make the operation incomplete:
 * METADATA (an owner, attribute or time could not be set), HELD_BACK (privileges a restore leaves
 * out unless asked), NOT_RESTORED (an entry this target or user cannot create), CHANGED (a file
 * changed while it was read), REREAD (a parent snapshot's listing was unreadable: read again),
 * CACHE (the folder cache could not be kept).
 */
export type WarningCode = 'METADATA' | 'HELD_BACK' | 'NOT_RESTORED' | 'CHANGED' | 'REREAD' | 'CACHE';

export interface EntryWarning {
  path: string;
  code: WarningCode;
  message: string;
}

/** Files and bytes done so far, and the entry being worked on. */
export interface Progress {
  files: number;
  bytes: number;
  current?: string;
}

/** Receives an operation's events. Every member is optional. */
export interface OperationEvents {
  problem?(problem: EntryProblem): void;
  warning?(warning: EntryWarning): void;
  progress?(progress: Progress): void;
}

/** What every engine operation takes besides its own options. */
export interface OperationContext {
  signal?: AbortSignal;
  events?: OperationEvents;
}

export type RecordingEvents = OperationEvents & { problems: EntryProblem[]; warnings: EntryWarning[] };

/** Events that also keep every problem and warning, for a summary or a JSON report. */
export function recordingEvents(forward: OperationEvents = {}): RecordingEvents {
  const problems: EntryProblem[] = [];
  const warnings: EntryWarning[] = [];
  return {
    problems,
    warnings,
    problem(p) {
      problems.push(p);
      forward.problem?.(p);
    },
    warning(w) {
      warnings.push(w);
      forward.warning?.(w);
    },
    progress: forward.progress ? (p) => forward.progress!(p) : undefined,
  };
}
