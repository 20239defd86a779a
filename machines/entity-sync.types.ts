import type { ConflictPolicy, FailedItem, RetryPolicy, SyncState } from '../src/domain/types.js';
import type { BatchPushOutput, BatchToParentEvent, RunCounts } from './batch-push.types.js';

export interface EntitySyncInput {
  entityType: string;
  batchSize: number;
  retry: RetryPolicy;
  conflicts: ConflictPolicy;
  /** Pushes of one run in flight at once, a positive integer; 2 by default. See `SyncCoordinatorOptions.maxBatchesInFlight`. */
  maxBatchesInFlight?: number;
  /** Jitter source for backoff; `Math.random` by default. */
  random?: () => number;
  /** Epoch ms, from `SyncDeps` (`runSources(deps)`): the batch machine reads time only through it. */
  now: () => number;
  /** The batch-id source of `SyncDeps` (`runSources(deps)`): a fresh unique key per run. */
  newBatchKey: () => string;
}

/** The state of one run as the entity actor reports it: the raw material of `SyncProgress`. */
export interface RunSnapshot {
  entityType: string;
  state: SyncState;
  runId: number;
  counts: RunCounts;
  errorMessage: string | undefined;
  /** The last error seen, kept until a run succeeds: what a stuck queue is stuck on. */
  lastError: string | undefined;
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
  errorMessage: string | undefined;
  lastError: string | undefined;
  /** Epoch ms of the next batch retry (while syncing) or of the next automatic run (in `error`). */
  nextRetryAt: number | undefined;
  lastRun: RunReport | undefined;
  /** Runs in a row that stopped early (fatal or store errors): backs off the automatic retry. */
  stoppedRuns: number;
}

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
