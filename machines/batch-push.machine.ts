import { and, assign, enqueueActions, fromPromise, not, sendParent, setup } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import { errorMessage, failureKind, TransientSyncError } from '../src/domain/errors.js';
import type { RepositoryEntity } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { planBatchFailure, planReply, settleBatch } from '../src/protocol/batch-outcome.js';
import type {
  BatchPushContext,
  BatchPushEvent,
  BatchPushInput,
  BatchPushOutput,
  BatchToParentEvent,
  CommitBatchInput,
  CommitBatchOutput,
  LaneResult,
  LoadPageInput,
  LoadPageOutput,
  OpenOutboxInput,
  OpenOutboxOutput,
  PushBatchInput,
  PushBatchOutput,
  PushLane,
} from './batch-push.types.js';

/** I/O the machine cannot do without: `createSyncMachine(deps)` (or `.provide()`) supplies the real ones. */
function notProvided<TOutput, TInput>(name: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`batchPushMachine: actor "${name}" was not provided`);
  });
}

/**
 * How many failed items a run lists in its output. A run in which every item is rejected must not build (and,
 * batch after batch, copy) a list as long as the backlog; the count stays exact and the store's failure records
 * hold every one.
 */
export const MAX_LISTED_FAILURES = 1_000;

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

/** The result of the adopted lookahead push, once it is in. */
const adoptedResult = (context: BatchPushContext): LaneResult | undefined => context.adopted?.result;

/** The adopted push's reply (guards make sure it succeeded). */
const adoptedOutput = ({ context }: { context: BatchPushContext }): PushBatchOutput => {
  const result = adoptedResult(context);
  return result && 'output' in result ? result.output : new Map();
};

/** The adopted push's error (guards make sure it failed). */
const adoptedError = ({ context }: { context: BatchPushContext }): unknown => {
  const result = adoptedResult(context);
  return result && 'error' in result ? result.error : undefined;
};

/** Room for a lookahead: only the outbox's next page goes ahead, never a carry, and one at a time. */
const mayLookAhead = (context: BatchPushContext): boolean =>
  context.input.maxBatchesInFlight > 1 &&
  !context.retryPause &&
  context.ahead === undefined &&
  !context.aheadLoading &&
  !context.exhausted &&
  context.carry.length === 0;

/** The lookahead's page as the next batch, with the cursor advanced past it as `takePage` does. */
const takeAheadPage = (context: BatchPushContext, page: LoadPageOutput) => {
  const { batch, batchSeq } = nextBatch(context, page.items);
  return {
    batch,
    advance: { aheadLoading: false, batchSeq, cursor: page.next, exhausted: page.next === undefined },
  };
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
    events: {} as BatchPushEvent,
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
    backoff: ({ context }) => clampDelay(context.backoffMs),
  },
  guards: {
    hasCarry: ({ context }) => context.carry.length > 0,
    hasAhead: ({ context }) => context.ahead !== undefined,
    aheadIsOut: ({ context }) => context.ahead?.lane !== undefined,
    inRetryPause: ({ context }) => context.retryPause,
    aheadLoading: ({ context }) => context.aheadLoading,
    adoptedSettled: ({ context }) => adoptedResult(context) !== undefined,
    adoptedSucceeded: ({ context }) => {
      const result = adoptedResult(context);
      return result !== undefined && 'output' in result;
    },
    carryWantsBackoff: ({ context }) => context.carryBackoff,
    isExhausted: ({ context }) => context.exhausted,
    commitInFlight: ({ context }) => context.committing !== undefined,
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
    /** Loads the page after the current batch while that batch's request is out. */
    startLookahead: enqueueActions(({ context, enqueue }) => {
      if (!mayLookAhead(context)) return;
      enqueue.spawnChild('loadPage', {
        id: 'aheadPage',
        input: {
          entityType: context.input.entityType,
          limit: context.input.batchSize,
          after: context.cursor,
          upTo: context.highWater,
        },
      });
      enqueue.assign({ aheadLoading: true });
    }),
    markAheadExhausted: assign({ aheadLoading: false, exhausted: true }),
    /** Takes the lookahead page as the next batch (like `takePage`, then `countAttempt`) and pushes it at once. */
    pushAhead: enqueueActions(({ context, enqueue }, page: LoadPageOutput) => {
      const { batch, advance } = takeAheadPage(context, page);
      const ahead = { ...batch, attempt: 1 };
      const lane = context.nextLane;
      enqueue.spawnChild('pushBatch', {
        id: lane,
        input: { entityType: context.input.entityType, batchId: ahead.batchId, items: ahead.items },
      });
      enqueue.assign({
        ...advance,
        ahead: { batch: ahead, lane, result: undefined },
        nextLane: lane === 'laneA' ? 'laneB' : 'laneA',
      });
    }),
    /**
     * A lookahead page that arrives during a retry wait is kept, not pushed: a server that asked for a pause
     * (503, 429, Retry-After) gets no request from this run until the wait is over.
     */
    keepAhead: assign(({ context }, page: LoadPageOutput) => {
      const { batch, advance } = takeAheadPage(context, page);
      return { ...advance, ahead: { batch, lane: undefined, result: undefined } };
    }),
    /** Keeps a lookahead push's outcome until its batch's turn. */
    keepLaneResult: assign(({ context }, done: { lane: PushLane; result: LaneResult }) => {
      if (context.ahead?.lane === done.lane) return { ahead: { ...context.ahead, result: done.result } };
      if (context.adopted?.lane === done.lane)
        return { adopted: { ...context.adopted, result: done.result } };
      return {};
    }),
    /** The lookahead batch becomes the current one; its push (maybe still out) is handled like `pushing`'s. */
    adoptAhead: assign(({ context }) => {
      const ahead = context.ahead;
      if (!ahead?.lane) return {};
      return { batch: ahead.batch, adopted: { lane: ahead.lane, result: ahead.result }, ahead: undefined };
    }),
    /** A lookahead page kept during a retry wait becomes the current batch, pushed the ordinary way. */
    takeKeptAhead: assign(({ context }) => ({ batch: context.ahead?.batch, ahead: undefined })),
    endRetryPause: assign({ retryPause: false }),
    releaseAdopted: assign({ adopted: undefined }),
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
        retryPause: true,
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
    /**
     * Writes the batch just pushed while the next one goes out: the durable commit (an fsync) overlaps the
     * network wait. Paging is by cursor, so the next page never holds this batch's items.
     */
    startCommit: enqueueActions(({ context, enqueue }) => {
      const plan = context.plan;
      if (!plan) return;
      enqueue.spawnChild('commitBatch', {
        id: 'commit',
        input: {
          entityType: context.input.entityType,
          plan,
          retry: context.input.retry,
          random: context.input.random,
        },
      });
      enqueue.assign({
        committing: { plan, items: context.batch?.items ?? [], attempt: context.batch?.attempt ?? 0 },
        plan: undefined,
        batch: undefined,
      });
    }),
    settle: assign(({ context }, written: CommitBatchOutput) => {
      const committing = context.committing;
      if (!committing) return {};
      const { plan } = committing;
      const settled = settleBatch(plan, written);
      const carry = settled.carry.length ? [...context.carry, ...settled.carry] : context.carry;
      // Earlier pushes are kept for carried items only: this batch's items leave, those it carries on stay.
      let attempts = context.attempts;
      if (settled.carry.length > 0 || Object.keys(attempts).length > 0) {
        attempts = { ...context.attempts };
        for (const item of committing.items) delete attempts[item.id];
        for (const item of settled.carry) {
          attempts[item.id] = (context.attempts[item.id] ?? 0) + committing.attempt;
        }
      }
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
        failedItems:
          settled.failedItems.length && context.failedItems.length < MAX_LISTED_FAILURES
            ? [
                ...context.failedItems,
                ...settled.failedItems.slice(0, MAX_LISTED_FAILURES - context.failedItems.length),
              ]
            : context.failedItems,
        lastItemError: settled.failedItems.at(-1)?.error ?? context.lastItemError,
        carry,
        carryBackoff: context.carryBackoff || settled.backoff,
        attempts,
        committing: undefined,
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
    input: { random: Math.random, ...input, maxBatchesInFlight: input.maxBatchesInFlight ?? 2 },
    counts: { total: 0, synced: 0, failed: 0, conflicts: 0, retries: 0 },
    failedItems: [],
    lastItemError: undefined,
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
    committing: undefined,
    ahead: undefined,
    aheadLoading: false,
    adopted: undefined,
    nextLane: 'laneA',
    retryPause: false,
    backoffMs: 0,
    lastError: undefined,
    nextItemRetryAt: undefined,
    abortError: undefined,
  }),
  initial: 'opening',
  on: {
    // A commit that finishes while the next batch is loading, pushing or backing off.
    'xstate.done.actor.commit': {
      actions: [{ type: 'settle', params: ({ event }) => event.output }, 'reportProgress'],
    },
    'xstate.error.actor.commit': {
      target: '.aborted',
      actions: { type: 'recordAbort', params: thrown },
    },
    // The lookahead (`maxBatchesInFlight: 2`): its page, then its push, whose outcome waits for its batch's turn.
    'xstate.done.actor.aheadPage': [
      {
        guard: { type: 'isEmptyPage', params: ({ event }) => event.output },
        actions: 'markAheadExhausted',
      },
      { guard: 'inRetryPause', actions: { type: 'keepAhead', params: ({ event }) => event.output } },
      { actions: { type: 'pushAhead', params: ({ event }) => event.output } },
    ],
    'xstate.error.actor.aheadPage': {
      target: '.aborted',
      actions: { type: 'recordAbort', params: thrown },
    },
    'xstate.done.actor.laneA': {
      actions: {
        type: 'keepLaneResult',
        params: ({ event }) => ({ lane: 'laneA', result: { output: event.output } }),
      },
    },
    'xstate.error.actor.laneA': {
      actions: {
        type: 'keepLaneResult',
        params: ({ event }) => ({ lane: 'laneA', result: { error: event.error } }),
      },
    },
    'xstate.done.actor.laneB': {
      actions: {
        type: 'keepLaneResult',
        params: ({ event }) => ({ lane: 'laneB', result: { output: event.output } }),
      },
    },
    'xstate.error.actor.laneB': {
      actions: {
        type: 'keepLaneResult',
        params: ({ event }) => ({ lane: 'laneB', result: { error: event.error } }),
      },
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
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    next: {
      always: [
        // A batch pushed ahead goes first: batches are handled in the order they were taken.
        { guard: 'aheadIsOut', target: 'awaitingAdopted', actions: 'adoptAhead' },
        { guard: 'hasAhead', target: 'pushing', actions: 'takeKeptAhead' },
        {
          guard: and(['hasCarry', 'carryWantsBackoff']),
          target: 'backingOff',
          actions: ['takeCarry', { type: 'scheduleRetry', params: undefined }, 'reportRetrying'],
        },
        { guard: 'hasCarry', target: 'pushing', actions: 'takeCarry' },
        // Never load the page the lookahead is loading.
        { guard: 'aheadLoading', target: 'awaitingPage' },
        { guard: 'isExhausted', target: 'draining' },
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
            target: 'draining',
            actions: 'markExhausted',
          },
          { target: 'pushing', actions: { type: 'takePage', params: ({ event }) => event.output } },
        ],
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    // The lookahead's page is loading: it becomes the next batch, or marks the outbox exhausted.
    awaitingPage: {
      always: { guard: not('aheadLoading'), target: 'next' },
    },
    pushing: {
      entry: ['countAttempt', 'endRetryPause', 'startLookahead'],
      invoke: {
        src: 'pushBatch',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          batchId: context.batch?.batchId ?? '',
          items: context.batch?.items ?? [],
        }),
        onDone: { target: 'handOff', actions: { type: 'planReply', params: ({ event }) => event.output } },
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
          { target: 'handOff', actions: { type: 'planBatchFailure', params: thrown } },
        ],
      },
    },
    // The current batch went out as a lookahead: wait for its push (the next lookahead may start meanwhile).
    awaitingAdopted: {
      entry: 'startLookahead',
      always: { guard: 'adoptedSettled', target: 'adoptedResult' },
    },
    // The adopted push's outcome, handled exactly as `pushing` handles its own.
    adoptedResult: {
      always: [
        {
          guard: 'adoptedSucceeded',
          target: 'handOff',
          actions: [{ type: 'planReply', params: adoptedOutput }, 'releaseAdopted'],
        },
        {
          guard: { type: 'isFatal', params: adoptedError },
          target: 'aborted',
          actions: { type: 'recordAbort', params: adoptedError },
        },
        {
          guard: { type: 'canRetryBatch', params: adoptedError },
          target: 'backingOff',
          actions: [{ type: 'scheduleRetry', params: adoptedError }, 'reportRetrying', 'releaseAdopted'],
        },
        {
          target: 'handOff',
          actions: [{ type: 'planBatchFailure', params: adoptedError }, 'releaseAdopted'],
        },
      ],
    },
    // The retry wait: the same batch (same id) goes out again when it ends.
    backingOff: {
      after: { backoff: 'pushing' },
    },
    // The batch just pushed is written while the next one goes out; a second commit waits for the first.
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
      (context.counts.failed > 0 ? (context.lastItemError ?? context.lastError) : undefined),
    lastError: context.abortError ?? context.lastError,
  }),
});
