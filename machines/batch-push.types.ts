import type {
  ConflictPolicy,
  FailedItem,
  ItemResult,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  RepositoryEntity,
  RetryPolicy,
} from '../src/domain/types.js';
import type { BatchPlan } from '../src/protocol/batch-outcome.js';

export interface BatchPushInput {
  entityType: string;
  runId: number;
  batchSize: number;
  retry: RetryPolicy;
  conflicts: ConflictPolicy;
  /**
   * Pushes in flight at once: 1 or 2 (default). With 2 the next page is loaded and pushed (a lookahead) while the
   * current batch's request is out; its result is still handled only after the current batch's.
   */
  maxBatchesInFlight?: 1 | 2;
  /** Jitter source for backoff; `Math.random` by default. */
  random?: () => number;
}

/** The counts of one run so far. */
export interface RunCounts {
  /** Items this run covers: the outbox at its start, less items changed or deleted locally meanwhile. */
  total: number;
  synced: number;
  failed: number;
  conflicts: number;
  /** Batch pushes that failed and were tried again. */
  retries: number;
}

export interface BatchInFlight {
  /** Stable across retries of this batch: the server's idempotency key. */
  batchId: string;
  items: RepositoryEntity[];
  /** Pushes of this batch so far (it is pushed again, same id, after a transient failure). */
  attempt: number;
}

export interface CommittingBatch {
  plan: BatchPlan<RepositoryEntity>;
  items: RepositoryEntity[];
  /** Pushes of that batch, for the attempt counts of the items it carries on. */
  attempt: number;
}

/** The two child ids a lookahead push alternates between: the adopted push may still be out when the next starts. */
export type PushLane = 'laneA' | 'laneB';

/** What a lookahead push came back with, kept until its batch's turn comes. */
export type LaneResult = { output: PushBatchOutput } | { error: unknown };

/** A batch pushed ahead of its turn (`maxBatchesInFlight: 2`), not yet the current batch. */
export interface AheadBatch {
  batch: BatchInFlight;
  /** The child pushing it; undefined for a page kept, not pushed, during a retry wait. */
  lane: PushLane | undefined;
  result: LaneResult | undefined;
}

/** The current batch's push when it went out as a lookahead: its result, once it is in. */
export interface AdoptedPush {
  lane: PushLane;
  result: LaneResult | undefined;
}

/**
 * Events the batch actor handles besides its invoked actors' results: its spawned commit's outcome and, with
 * lookahead, the spawned page load and pushes.
 */
export type BatchPushEvent =
  | { type: 'xstate.done.actor.commit'; output: CommitBatchOutput }
  | { type: 'xstate.error.actor.commit'; error: unknown }
  | { type: 'xstate.done.actor.aheadPage'; output: LoadPageOutput }
  | { type: 'xstate.error.actor.aheadPage'; error: unknown }
  | { type: `xstate.done.actor.${PushLane}`; output: PushBatchOutput }
  | { type: `xstate.error.actor.${PushLane}`; error: unknown };

export interface BatchPushContext {
  input: Required<BatchPushInput>;
  counts: RunCounts;
  /** The run's first `MAX_LISTED_FAILURES` failed items (`counts.failed` counts them all). */
  failedItems: FailedItem[];
  /** The error of the run's last failed item, listed or not. */
  lastItemError: string | undefined;
  /** Unique per run: batch ids are `${runKey}.${batchSeq}`. */
  runKey: string;
  batchSeq: number;
  highWater: number;
  cursor: number | undefined;
  exhausted: boolean;
  batch: BatchInFlight | undefined;
  /** Items to push again in this run (retryable failures, conflict resolutions). */
  carry: RepositoryEntity[];
  /** Whether the carry holds failures, which wait for a backoff before they go out again. */
  carryBackoff: boolean;
  /** Pushes in earlier batches of this run, for carried items only (a fresh item has none). */
  attempts: Record<string, number>;
  /** The outcome of the batch just pushed, until its commit starts. */
  plan: BatchPlan<RepositoryEntity> | undefined;
  /** The batch whose outcome is being written (at most one), while the next batch is pushed. */
  committing: CommittingBatch | undefined;
  /**
   * The next batch, taken while the current one is out (`maxBatchesInFlight: 2`): pushed at once on a lane, or
   * kept unsent (no lane) when it arrived during a retry wait.
   */
  ahead: AheadBatch | undefined;
  /** Whether the lookahead's page is being loaded (from `cursor`; no other load runs meanwhile). */
  aheadLoading: boolean;
  /** The lane of the current batch's push when it was a lookahead, until its result is handled. */
  adopted: AdoptedPush | undefined;
  /** The lane the next lookahead push goes out on. */
  nextLane: PushLane;
  /** A retry wait is on: no lookahead is pushed until the retried batch goes out again. */
  retryPause: boolean;
  backoffMs: number;
  lastError: string | undefined;
  /** Earliest next attempt of an item waiting for a later run (left by this run or an earlier one). */
  nextItemRetryAt: number | undefined;
  abortError: string | undefined;
}

export interface BatchPushOutput {
  outcome: 'completed' | 'aborted';
  counts: RunCounts;
  /** The first `MAX_LISTED_FAILURES` failed items; `counts.failed` counts them all. */
  failedItems: FailedItem[];
  nextRetryAt: number | undefined;
  errorMessage: string | undefined;
  /** The last error of any kind this run saw, even one it recovered from. */
  lastError: string | undefined;
}

/** Events the batch actor sends its parent. */
export type BatchToParentEvent =
  | { type: 'BATCH.PROGRESS'; counts: RunCounts }
  | { type: 'BATCH.RETRYING'; counts: RunCounts; error: string; retryAt: number; attempt: number };

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
  retry: RetryPolicy;
  random: () => number;
}

export type OpenOutboxOutput = OutboxSnapshot;
export type LoadPageOutput = PendingPage<RepositoryEntity>;
export type PushBatchOutput = Map<string, ItemResult<RepositoryEntity>>;
export type CommitBatchOutput = OutboxCommitResult;
