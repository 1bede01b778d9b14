// The repository's second face: the operations that must see packs, index files and key slots
// (check, prune, repair, stats) and so live with the format, not in the engine.
export { checkRepository, type CheckOptions, type CheckReport, type CheckProblem, type AffectedEntry } from './check.ts';
export { prunePacks, type PruneOptions, type PruneReport } from './prune.ts';
export { repairIndex, type RepairIndexOptions, type RepairIndexReport } from './repair-index.ts';
export { repairSnapshots, type RepairSnapshotsOptions, type RepairSnapshotsReport } from './repair-snapshots.ts';
export { repositoryStats, type RepositoryStats } from './stats.ts';
export { addKeySlot, describeObject, listKeySlots, listRepositoryLocks, removeKeySlot, removeLock } from './administration.ts';
export type { LockFile } from './locks.ts';
export type { KeySlot } from './open-repository.ts';
