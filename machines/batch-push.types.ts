import type { ErrorInfo } from '../src/domain/errors.js';
import type {
  FailedItem,
  ItemResult,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  RepositoryEntity,
  RetryPolicy,
} from '../src/domain/types.js';
import type { BatchPlan } from '../src/protocol/batch-outcome.js';
import type { PushWindow } from './push-window.js';
import type { RunPolicy, RunSources } from './run-policy.js';

export interface BatchPushInput {
  entityType: string;
  runId: number;
  policy: RunPolicy;
  sources: RunSources;
}

/** The counts of one run so far. */
export interface RunCounts {
  /** Items this run covers: the outbox at its start, less items changed or deleted locally meanwhile. */
  totalItems: number;
  syncedItems: number;
  failedItems: number;
  conflicts: number;
  /** Batch pushes that failed and were tried again. */
  retries: number;
}

export interface BatchInFlight {
  /** The batch's place in its run (1, 2, ...): results are handled in this order. */
  seq: number;
  /** Stable across retries of this batch: the server's idempotency key. */
  batchId: string;
  items: RepositoryEntity[];
  /** Pushes of this batch so far (it is pushed again, same id, after a transient failure). */
  attempt: number;
}

/** The batch whose outcome is planned or being written, with what settling it needs. */
export interface PlannedBatch {
  plan: BatchPlan<RepositoryEntity>;
  items: RepositoryEntity[];
  /** Pushes of that batch, for the attempt counts of the items it carries on. */
  attempt: number;
}

/**
 * Events the batch actor handles besides its invoked actors' results: its spawned commit, page loads and pushes
 * (`push.<seq>`, one per batch in the window).
 */
export type BatchPushEvent =
  | { type: 'xstate.done.actor.commit'; output: CommitBatchOutput }
  | { type: 'xstate.error.actor.commit'; error: unknown }
  | { type: 'xstate.done.actor.page'; output: LoadPageOutput }
  | { type: 'xstate.error.actor.page'; error: unknown }
  | { type: `xstate.done.actor.push.${number}`; output: PushBatchOutput; actorId: string }
  | { type: `xstate.error.actor.push.${number}`; error: unknown; actorId: string };

/** What others may read of a run while it goes on: the inspector's view, and the raw material of the output. */
export interface BatchPushProgress {
  counts: RunCounts;
  /** The run's first `MAX_LISTED_FAILURES` failed items (`counts.failedItems` counts them all). */
  failures: FailedItem[];
  /** The error of the run's last failed item, listed or not. */
  lastItemError: ErrorInfo | undefined;
  /** The last error of any kind, even one the run recovered from. */
  lastError: ErrorInfo | undefined;
  /** Earliest next attempt of an item waiting for a later run (left by this run or an earlier one). */
  nextItemRetryAt: number | undefined;
  /** The current (or last) retry wait. */
  backoffMs: number;
}

/** The batch machine's working state: the outbox cursor, the push window, carried items, the commit. */
export interface BatchPushInternal {
  /** Unique per run: batch ids are `${runKey}.${seq}`. */
  runKey: string;
  /** The last batch sequence number given out. */
  batchSeq: number;
  highWater: number;
  cursor: number | undefined;
  exhausted: boolean;
  /** The batches out at once, in batch order (machines/push-window.ts). */
  window: PushWindow<BatchInFlight, PushBatchOutput>;
  /** Items to push again in this run (retryable failures, conflict resolutions). */
  carry: RepositoryEntity[];
  /** Whether the carry holds failures, which wait for a backoff before they go out again. */
  carryBackoff: boolean;
  /** Pushes in earlier batches of this run, for carried items only (a fresh item has none). */
  attempts: Record<string, number>;
  /** The outcome of the head batch just handled, until its commit starts. */
  planned: PlannedBatch | undefined;
  /** The batch whose outcome is being written (at most one), while later batches are pushed. */
  committing: PlannedBatch | undefined;
  /** What ended the run early, if anything did. */
  abortError: ErrorInfo | undefined;
}

export interface BatchPushContext {
  input: BatchPushInput;
  progress: BatchPushProgress;
  _internal: BatchPushInternal;
}

export interface BatchPushOutput {
  outcome: 'completed' | 'aborted';
  counts: RunCounts;
  /** The first `MAX_LISTED_FAILURES` failed items; `counts.failedItems` counts them all. */
  failures: FailedItem[];
  nextRetryAt: number | undefined;
  /** What went wrong: the error that ended the run early, or the last failed item's; `undefined` for a clean run. */
  error: ErrorInfo | undefined;
  /** The last error of any kind this run saw, even one it recovered from. */
  lastError: ErrorInfo | undefined;
}

/** Events the batch actor sends its parent. */
export type BatchToParentEvent =
  | { type: 'BATCH.PROGRESS'; counts: RunCounts }
  | { type: 'BATCH.RETRYING'; counts: RunCounts; error: ErrorInfo; retryAt: number; attempt: number };

// Inputs and outputs of the injected I/O actors.
export interface OpenOutboxInput {
  entityType: string;
}
export interface LoadPageInput {
  entityType: string;
  limit: number;
  after: number | undefined;
  upTo: number;
}
export interface PushBatchInput {
  entityType: string;
  batchId: string;
  items: RepositoryEntity[];
}
export interface CommitBatchInput {
  entityType: string;
  plan: BatchPlan<RepositoryEntity>;
  /** For the failure records: attempts before dead letter and the delay before the next attempt. */
  retry: RetryPolicy;
}

export type OpenOutboxOutput = OutboxSnapshot;
export type LoadPageOutput = PendingPage<RepositoryEntity>;
export type PushBatchOutput = Map<string, ItemResult<RepositoryEntity>>;
export type CommitBatchOutput = OutboxCommitResult;
