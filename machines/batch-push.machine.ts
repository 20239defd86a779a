import { and, assign, enqueueActions, not, sendParent, setup, stopChild } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import {
  failureKind,
  RemoteUnavailableError,
  TransientSyncError,
  toErrorInfo,
} from '../src/domain/errors.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { planBatchFailure, planReply } from '../src/protocol/batch-outcome.js';
import type {
  BatchPushContext,
  BatchPushEvent,
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
import {
  applyCommit,
  headBatch,
  headResult,
  highestAttempt,
  initialContext,
  internal,
  itemAttempts,
  mayLoadPage,
  nextBatch,
  type PushResult,
  progress,
  runOutput,
} from './batch-run.js';
import { notProvided } from './not-provided.js';
import * as pushWindow from './push-window.js';

export { MAX_LISTED_FAILURES } from './batch-run.js';
export { DEFAULT_MAX_BATCHES_IN_FLIGHT } from './run-policy.js';

type Context = BatchPushContext;

/** The error of an `onError` transition, for action and guard params. */
const thrown = ({ event }: { event: { error: unknown } }): unknown => event.error;
/** The head's reply (guards make sure it succeeded). */
const headOutput = ({ context }: { context: Context }): PushBatchOutput => {
  const result = headResult(context);
  return result && 'output' in result ? result.output : new Map();
};
/** The head's error (guards make sure it failed). */
const headError = ({ context }: { context: Context }): unknown => {
  const result = headResult(context);
  return result && 'error' in result ? result.error : undefined;
};

/**
 * The batch child of one entity type's run: takes a snapshot of the outbox, pages through it, keeps up to
 * `maxBatchesInFlight` batches out at once (the push window), settles their results strictly in batch order
 * (only the head's, ever), retries transient failures of the head with exponential backoff and full jitter,
 * writes each batch's outcome in one store commit and reports progress to its parent after every batch.
 */
export const batchPushMachine = setup({
  types: {
    context: {} as BatchPushContext,
    events: {} as BatchPushEvent,
    input: {} as BatchPushInput,
    output: {} as BatchPushOutput,
  },
  actors: {
    openOutbox: notProvided<OpenOutboxOutput, OpenOutboxInput>('batchPushMachine', 'openOutbox'),
    loadPage: notProvided<LoadPageOutput, LoadPageInput>('batchPushMachine', 'loadPage'),
    pushBatch: notProvided<PushBatchOutput, PushBatchInput>('batchPushMachine', 'pushBatch'),
    commitBatch: notProvided<CommitBatchOutput, CommitBatchInput>('batchPushMachine', 'commitBatch'),
  },
  delays: {
    backoff: ({ context }) => clampDelay(context.progress.backoffMs),
  },
  guards: {
    windowIdle: ({ context }) => pushWindow.isIdle(context._internal.window),
    headIsIn: ({ context }) => headResult(context) !== undefined,
    headSucceeded: ({ context }) => {
      const result = headResult(context);
      return result !== undefined && 'output' in result;
    },
    hasCarry: ({ context }) => context._internal.carry.length > 0,
    carryWantsBackoff: ({ context }) => context._internal.carryBackoff,
    isExhausted: ({ context }) => context._internal.exhausted,
    commitInFlight: ({ context }) => context._internal.committing !== undefined,
    isEmptyPage: (_, page: LoadPageOutput) => page.items.length === 0,
    isFatal: (_, error: unknown) => failureKind(error) === 'fatal',
    isUnavailable: (_, error: unknown) => error instanceof RemoteUnavailableError,
    canRetryBatch: ({ context }, error: unknown) =>
      failureKind(error) === 'transient' && highestAttempt(context) < context.input.policy.retry.maxAttempts,
  },
  actions: {
    takeSnapshot: assign(({ context }, snapshot: OpenOutboxOutput) => ({
      ...progress(context, {
        counts: { ...context.progress.counts, totalItems: snapshot.total },
        // Items an earlier run left waiting keep their schedule even if this run has nothing to do.
        nextItemRetryAt: snapshot.nextDueAt,
      }),
      ...internal(context, { highWater: snapshot.highWater, exhausted: snapshot.total === 0 }),
    })),
    /** Sends every queued batch, then loads the next page if the window has room. */
    fillWindow: enqueueActions(({ context, enqueue }) => {
      const { entityType } = context.input;
      const { batchSize } = context.input.policy;
      let { window, sent } = pushWindow.sendQueued(context._internal.window);
      for (const batch of sent) {
        enqueue.spawnChild('pushBatch', {
          id: pushWindow.pushActorId(batch.seq),
          input: { entityType, batchId: batch.batchId, items: batch.items },
        });
      }
      if (mayLoadPage(context, window)) {
        const { cursor, highWater } = context._internal;
        enqueue.spawnChild('loadPage', {
          id: 'page',
          input: { entityType, limit: batchSize, after: cursor, upTo: highWater },
        });
        window = pushWindow.startLoading(window);
      }
      if (window !== context._internal.window) enqueue.assign(internal(context, { window }));
    }),
    takePage: assign(({ context }, page: LoadPageOutput) => {
      const batch = nextBatch(context._internal, page.items);
      return internal(context, {
        batchSeq: batch.seq,
        window: pushWindow.enqueue(context._internal.window, batch),
        cursor: page.next,
        exhausted: page.next === undefined,
      });
    }),
    markExhausted: assign(({ context }) =>
      internal(context, { exhausted: true, window: pushWindow.stopLoading(context._internal.window) }),
    ),
    recordPush: assign(({ context }, push: { actorId: string; result: PushResult }) =>
      internal(context, {
        window: pushWindow.recordResult(
          context._internal.window,
          pushWindow.seqOfPush(push.actorId),
          push.result,
        ),
      }),
    ),
    takeCarry: assign(({ context }) => {
      const { carry, carryBackoff } = context._internal;
      const { batchSize } = context.input.policy;
      const batch = nextBatch(context._internal, carry.slice(0, batchSize));
      return internal(context, {
        batchSeq: batch.seq,
        window: pushWindow.enqueue(context._internal.window, batch),
        carry: carry.slice(batchSize),
        carryBackoff: carryBackoff && carry.length > batchSize,
      });
    }),
    planReply: assign(({ context }, results: PushBatchOutput) => {
      const batch = headBatch(context);
      const items = batch?.items ?? [];
      const plan = planReply(
        {
          items,
          attempts: (id) => itemAttempts(context, id),
          maxAttempts: context.input.policy.retry.maxAttempts,
          conflicts: context.input.policy.conflicts,
          now: context.input.sources.now(),
        },
        results,
      );
      return internal(context, {
        planned: { plan, items, attempt: batch?.attempt ?? 0 },
        window: pushWindow.dropHead(context._internal.window),
      });
    }),
    planBatchFailure: assign(({ context }, error: unknown) => {
      const batch = headBatch(context);
      const items = batch?.items ?? [];
      const plan = planBatchFailure(items, toErrorInfo(error));
      return {
        ...progress(context, { lastError: toErrorInfo(error) }),
        ...internal(context, {
          planned: { plan, items, attempt: batch?.attempt ?? 0 },
          window: pushWindow.dropHead(context._internal.window),
        }),
      };
    }),
    scheduleRetry: assign(({ context }, error: unknown) => {
      const leastMs = error instanceof TransientSyncError ? (error.retryAfterMs ?? 0) : 0;
      const { policy, sources } = context.input;
      return progress(context, {
        backoffMs: backoffDelay(highestAttempt(context), policy.retry, sources.random, leastMs),
        counts: { ...context.progress.counts, retries: context.progress.counts.retries + 1 },
        lastError: error === undefined ? context.progress.lastError : toErrorInfo(error),
      });
    }),
    /** The head goes out again, same id, once the wait is over; nothing else is sent meanwhile. */
    requeueHead: assign(({ context }) =>
      internal(context, { window: pushWindow.requeueHead(context._internal.window) }),
    ),
    reportRetrying: sendParent(
      ({ context }): BatchToParentEvent => ({
        type: 'BATCH.RETRYING',
        counts: context.progress.counts,
        error: context.progress.lastError ?? toErrorInfo('unknown error'),
        retryAt: context.input.sources.now() + context.progress.backoffMs,
        attempt: highestAttempt(context) + 1,
      }),
    ),
    /**
     * Writes the batch just settled while later ones are out: the durable commit (an fsync) overlaps the network
     * wait. Paging is by cursor, so no later page holds this batch's items.
     */
    startCommit: enqueueActions(({ context, enqueue }) => {
      const { planned } = context._internal;
      if (!planned) return;
      const { entityType, policy } = context.input;
      enqueue.spawnChild('commitBatch', {
        id: 'commit',
        input: { entityType, plan: planned.plan, retry: policy.retry },
      });
      enqueue.assign(internal(context, { committing: planned, planned: undefined }));
    }),
    settle: assign(({ context }, written: CommitBatchOutput) => applyCommit(context, written)),
    closeCounts: assign(({ context }) => {
      const { counts } = context.progress;
      // Items that left the run (edited or deleted locally before they were paged) are not counted.
      return progress(context, {
        counts: { ...counts, totalItems: counts.syncedItems + counts.failedItems },
      });
    }),
    // The first error is why the run stopped; a page that fails while it waits for a commit leaves it.
    recordAbort: assign(({ context }, error: unknown) =>
      internal(context, { abortError: context._internal.abortError ?? toErrorInfo(error) }),
    ),
    // A commit that fails is the run's error even when the run was already stopping: a store that cannot write is
    // what must be fixed first, and the one report of it (its items stay pending, sent again by the next run).
    recordCommitError: assign(({ context }, error: unknown) =>
      internal(context, { abortError: toErrorInfo(error) }),
    ),
    reportProgress: sendParent(
      ({ context }): BatchToParentEvent => ({ type: 'BATCH.PROGRESS', counts: context.progress.counts }),
    ),
  },
}).createMachine({
  id: 'batchPush',
  context: ({ input }) => initialContext(input),
  initial: 'opening',
  on: {
    // Any push's result, in whatever order they come back: kept in the window until its batch is the head.
    'xstate.done.actor.push.*': {
      actions: [
        {
          type: 'recordPush',
          params: ({ event }) => ({ actorId: event.actorId, result: { output: event.output } }),
        },
        stopChild(({ event }) => event.actorId),
      ],
    },
    'xstate.error.actor.push.*': {
      actions: [
        {
          type: 'recordPush',
          params: ({ event }) => ({ actorId: event.actorId, result: { error: event.error } }),
        },
        stopChild(({ event }) => event.actorId),
      ],
    },
    // A page for the window; in `backingOff` it is kept, not pushed.
    'xstate.done.actor.page': [
      { guard: { type: 'isEmptyPage', params: ({ event }) => event.output }, actions: 'markExhausted' },
      { actions: [{ type: 'takePage', params: ({ event }) => event.output }, 'fillWindow'] },
    ],
    'xstate.error.actor.page': { target: '.stopping', actions: { type: 'recordAbort', params: thrown } },
    // A commit that finishes while later batches are out.
    'xstate.done.actor.commit': {
      actions: [{ type: 'settle', params: ({ event }) => event.output }, 'reportProgress'],
    },
    // A failed commit ends the run at once: commits are one at a time, so none is left to wait for.
    'xstate.error.actor.commit': {
      target: '.aborted',
      actions: { type: 'recordCommitError', params: thrown },
    },
  },
  states: {
    opening: {
      invoke: {
        src: 'openOutbox',
        input: ({ context }) => ({ entityType: context.input.entityType }),
        onDone: {
          target: 'next',
          actions: [{ type: 'takeSnapshot', params: ({ event }) => event.output }, 'reportProgress'],
        },
        onError: { target: 'stopping', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    // Carried items go out once the window is empty, so every batch before them is settled first.
    next: {
      always: [
        {
          guard: and(['windowIdle', 'hasCarry', 'carryWantsBackoff']),
          target: 'backingOff',
          actions: ['takeCarry', { type: 'scheduleRetry', params: undefined }, 'reportRetrying'],
        },
        { guard: and(['windowIdle', 'hasCarry']), target: 'pushing', actions: 'takeCarry' },
        { guard: and(['windowIdle', 'isExhausted']), target: 'draining' },
        { target: 'pushing' },
      ],
    },
    // The window fills; only the head's result is looked at.
    pushing: {
      entry: 'fillWindow',
      always: [
        { guard: 'headIsIn', target: 'headResult' },
        // The page loaded for the window was empty: nothing is out.
        { guard: 'windowIdle', target: 'next' },
      ],
    },
    // The head's outcome, each branch once: ok, fatal, retry, give up.
    headResult: {
      always: [
        {
          guard: 'headSucceeded',
          target: 'handOff',
          actions: { type: 'planReply', params: headOutput },
        },
        {
          guard: { type: 'isFatal', params: headError },
          target: 'stopping',
          actions: { type: 'recordAbort', params: headError },
        },
        {
          guard: { type: 'canRetryBatch', params: headError },
          target: 'backingOff',
          actions: [{ type: 'scheduleRetry', params: headError }, 'reportRetrying', 'requeueHead'],
        },
        // Out of attempts against a remote that cannot be reached: nothing about the items; the run stops and
        // its items stay pending, no attempt counted against them (an offline device never dead-letters).
        {
          guard: { type: 'isUnavailable', params: headError },
          target: 'stopping',
          actions: { type: 'recordAbort', params: headError },
        },
        { target: 'handOff', actions: { type: 'planBatchFailure', params: headError } },
      ],
    },
    // The retry wait: nothing is sent; the head (same id) and any page that came in go out when it ends.
    backingOff: {
      after: { backoff: 'pushing' },
      on: {
        'xstate.done.actor.page': [
          { guard: { type: 'isEmptyPage', params: ({ event }) => event.output }, actions: 'markExhausted' },
          { actions: { type: 'takePage', params: ({ event }) => event.output } },
        ],
      },
    },
    // The head just handled is written while later batches are out; a second commit waits for the first.
    handOff: {
      always: [
        { guard: 'commitInFlight', target: 'awaitingCommit' },
        { target: 'next', actions: 'startCommit' },
      ],
    },
    awaitingCommit: {
      on: {
        'xstate.done.actor.commit': {
          target: 'handOff',
          actions: [{ type: 'settle', params: ({ event }) => event.output }, 'reportProgress'],
        },
      },
    },
    // Nothing left to push: wait for the last commit, whose outcome may carry items on.
    draining: {
      always: { guard: not('commitInFlight'), target: 'done' },
      on: {
        'xstate.done.actor.commit': {
          target: 'next',
          actions: [{ type: 'settle', params: ({ event }) => event.output }, 'reportProgress'],
        },
      },
    },
    // The run stops early (a fatal error, an unreachable remote, a page or outbox that cannot be read), but a
    // commit in flight is a store write that finishes anyway: the run waits for it (the top-level handler settles
    // it) so its items are counted as synced, and sends nothing more meanwhile.
    stopping: {
      always: { guard: not('commitInFlight'), target: 'aborted' },
      // A page that arrives (or fails) now is of no use: nothing more goes out.
      on: { 'xstate.done.actor.page': {}, 'xstate.error.actor.page': {} },
    },
    done: { type: 'final', entry: 'closeCounts' },
    aborted: { type: 'final' },
  },
  output: ({ context }) => runOutput(context),
});
