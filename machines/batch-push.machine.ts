import { and, assign, fromPromise, sendParent, setup } from 'xstate';
import { errorMessage, failureKind, TransientSyncError } from '../src/domain/errors.js';
import type { RepositoryEntity } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { planBatchFailure, planReply, settleBatch } from '../src/protocol/batch-outcome.js';
import type {
  BatchPushContext,
  BatchPushInput,
  BatchPushOutput,
  BatchToParentEvent,
  CommitBatchInput,
  CommitBatchOutput,
  LoadPageInput,
  LoadPageOutput,
  OpenOutboxInput,
  OpenOutboxOutput,
  PushBatchInput,
  PushBatchOutput,
} from './batch-push.types.js';

/** I/O the machine cannot do without: `createSyncMachine(deps)` (or `.provide()`) supplies the real ones. */
function notProvided<TOutput, TInput>(name: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`batchPushMachine: actor "${name}" was not provided`);
  });
}

/** The error of an `onError` transition, for action and guard params. */
const thrown = ({ event }: { event: { error: unknown } }): unknown => event.error;

/** Pushes of an item in this run: in earlier batches (carried items) plus in the current one. */
const itemAttempts = (context: BatchPushContext, id: string): number =>
  (context.attempts[id] ?? 0) + (context.batch?.attempt ?? 0);

const highestAttempt = (context: BatchPushContext): number => {
  const batch = context.batch;
  if (!batch) return 0;
  let highest = batch.attempt;
  // Only carried items have earlier pushes; a batch fresh from the outbox skips the scan.
  if (context.carry.length > 0 || Object.keys(context.attempts).length > 0) {
    for (const item of batch.items) highest = Math.max(highest, itemAttempts(context, item.id));
  }
  return highest;
};

/** The next batch of `items`, with an id that stays the same across its retries. */
const nextBatch = (context: BatchPushContext, items: RepositoryEntity[]) => ({
  batch: { batchId: `${context.runKey}.${context.batchSeq + 1}`, items, attempt: 0 },
  batchSeq: context.batchSeq + 1,
});

/**
 * The batch child of one entity type's run: takes a snapshot of the outbox, pages through it, pushes batches of
 * `batchSize`, retries transient failures with exponential backoff and full jitter, writes each batch's outcome
 * in one store commit and reports progress to its parent after every batch.
 */
export const batchPushMachine = setup({
  types: {
    context: {} as BatchPushContext,
    input: {} as BatchPushInput,
    output: {} as BatchPushOutput,
  },
  actors: {
    openOutbox: notProvided<OpenOutboxOutput, OpenOutboxInput>('openOutbox'),
    loadPage: notProvided<LoadPageOutput, LoadPageInput>('loadPage'),
    pushBatch: notProvided<PushBatchOutput, PushBatchInput>('pushBatch'),
    commitBatch: notProvided<CommitBatchOutput, CommitBatchInput>('commitBatch'),
  },
  delays: {
    backoff: ({ context }) => context.backoffMs,
  },
  guards: {
    hasCarry: ({ context }) => context.carry.length > 0,
    carryWantsBackoff: ({ context }) => context.carryBackoff,
    isExhausted: ({ context }) => context.exhausted,
    isEmptyPage: (_, page: LoadPageOutput) => page.items.length === 0,
    isFatal: (_, error: unknown) => failureKind(error) === 'fatal',
    canRetryBatch: ({ context }, error: unknown) =>
      failureKind(error) === 'transient' && highestAttempt(context) < context.input.retry.maxAttempts,
  },
  actions: {
    takeSnapshot: assign(({ context }, snapshot: OpenOutboxOutput) => ({
      counts: { ...context.counts, total: snapshot.total },
      highWater: snapshot.highWater,
      exhausted: snapshot.total === 0,
      // Items an earlier run left waiting keep their schedule even if this run has nothing to do.
      nextItemRetryAt: snapshot.nextDueAt,
    })),
    takePage: assign(({ context }, page: LoadPageOutput) => ({
      ...nextBatch(context, page.items),
      cursor: page.next,
      exhausted: page.next === undefined,
    })),
    markExhausted: assign({ exhausted: true }),
    takeCarry: assign(({ context }) => ({
      ...nextBatch(context, context.carry.slice(0, context.input.batchSize)),
      carry: context.carry.slice(context.input.batchSize),
      carryBackoff: context.carryBackoff && context.carry.length > context.input.batchSize,
    })),
    countAttempt: assign(({ context }) => {
      return { batch: context.batch && { ...context.batch, attempt: context.batch.attempt + 1 } };
    }),
    planReply: assign(({ context }, results: PushBatchOutput) => ({
      plan: planReply(
        {
          items: context.batch?.items ?? [],
          attempts: (id) => itemAttempts(context, id),
          maxAttempts: context.input.retry.maxAttempts,
          conflicts: context.input.conflicts,
          now: Date.now(),
        },
        results,
      ),
    })),
    planBatchFailure: assign(({ context }, error: unknown) => ({
      plan: planBatchFailure(
        context.batch?.items ?? [],
        errorMessage(error),
        failureKind(error) === 'transient',
      ),
      lastError: errorMessage(error),
    })),
    scheduleRetry: assign(({ context }, error: unknown) => {
      const leastMs = error instanceof TransientSyncError ? (error.retryAfterMs ?? 0) : 0;
      return {
        backoffMs: backoffDelay(highestAttempt(context), context.input.retry, context.input.random, leastMs),
        counts: { ...context.counts, retries: context.counts.retries + 1 },
        lastError: error === undefined ? context.lastError : errorMessage(error),
      };
    }),
    reportRetrying: sendParent(
      ({ context }): BatchToParentEvent => ({
        type: 'BATCH.RETRYING',
        counts: context.counts,
        error: context.lastError ?? 'unknown error',
        retryAt: Date.now() + context.backoffMs,
        attempt: highestAttempt(context) + 1,
      }),
    ),
    settle: assign(({ context }, written: CommitBatchOutput) => {
      const plan = context.plan;
      if (!plan) return {};
      const settled = settleBatch(plan, written);
      const carry = settled.carry.length ? [...context.carry, ...settled.carry] : context.carry;
      // Earlier pushes are kept for carried items only: those still waiting, and those this batch carries on.
      const attempts: Record<string, number> = {};
      for (const item of context.carry) attempts[item.id] = context.attempts[item.id] ?? 0;
      for (const item of settled.carry) attempts[item.id] = itemAttempts(context, item.id);
      const retryTimes = written.failures.flatMap((r) =>
        r.nextAttemptAt === undefined ? [] : [r.nextAttemptAt],
      );
      const firstRetry = Math.min(context.nextItemRetryAt ?? Number.POSITIVE_INFINITY, ...retryTimes);
      const lastFailure = plan.retryError ?? settled.failedItems.at(-1)?.error;
      return {
        counts: {
          ...context.counts,
          total: context.counts.total - settled.superseded,
          synced: context.counts.synced + settled.synced,
          failed: context.counts.failed + settled.failed,
          conflicts: context.counts.conflicts + settled.conflicts,
        },
        failedItems: settled.failedItems.length
          ? [...context.failedItems, ...settled.failedItems]
          : context.failedItems,
        carry,
        carryBackoff: context.carryBackoff || settled.backoff,
        attempts,
        plan: undefined,
        batch: undefined,
        lastError: lastFailure ?? context.lastError,
        nextItemRetryAt: Number.isFinite(firstRetry) ? firstRetry : undefined,
      };
    }),
    closeCounts: assign(({ context }) => ({
      // Items that left the run (edited or deleted locally before they were paged) are not counted.
      counts: { ...context.counts, total: context.counts.synced + context.counts.failed },
    })),
    recordAbort: assign((_, error: unknown) => ({ abortError: errorMessage(error) })),
    reportProgress: sendParent(
      ({ context }): BatchToParentEvent => ({ type: 'BATCH.PROGRESS', counts: context.counts }),
    ),
  },
}).createMachine({
  id: 'batchPush',
  context: ({ input }) => ({
    input: { random: Math.random, ...input },
    counts: { total: 0, synced: 0, failed: 0, conflicts: 0, retries: 0 },
    failedItems: [],
    runKey: `${input.entityType}.${input.runId}.${globalThis.crypto.randomUUID()}`,
    batchSeq: 0,
    highWater: 0,
    cursor: undefined,
    exhausted: false,
    batch: undefined,
    carry: [],
    carryBackoff: false,
    attempts: {},
    plan: undefined,
    backoffMs: 0,
    lastError: undefined,
    nextItemRetryAt: undefined,
    abortError: undefined,
  }),
  initial: 'opening',
  states: {
    opening: {
      invoke: {
        src: 'openOutbox',
        input: ({ context }) => ({ entityType: context.input.entityType }),
        onDone: {
          target: 'next',
          actions: [{ type: 'takeSnapshot', params: ({ event }) => event.output }, 'reportProgress'],
        },
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    next: {
      always: [
        {
          guard: and(['hasCarry', 'carryWantsBackoff']),
          target: 'backingOff',
          actions: ['takeCarry', { type: 'scheduleRetry', params: undefined }, 'reportRetrying'],
        },
        { guard: 'hasCarry', target: 'pushing', actions: 'takeCarry' },
        { guard: 'isExhausted', target: 'done' },
        { target: 'loading' },
      ],
    },
    loading: {
      invoke: {
        src: 'loadPage',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          limit: context.input.batchSize,
          after: context.cursor,
          upTo: context.highWater,
        }),
        onDone: [
          {
            guard: { type: 'isEmptyPage', params: ({ event }) => event.output },
            target: 'done',
            actions: 'markExhausted',
          },
          { target: 'pushing', actions: { type: 'takePage', params: ({ event }) => event.output } },
        ],
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    pushing: {
      entry: 'countAttempt',
      invoke: {
        src: 'pushBatch',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          batchId: context.batch?.batchId ?? '',
          items: context.batch?.items ?? [],
        }),
        onDone: { target: 'committing', actions: { type: 'planReply', params: ({ event }) => event.output } },
        onError: [
          {
            guard: { type: 'isFatal', params: thrown },
            target: 'aborted',
            actions: { type: 'recordAbort', params: thrown },
          },
          {
            guard: { type: 'canRetryBatch', params: thrown },
            target: 'backingOff',
            actions: [{ type: 'scheduleRetry', params: thrown }, 'reportRetrying'],
          },
          { target: 'committing', actions: { type: 'planBatchFailure', params: thrown } },
        ],
      },
    },
    // The retry wait: the same batch (same id) goes out again when it ends.
    backingOff: {
      after: { backoff: 'pushing' },
    },
    committing: {
      invoke: {
        src: 'commitBatch',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          plan: context.plan ?? planBatchFailure([], '', true),
          retry: context.input.retry,
          random: context.input.random,
        }),
        onDone: {
          target: 'next',
          actions: [{ type: 'settle', params: ({ event }) => event.output }, 'reportProgress'],
        },
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    done: { type: 'final', entry: 'closeCounts' },
    aborted: { type: 'final' },
  },
  output: ({ context }) => ({
    outcome: context.abortError === undefined ? 'completed' : 'aborted',
    counts: context.counts,
    failedItems: context.failedItems,
    nextRetryAt: context.nextItemRetryAt,
    // A failed run is described by its failed items' own errors, not by a batch error it recovered from.
    errorMessage:
      context.abortError ??
      (context.counts.failed > 0 ? (context.failedItems.at(-1)?.error ?? context.lastError) : undefined),
    lastError: context.abortError ?? context.lastError,
  }),
});
