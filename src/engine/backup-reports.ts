// What a backup says about single entries: problems (the entry is left out and the snapshot is
// incomplete) and warnings, as events {path, code, message}; the first problems are also kept for
// the snapshot record, where `snapshots` shows them later.
import { describeError, entryErrorCode, errnoCode } from '../errors.ts';
import type { OperationEvents, WarningCode } from '../model/events.ts';

/** Problems kept in the snapshot itself. */
const PROBLEMS_KEPT_IN_SNAPSHOT = 1000;

export class BackupReports {
  /** Entries that could not be read. */
  problems = 0;
  /** The first of them, "path: reason". */
  readonly firstProblems: string[] = [];
  readonly #events: OperationEvents;

  constructor(events: OperationEvents = {}) {
    this.#events = events;
  }

  problem(path: Buffer, err: unknown): void {
    const message = errnoCode(err) === 'ENOENT' ? 'vanished before it could be read' : describeError(err);
    this.problems++;
    const kept = this.firstProblems;
    if (kept.length < PROBLEMS_KEPT_IN_SNAPSHOT) kept.push(`${path.toString('utf8')}: ${message}`);
    this.#events.problem?.({ path: path.toString('utf8'), code: entryErrorCode(err), message });
  }

  warning(path: Buffer | string, message: string, code: WarningCode = 'METADATA'): void {
    this.#events.warning?.({ path: path.toString() || '/', code, message });
  }
}
