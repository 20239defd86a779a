import type { ErrorInfo } from '../src/domain/errors.js';
import type { FailedItem, RefusedChange, SyncDirection, SyncPhase, SyncState } from '../src/domain/types.js';
import type { BatchPushOutput, BatchToParentEvent, RunCounts } from './batch-push.types.js';
import type { PullCounts, PullOutput, PullToParentEvent, WatchChangesOutput } from './pull.types.js';
import type { RunPolicy, RunSources } from './run-policy.js';

export interface EntitySyncInput {
  entityType: string;
  policy: RunPolicy;
  sources: RunSources;
  /** What a run does: push the outbox, pull the server's changes, or push then pull. */
  direction: SyncDirection;
  /** Between runs, hold a long-poll for the server's changes and ask for a run when one arrives (pulling types). */
  live: boolean;
}

/**
 * What an error did to a run: it is waiting to retry a batch, it stopped early, items failed, or the batch actor
 * itself failed (a bug). The facade words each one (`toSyncProgress`).
 */
export type RunErrorOutcome = 'retrying' | 'stopped' | 'items-failed' | 'changes-refused' | 'crashed';

/** The error that describes a run's state, as data. */
export interface RunError extends ErrorInfo {
  outcome: RunErrorOutcome;
  /** The part of the run the error happened in (absent for a crash outside both). */
  phase?: SyncPhase;
}

/** The state of one run as the entity actor reports it: the raw material of `SyncProgress`. */
export interface RunSnapshot {
  entityType: string;
  state: SyncState;
  runId: number;
  /** The push's counts. */
  counts: RunCounts;
  /** The pull's counts. */
  pull: PullCounts;
  /** What the run is doing while `syncing`; the last phase it reached once it ended. */
  phase: SyncPhase | undefined;
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
  /** The pull's first `MAX_LISTED_FAILURES` refused changes; `pull.refusedItems` counts them all. */
  refused: RefusedChange[];
  durationMs: number;
}

export interface EntitySyncContext {
  config: EntitySyncInput;
  runId: number;
  counts: RunCounts;
  pull: PullCounts;
  phase: SyncPhase | undefined;
  /** The push's output while the run goes on to pull. */
  pushed: BatchPushOutput | undefined;
  /** Epoch ms of the resets of recent runs, for the reset cap (`policy.pull.maxResets`). */
  resetTimes: number[];
  /** Live watches that failed in a row: backs off the next one. */
  watchFailures: number;
  /** The run under way was asked for by the live watch. */
  woke: boolean;
  /**
   * Runs in a row that the live watch asked for and whose pull then received nothing: each doubles the wait before
   * the next watch, so a server that keeps saying "changed" cannot start runs back to back.
   */
  spuriousWakes: number;
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
  | { kind: 'finished'; push: BatchPushOutput | undefined; pull: PullOutput | undefined }
  | { kind: 'crashed'; error: unknown }
  | { kind: 'cancelled' };

export type EntitySyncEvent =
  | { type: 'SYNC' }
  | { type: 'CANCEL' }
  | BatchToParentEvent
  | PullToParentEvent
  | { type: 'xstate.done.actor.batch'; output: BatchPushOutput }
  | { type: 'xstate.error.actor.batch'; error: unknown }
  | { type: 'xstate.done.actor.pull'; output: PullOutput }
  | { type: 'xstate.error.actor.pull'; error: unknown }
  | { type: 'xstate.done.actor.watch'; output: WatchChangesOutput }
  | { type: 'xstate.error.actor.watch'; error: unknown };

/** Events an entity actor sends its parent (the coordinator). */
export type EntityToParentEvent =
  | { type: 'ENTITY.PROGRESS'; snapshot: RunSnapshot }
  | { type: 'ENTITY.RUN_DONE'; report: RunReport }
  | { type: 'ENTITY.RETRY_DUE'; entityType: string }
  /** Live mode: the server has changes after the stored checkpoint. */
  | { type: 'ENTITY.REMOTE_CHANGED'; entityType: string };
