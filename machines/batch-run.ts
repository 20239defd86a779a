/**
 * Pure functions over one run's batch context: what the batch machine's guards and actions compute, kept apart
 * so the machine file reads as the design and each rule can be tested alone. No XState here.
 */
import type { ErrorInfo } from '../src/domain/errors.js';
import type { RepositoryEntity } from '../src/domain/types.js';
import { failureError, settleBatch } from '../src/protocol/batch-outcome.js';
import type {
  BatchInFlight,
  BatchPushContext,
  BatchPushInput,
  BatchPushInternal,
  BatchPushOutput,
  BatchPushProgress,
  CommitBatchOutput,
  PushBatchOutput,
  RunCounts,
} from './batch-push.types.js';
import * as pushWindow from './push-window.js';

/**
 * How many failed items a run lists in its output. A run in which every item is rejected must not build (and,
 * batch after batch, copy) a list as long as the backlog; the count stays exact and the store's failure records
 * hold every one.
 */
export const MAX_LISTED_FAILURES = 1_000;

type Context = BatchPushContext;
export type PushResult = pushWindow.PushResult<PushBatchOutput>;

export function initialContext(input: BatchPushInput): Context {
  return {
    input,
    progress: {
      counts: { totalItems: 0, syncedItems: 0, failedItems: 0, conflicts: 0, retries: 0 },
      failures: [],
      lastItemError: undefined,
      lastError: undefined,
      nextItemRetryAt: undefined,
      backoffMs: 0,
    },
    _internal: {
      runKey: `${input.entityType}.${input.runId}.${input.sources.newBatchKey()}`,
      batchSeq: 0,
      highWater: 0,
      cursor: undefined,
      exhausted: false,
      window: pushWindow.EMPTY_WINDOW,
      carry: [],
      carryBackoff: false,
      attempts: {},
      planned: undefined,
      committing: undefined,
      abortError: undefined,
    },
  };
}

/** A context update of the internal part only. */
export const internal = (context: Context, change: Partial<BatchPushInternal>) => ({
  _internal: { ...context._internal, ...change },
});

/** A context update of the part others read. */
export const progress = (context: Context, change: Partial<BatchPushProgress>) => ({
  progress: { ...context.progress, ...change },
});

export const headBatch = (context: Context): BatchInFlight | undefined =>
  pushWindow.head(context._internal.window)?.batch;

export const headResult = (context: Context): PushResult | undefined =>
  pushWindow.headResult(context._internal.window);

/** Pushes of an item in this run: in earlier batches (carried items) plus in the head batch. */
export const itemAttempts = (context: Context, id: string): number =>
  (context._internal.attempts[id] ?? 0) + (headBatch(context)?.attempt ?? 0);

/** The most pushes of any item in the head batch: what the batch's backoff and attempt limit go by. */
export function highestAttempt(context: Context): number {
  const batch = headBatch(context);
  if (!batch) return 0;
  let highest = batch.attempt;
  // Only carried items have earlier pushes; a batch fresh from the outbox skips the scan.
  if (Object.keys(context._internal.attempts).length > 0) {
    for (const item of batch.items) highest = Math.max(highest, itemAttempts(context, item.id));
  }
  return highest;
}

/** The next batch of `items`, with an id that stays the same across its retries. */
export function nextBatch(internal: BatchPushInternal, items: RepositoryEntity[]): BatchInFlight {
  const seq = internal.batchSeq + 1;
  return { seq, batchId: `${internal.runKey}.${seq}`, items, attempt: 0 };
}

/** Only the outbox's next page is loaded ahead, never past a carry (it goes first, once the window is empty). */
export const mayLoadPage = (context: Context, window: BatchPushInternal['window']): boolean =>
  pushWindow.hasRoom(window, context.input.policy.maxBatchesInFlight) &&
  !window.loading &&
  !context._internal.exhausted &&
  context._internal.carry.length === 0;

/** The run after the batch being committed is written: counts, failures, items carried on. */
export function applyCommit(context: Context, written: CommitBatchOutput): Partial<Context> {
  const { committing } = context._internal;
  if (!committing) return {};
  const settled = settleBatch(committing.plan, written);
  const { counts, failures } = context.progress;
  // Earlier pushes are kept for carried items only: this batch's items leave, those it carries on stay.
  let attempts = context._internal.attempts;
  if (settled.carry.length > 0 || Object.keys(attempts).length > 0) {
    attempts = { ...attempts };
    for (const item of committing.items) delete attempts[item.id];
    for (const item of settled.carry) {
      attempts[item.id] = (context._internal.attempts[item.id] ?? 0) + committing.attempt;
    }
  }
  const retryTimes = written.failures.flatMap((r) =>
    r.nextAttemptAt === undefined ? [] : [r.nextAttemptAt],
  );
  const firstRetry = Math.min(context.progress.nextItemRetryAt ?? Number.POSITIVE_INFINITY, ...retryTimes);
  const lastItemError = failureError(committing.plan, settled.failures.at(-1));
  const lastFailure = committing.plan.retryError ?? lastItemError;
  return {
    ...progress(context, {
      counts: {
        ...counts,
        totalItems: counts.totalItems - settled.supersededItems,
        syncedItems: counts.syncedItems + settled.syncedItems,
        failedItems: counts.failedItems + settled.failedItems,
        conflicts: counts.conflicts + settled.conflicts,
      },
      failures:
        settled.failures.length && failures.length < MAX_LISTED_FAILURES
          ? [...failures, ...settled.failures.slice(0, MAX_LISTED_FAILURES - failures.length)]
          : failures,
      lastItemError: lastItemError ?? context.progress.lastItemError,
      lastError: lastFailure ?? context.progress.lastError,
      nextItemRetryAt: Number.isFinite(firstRetry) ? firstRetry : undefined,
    }),
    ...internal(context, {
      carry: settled.carry.length ? [...context._internal.carry, ...settled.carry] : context._internal.carry,
      carryBackoff: context._internal.carryBackoff || settled.backoff,
      attempts,
      committing: undefined,
    }),
  };
}

export function runOutput(context: Context): BatchPushOutput {
  const { abortError } = context._internal;
  const { counts, failures, nextItemRetryAt, lastItemError, lastError } = context.progress;
  return {
    outcome: abortError === undefined ? 'completed' : 'aborted',
    counts,
    failures,
    nextRetryAt: nextItemRetryAt,
    // A failed run is described by its failed items' own errors, not by a batch error it recovered from.
    error: abortError ?? (counts.failedItems > 0 ? (lastItemError ?? lastError) : undefined),
    lastError: abortError ?? lastError,
  };
}

/** A batch as the inspector shows it: its id, size, pushes so far and where it is in the window. */
export interface BatchView {
  batchId: string;
  items: number;
  attempt: number;
  status: 'queued' | 'out' | 'in';
}

/** What the inspector shows of a batch actor: counts, the window, carried items, waits and errors, no records. */
export interface BatchPushView {
  counts: RunCounts;
  /** The last batch sequence number given out. */
  batchSeq: number;
  /** The head of the window: the batch whose result is handled next. */
  batch: BatchView | undefined;
  window: BatchView[];
  /** Most pushes of a carried item in earlier batches of this run. */
  attempts: number;
  carry: number;
  backoffMs: number;
  lastError: ErrorInfo | undefined;
  nextItemRetryAt: number | undefined;
}

/** The typed projection the inspector reads (src/inspect/inspector-model.ts), instead of fields by name. */
export function batchPushView(context: Context): BatchPushView {
  const window = context._internal.window.slots.map(
    (slot): BatchView => ({
      batchId: slot.batch.batchId,
      items: slot.batch.items.length,
      attempt: slot.batch.attempt,
      status: slot.status,
    }),
  );
  return {
    counts: context.progress.counts,
    batchSeq: context._internal.batchSeq,
    batch: window[0],
    window,
    attempts: Math.max(0, ...Object.values(context._internal.attempts)),
    carry: context._internal.carry.length,
    backoffMs: context.progress.backoffMs,
    lastError: context.progress.lastError,
    nextItemRetryAt: context.progress.nextItemRetryAt,
  };
}
