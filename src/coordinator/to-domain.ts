import type { RunReport, RunSnapshot } from '../../machines/entity-sync.types.js';
import type { SyncProgress, SyncResult } from '../domain/types.js';

/** Maps an entity actor's run snapshot to the public `SyncProgress`. */
export function toSyncProgress(snapshot: RunSnapshot): SyncProgress {
  const { counts } = snapshot;
  const isComplete = snapshot.state === 'synced' || snapshot.state === 'error';
  const done = counts.syncedItems + counts.failedItems;
  const percent =
    counts.totalItems > 0
      ? Math.min(100, Math.floor((done / counts.totalItems) * 100))
      : isComplete
        ? 100
        : 0;
  return {
    entityType: snapshot.entityType,
    state: snapshot.state,
    runId: snapshot.runId,
    totalItems: counts.totalItems,
    syncedItems: counts.syncedItems,
    failedItems: counts.failedItems,
    conflicts: counts.conflicts,
    retries: counts.retries,
    ...(snapshot.errorMessage === undefined ? {} : { errorMessage: snapshot.errorMessage }),
    ...(snapshot.lastError === undefined ? {} : { lastError: snapshot.lastError }),
    ...(snapshot.nextRetryAt === undefined ? {} : { nextRetryAt: snapshot.nextRetryAt }),
    percent,
    isComplete,
    cancelled: snapshot.cancelled,
  };
}

/** Maps a finished run's report to the public `SyncResult`. */
export function toSyncResult(report: RunReport): SyncResult {
  const progress = toSyncProgress(report);
  return {
    entityType: progress.entityType,
    state: progress.state,
    runId: progress.runId,
    totalItems: progress.totalItems,
    syncedItems: progress.syncedItems,
    failedItems: progress.failedItems,
    conflicts: progress.conflicts,
    retries: progress.retries,
    failures: report.failures.map((item) => ({ ...item })),
    cancelled: report.cancelled,
    ...(progress.errorMessage === undefined ? {} : { errorMessage: progress.errorMessage }),
    ...(progress.lastError === undefined ? {} : { lastError: progress.lastError }),
    ...(progress.nextRetryAt === undefined ? {} : { nextRetryAt: progress.nextRetryAt }),
    durationMs: report.durationMs,
  };
}

/** The result of a request that was cancelled before its run started. */
export function cancelledBeforeStart(entityType: string, state: SyncResult['state']): SyncResult {
  return {
    entityType,
    state,
    runId: 0,
    totalItems: 0,
    syncedItems: 0,
    failedItems: 0,
    conflicts: 0,
    retries: 0,
    failures: [],
    cancelled: true,
    durationMs: 0,
  };
}
