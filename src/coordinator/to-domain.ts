import type { RunCounts } from '../../machines/batch-push.types.js';
import type { RunReport, RunSnapshot } from '../../machines/entity-sync.types.js';
import type { SyncProgress, SyncResult } from '../domain/types.js';

/**
 * The sentence for a run's error: the one place an error carried as data through the actors becomes prose (the CLI
 * words its own lines from the same data).
 */
export function describeRunError(snapshot: RunSnapshot): string | undefined {
  const { error, counts, pull } = snapshot;
  if (!error) return undefined;
  switch (error.outcome) {
    case 'retrying':
      return `Retrying after: ${error.message}`;
    case 'stopped':
      return error.phase === 'pull'
        ? `Pull stopped after ${pull.pages} page${pull.pages === 1 ? '' : 's'} (${pull.pulledItems} changes stored): ${error.message}`
        : `Sync run stopped after ${counts.syncedItems + counts.failedItems} of ${counts.totalItems} items: ${error.message}`;
    case 'items-failed':
      return `${counts.failedItems} of ${counts.totalItems} items failed to sync; last error: ${error.message}`;
    case 'changes-refused':
      return `${pull.refusedItems} pulled change${pull.refusedItems === 1 ? ' was' : 's were'} refused; last: ${error.message}`;
    case 'crashed':
      return `Sync run failed unexpectedly: ${error.message}`;
    default: {
      const unknown: never = error.outcome;
      return `${String(unknown)}: ${error.message}`;
    }
  }
}

/** 0-100: (synced + failed) / total; 100 for an empty finished run. The one percent formula (the inspector shows it). */
export function percentDone(counts: RunCounts, isComplete: boolean): number {
  const done = counts.syncedItems + counts.failedItems;
  if (counts.totalItems > 0) return Math.min(100, Math.floor((done / counts.totalItems) * 100));
  return isComplete ? 100 : 0;
}

/** Maps an entity actor's run snapshot to the public `SyncProgress`. */
export function toSyncProgress(snapshot: RunSnapshot): SyncProgress {
  const { counts, pull } = snapshot;
  const isComplete = snapshot.state === 'synced' || snapshot.state === 'error';
  const errorMessage = describeRunError(snapshot);
  return {
    entityType: snapshot.entityType,
    state: snapshot.state,
    runId: snapshot.runId,
    totalItems: counts.totalItems,
    syncedItems: counts.syncedItems,
    failedItems: counts.failedItems,
    conflicts: counts.conflicts + pull.conflicts,
    retries: counts.retries + pull.retries,
    pulledItems: pull.pulledItems,
    deletedItems: pull.deletedItems,
    refusedItems: pull.refusedItems,
    resets: pull.resets,
    ...(snapshot.phase === undefined ? {} : { phase: snapshot.phase }),
    ...(errorMessage === undefined ? {} : { errorMessage }),
    ...(snapshot.error === undefined ? {} : { errorCode: snapshot.error.code }),
    ...(snapshot.lastError === undefined ? {} : { lastError: snapshot.lastError.message }),
    ...(snapshot.nextRetryAt === undefined ? {} : { nextRetryAt: snapshot.nextRetryAt }),
    percent: percentDone(counts, isComplete),
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
    pulledItems: progress.pulledItems,
    deletedItems: progress.deletedItems,
    refusedItems: progress.refusedItems,
    resets: progress.resets,
    ...(progress.phase === undefined ? {} : { phase: progress.phase }),
    failures: report.failures.map((item) => ({ ...item })),
    refused: report.refused.map((change) => ({ ...change })),
    cancelled: report.cancelled,
    ...(progress.errorMessage === undefined ? {} : { errorMessage: progress.errorMessage }),
    ...(progress.errorCode === undefined ? {} : { errorCode: progress.errorCode }),
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
    pulledItems: 0,
    deletedItems: 0,
    refusedItems: 0,
    resets: 0,
    failures: [],
    refused: [],
    cancelled: true,
    durationMs: 0,
  };
}
