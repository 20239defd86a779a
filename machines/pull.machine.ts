import { assign, enqueueActions, sendParent, setup, stopChild } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import {
  failureKind,
  PullResetLimitError,
  StalePageError,
  TransientSyncError,
  toErrorInfo,
} from '../src/domain/errors.js';
import type { PulledChanges } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { notProvided } from './not-provided.js';
import type {
  ApplyPageInput,
  ApplyPageOutput,
  FetchPageInput,
  FetchPageOutput,
  PullContext,
  PullInput,
  PullOutput,
  PullToParentEvent,
  ReadCheckpointInput,
  ReadCheckpointOutput,
} from './pull.types.js';
import { addPage, initialPullContext, pullOutput } from './pull-run.js';

/** Pages refused as late in a row before the pull gives up: each means the store moved while a page was out. */
const MAX_STALE_PAGES = 3;

/** The error of an `onError` transition, for action and guard params. */
const thrown = ({ event }: { event: { error: unknown } }): unknown => event.error;

/**
 * The pull child of one entity type's run: reads the stored checkpoint, then fetches a page of the server's
 * changes since it, applies the page and its checkpoint in one store commit, and goes on from the page's checkpoint
 * until the server says there is no more. Transient failures of a request are retried with the push's backoff and
 * attempt limit; a fatal one, a store failure or too many resets end the pull early, and the checkpoint never moves
 * past what was stored. A reset answer starts again from the beginning (the store drops, at the end, the records
 * the server no longer has unless they are pending). Progress goes to the parent after every page.
 */
export const pullMachine = setup({
  types: {
    context: {} as PullContext,
    input: {} as PullInput,
    output: {} as PullOutput,
  },
  actors: {
    readCheckpoint: notProvided<ReadCheckpointOutput, ReadCheckpointInput>('pullMachine', 'readCheckpoint'),
    fetchPage: notProvided<FetchPageOutput, FetchPageInput>('pullMachine', 'fetchPage'),
    applyPage: notProvided<ApplyPageOutput, ApplyPageInput>('pullMachine', 'applyPage'),
  },
  delays: {
    backoff: ({ context }) => clampDelay(context.backoffMs),
  },
  guards: {
    isReset: ({ context }) => context.reply?.reset === true,
    isAllowedReset: ({ context }) =>
      context.reply?.reset === true && context.counts.resets < context.input.resetsAllowed,
    isFatal: (_, error: unknown) => failureKind(error) === 'fatal',
    canRetry: ({ context }, error: unknown) =>
      failureKind(error) === 'transient' && context.attempt + 1 < context.input.policy.retry.maxAttempts,
    isStalePage: ({ context }, error: unknown) =>
      error instanceof StalePageError && context.stalePages < MAX_STALE_PAGES,
    hasMoreAfter: ({ context }) => context.more,
    /** The page fetched ahead is for the checkpoint the pull has reached, and it is in. */
    aheadIsIn: ({ context: { ahead, since } }) => ahead?.since === since && ahead?.reply !== undefined,
    aheadIsOut: ({ context: { ahead, since } }) => ahead?.since === since && ahead?.failed !== true,
    /** The look-ahead failed (or is for another checkpoint): the page is fetched the ordinary way. */
    aheadIsLost: ({ context: { ahead, since } }) => !(ahead?.since === since && ahead?.failed !== true),
  },
  actions: {
    takeCheckpoint: assign((_, since: ReadCheckpointOutput) => ({ since })),
    startReset: assign(({ context }) => ({
      reply: undefined,
      since: undefined,
      resetting: true,
      attempt: 0,
      counts: { ...context.counts, resets: context.counts.resets + 1 },
    })),
    refuseReset: assign(({ context }) => {
      const { entityType, policy } = context.input;
      const error = toErrorInfo(
        new PullResetLimitError(entityType, policy.pull.maxResets, policy.pull.resetWindowMs),
      );
      return { error: { ...error, retryable: false }, lastError: error };
    }),
    takeReply: assign((_, reply: FetchPageOutput) => ({ reply })),
    takeAheadReply: assign(({ context }) => ({ reply: context.ahead?.reply, ahead: undefined })),
    /**
     * While a page is written, the next one is fetched (its `since` is the page's checkpoint, known already): the
     * network wait overlaps the store's commit. Only one page ahead, and only while the server says there is more.
     */
    fetchAhead: enqueueActions(({ context, enqueue }) => {
      const { page } = context;
      if (!page?.hasMore) return;
      enqueue.spawnChild('fetchPage', {
        id: 'ahead',
        input: {
          entityType: context.input.entityType,
          since: page.checkpoint,
          limit: context.input.policy.pull.pageSize,
        },
      });
      enqueue.assign({ ahead: { since: page.checkpoint } });
    }),
    keepAhead: assign(({ context }, reply: FetchPageOutput) => ({
      ahead: context.ahead ? { ...context.ahead, reply } : undefined,
    })),
    /** A failed look-ahead is dropped: the page is fetched again the ordinary way, with its retries. */
    dropAhead: assign(({ context }) => ({
      ahead: context.ahead ? { since: context.ahead.since, failed: true } : undefined,
    })),
    forgetAhead: enqueueActions(({ enqueue }) => {
      enqueue.stopChild('ahead');
      enqueue.assign({ ahead: undefined });
    }),
    takePage: assign(({ context }) => {
      const reply = context.reply as PulledChanges;
      return {
        reply: undefined,
        page: {
          changes: reply.changes,
          checkpoint: reply.checkpoint,
          hasMore: reply.hasMore,
          since: context.since,
          ...(context.resetting ? { reset: true } : {}),
        },
        attempt: 0,
      };
    }),
    settlePage: assign(({ context }, result: ApplyPageOutput) => ({
      ...addPage(context.counts, context.refused, result),
      // The next page follows this one's checkpoint, also while a reset is paging (the store then holds none yet).
      since: context.page?.checkpoint ?? context.since,
      more: context.page?.hasMore === true,
      page: undefined,
      stalePages: 0,
    })),
    scheduleRetry: assign(({ context }, error: unknown) => {
      const leastMs = error instanceof TransientSyncError ? (error.retryAfterMs ?? 0) : 0;
      const { policy, sources } = context.input;
      const attempt = context.attempt + 1;
      return {
        attempt,
        backoffMs: backoffDelay(attempt, policy.retry, sources.random, leastMs),
        counts: { ...context.counts, retries: context.counts.retries + 1 },
        lastError: toErrorInfo(error),
      };
    }),
    /** A late page: nothing was written; the pull goes on from where the store is. */
    recordStalePage: assign(({ context }, error: unknown) => ({
      page: undefined,
      stalePages: context.stalePages + 1,
      lastError: toErrorInfo(error),
    })),
    recordAbort: assign((_, error: unknown) => ({
      error: toErrorInfo(error),
      lastError: toErrorInfo(error),
    })),
    reportProgress: sendParent(
      ({ context }): PullToParentEvent => ({ type: 'PULL.PROGRESS', counts: context.counts }),
    ),
    reportRetrying: sendParent(
      ({ context }): PullToParentEvent => ({
        type: 'PULL.RETRYING',
        counts: context.counts,
        error: context.lastError ?? toErrorInfo('unknown error'),
        retryAt: context.input.sources.now() + context.backoffMs,
        attempt: context.attempt + 1,
      }),
    ),
  },
}).createMachine({
  id: 'pull',
  context: ({ input }) => initialPullContext(input),
  initial: 'reading',
  on: {
    // The page fetched ahead, in whatever state it comes back: kept until the pull reaches its checkpoint.
    'xstate.done.actor.ahead': {
      actions: [{ type: 'keepAhead', params: ({ event }) => event.output }, stopChild('ahead')],
    },
    'xstate.error.actor.ahead': { actions: ['dropAhead', stopChild('ahead')] },
  },
  states: {
    reading: {
      invoke: {
        src: 'readCheckpoint',
        input: ({ context }) => ({ entityType: context.input.entityType }),
        onDone: {
          target: 'fetching',
          actions: { type: 'takeCheckpoint', params: ({ event }) => event.output },
        },
        onError: { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
      },
    },
    fetching: {
      invoke: {
        src: 'fetchPage',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          since: context.since,
          limit: context.input.policy.pull.pageSize,
        }),
        onDone: { target: 'received', actions: { type: 'takeReply', params: ({ event }) => event.output } },
        onError: [
          {
            guard: { type: 'isFatal', params: thrown },
            target: 'aborted',
            actions: { type: 'recordAbort', params: thrown },
          },
          {
            guard: { type: 'canRetry', params: thrown },
            target: 'backingOff',
            actions: [{ type: 'scheduleRetry', params: thrown }, 'reportRetrying'],
          },
          { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
        ],
      },
    },
    // A reply, fetched or fetched ahead: a reset starts again from the beginning (up to the cap), a page is applied.
    received: {
      always: [
        { guard: 'isAllowedReset', target: 'fetching', actions: ['startReset', 'reportProgress'] },
        { guard: 'isReset', target: 'aborted', actions: 'refuseReset' },
        { target: 'applying', actions: 'takePage' },
      ],
    },
    backingOff: {
      after: { backoff: 'fetching' },
    },
    applying: {
      entry: 'fetchAhead',
      invoke: {
        src: 'applyPage',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          // Set by takePage on the way in.
          page: context.page ?? { changes: [], checkpoint: '', hasMore: false, since: context.since },
          conflicts: context.input.policy.conflicts,
        }),
        onDone: {
          target: 'next',
          actions: [{ type: 'settlePage', params: ({ event }) => event.output }, 'reportProgress'],
        },
        onError: [
          {
            guard: { type: 'isStalePage', params: thrown },
            target: 'reading',
            actions: [{ type: 'recordStalePage', params: thrown }, 'forgetAhead'],
          },
          { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
        ],
      },
    },
    // The page is stored: the next one is in already, still on its way, failed (fetched again), or there is none.
    next: {
      always: [
        { guard: 'aheadIsIn', target: 'received', actions: 'takeAheadReply' },
        { guard: 'aheadIsOut', target: 'awaitingAhead' },
        { guard: 'hasMoreAfter', target: 'fetching', actions: 'forgetAhead' },
        { target: 'done' },
      ],
    },
    awaitingAhead: {
      always: [
        { guard: 'aheadIsIn', target: 'received', actions: 'takeAheadReply' },
        { guard: 'aheadIsLost', target: 'fetching', actions: 'forgetAhead' },
      ],
    },
    done: { type: 'final', entry: assign({ completed: true }) },
    aborted: { type: 'final' },
  },
  output: ({ context }) => pullOutput(context, context.completed ? 'completed' : 'aborted'),
});
