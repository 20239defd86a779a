import { assign, sendParent, setup } from 'xstate';
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
/** The reply of a fetch (guards have made sure which kind). */
const fetched = ({ event }: { event: { output: FetchPageOutput } }): FetchPageOutput => event.output;

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
    isReset: (_, reply: FetchPageOutput) => reply.reset === true,
    isAllowedReset: ({ context }, reply: FetchPageOutput) =>
      reply.reset === true && context.counts.resets < context.input.resetsAllowed,
    isFatal: (_, error: unknown) => failureKind(error) === 'fatal',
    canRetry: ({ context }, error: unknown) =>
      failureKind(error) === 'transient' && context.attempt + 1 < context.input.policy.retry.maxAttempts,
    isStalePage: ({ context }, error: unknown) =>
      error instanceof StalePageError && context.stalePages < MAX_STALE_PAGES,
    hasMore: ({ context }) => context.page?.hasMore === true,
  },
  actions: {
    takeCheckpoint: assign((_, since: ReadCheckpointOutput) => ({ since })),
    startReset: assign(({ context }) => ({
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
    takePage: assign(({ context }, reply: PulledChanges) => ({
      page: {
        changes: reply.changes,
        checkpoint: reply.checkpoint,
        hasMore: reply.hasMore,
        since: context.since,
        ...(context.resetting ? { reset: true } : {}),
      },
      attempt: 0,
    })),
    settlePage: assign(({ context }, result: ApplyPageOutput) => ({
      ...addPage(context.counts, context.refused, result),
      // The next page follows this one's checkpoint, also while a reset is paging (the store then holds none yet).
      since: context.page?.checkpoint ?? context.since,
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
        onDone: [
          {
            guard: { type: 'isAllowedReset', params: fetched },
            target: 'fetching',
            reenter: true,
            actions: ['startReset', 'reportProgress'],
          },
          { guard: { type: 'isReset', params: fetched }, target: 'aborted', actions: 'refuseReset' },
          {
            target: 'applying',
            actions: { type: 'takePage', params: ({ event }) => event.output as PulledChanges },
          },
        ],
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
    backingOff: {
      after: { backoff: 'fetching' },
    },
    applying: {
      invoke: {
        src: 'applyPage',
        input: ({ context }) => ({
          entityType: context.input.entityType,
          // Set by takePage on the way in.
          page: context.page ?? { changes: [], checkpoint: '', hasMore: false, since: context.since },
          conflicts: context.input.policy.conflicts,
        }),
        onDone: [
          {
            guard: 'hasMore',
            target: 'fetching',
            actions: [{ type: 'settlePage', params: ({ event }) => event.output }, 'reportProgress'],
          },
          {
            target: 'done',
            actions: [{ type: 'settlePage', params: ({ event }) => event.output }, 'reportProgress'],
          },
        ],
        onError: [
          {
            guard: { type: 'isStalePage', params: thrown },
            target: 'reading',
            actions: { type: 'recordStalePage', params: thrown },
          },
          { target: 'aborted', actions: { type: 'recordAbort', params: thrown } },
        ],
      },
    },
    done: { type: 'final', entry: assign({ completed: true }) },
    aborted: { type: 'final' },
  },
  output: ({ context }) => pullOutput(context, context.completed ? 'completed' : 'aborted'),
});
