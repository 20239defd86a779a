import type { ErrorInfo } from '../src/domain/errors.js';
import type { FailedItem, SyncState } from '../src/domain/types.js';
import type { BatchPushOutput, BatchToParentEvent, RunCounts } from './batch-push.types.js';
import type { RunPolicy, RunSources } from './run-policy.js';

export interface EntitySyncInput {
  entityType: string;
  policy: RunPolicy;
  sources: RunSources;
}

/**
 * What an error did to a run: it is waiting to retry a batch, it stopped early, items failed, or the batch actor
 * itself failed (a bug). The facade words each one (`toSyncProgress`).
 */
export type RunErrorOutcome = 'retrying' | 'stopped' | 'items-failed' | 'crashed';

/** The error that describes a run's state, as data. */
export interface RunError extends ErrorInfo {
  outcome: RunErrorOutcome;
}

/** The state of one run as the entity actor reports it: the raw material of `SyncProgress`. */
export interface RunSnapshot {
  entityType: string;
  state: SyncState;
  runId: number;
  counts: RunCounts;
  /** Why the run is not clean (a retry wait, an early stop, failed items); `undefined` while it is. */
  error: RunError | undefined;
  /** The last error seen, kept until a run succeeds: what a stuck queue is stuck on. */
  lastError: ErrorInfo | undefined;
  nextRetryAt: number | undefined;
  cancelled: boolean;
}

/** A finished (or cancelled) run: the raw material of `SyncResult`. */
export interface RunReport extends RunSnapshot {
  /** The run's first `MAX_LISTED_FAILURES` failed items; `counts.failedItems` counts them all. */
  failures: FailedItem[];
  durationMs: number;
}

export interface EntitySyncContext {
  config: EntitySyncInput;
  runId: number;
  counts: RunCounts;
  startedAt: number;
  error: RunError | undefined;
  lastError: ErrorInfo | undefined;
  /** Epoch ms of the next batch retry (while syncing) or of the next automatic run (in `error`). */
  nextRetryAt: number | undefined;
  lastRun: RunReport | undefined;
  /** Runs in a row that stopped early (fatal or store errors): backs off the automatic retry. */
  stoppedRuns: number;
}

/** How a run ends, for `endRun`: the batch actor's output, its failure, or a cancel. */
export type RunEnd =
  | { kind: 'finished'; output: BatchPushOutput }
  | { kind: 'crashed'; error: unknown }
  | { kind: 'cancelled' };

export type EntitySyncEvent =
  | { type: 'SYNC' }
  | { type: 'CANCEL' }
  | BatchToParentEvent
  | { type: 'xstate.done.actor.batch'; output: BatchPushOutput }
  | { type: 'xstate.error.actor.batch'; error: unknown };

/** Events an entity actor sends its parent (the coordinator). */
export type EntityToParentEvent =
  | { type: 'ENTITY.PROGRESS'; snapshot: RunSnapshot }
  | { type: 'ENTITY.RUN_DONE'; report: RunReport }
  | { type: 'ENTITY.RETRY_DUE'; entityType: string };
