import { assign, enqueueActions, sendParent, setup, stopChild } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import { type ErrorInfo, toErrorInfo } from '../src/domain/errors.js';
import type { SyncState } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { batchPushMachine } from './batch-push.machine.js';
import type { BatchPushOutput, RunCounts } from './batch-push.types.js';
import type {
  EntitySyncContext,
  EntitySyncEvent,
  EntitySyncInput,
  EntityToParentEvent,
  RunEnd,
  RunReport,
  RunSnapshot,
} from './entity-sync.types.js';

/** The least wait before retrying a run that stopped early, whatever the retry policy says. */
const MIN_RUN_RETRY_MS = 1_000;

/** When to try again after a run stopped early: backs off per stopped run in a row, never sooner than 1 s. */
function stoppedRunRetryAt(context: EntitySyncContext): number {
  const { policy, sources } = context.config;
  const delay = backoffDelay(context.stoppedRuns + 1, policy.retry, sources.random, MIN_RUN_RETRY_MS);
  return sources.now() + delay;
}

const NO_COUNTS: RunCounts = { totalItems: 0, syncedItems: 0, failedItems: 0, conflicts: 0, retries: 0 };

/** The run as the facade and the inspector see it: the raw material of `SyncProgress`. */
export function runSnapshot(context: EntitySyncContext, state: SyncState, cancelled = false): RunSnapshot {
  return {
    entityType: context.config.entityType,
    state,
    runId: context.runId,
    counts: context.counts,
    error: context.error,
    lastError: context.lastError,
    nextRetryAt: context.nextRetryAt,
    cancelled,
  };
}

/** A run's error when the batch actor gave none (it always does; a missing one must still not read as clean). */
const UNKNOWN_ERROR: ErrorInfo = toErrorInfo('unknown error');

/**
 * The context after a run ends and the report that says how it went, one rule for every ending: the batch actor
 * finished (cleanly, with failed items, or stopped early), failed itself, or the run was cancelled.
 */
export function endRun(
  context: EntitySyncContext,
  end: RunEnd,
): { ended: EntitySyncContext; report: RunReport } {
  let ended: EntitySyncContext;
  let state: SyncState;
  if (end.kind === 'finished') {
    const { output } = end;
    const stopped = output.outcome === 'aborted';
    const failed = stopped || output.counts.failedItems > 0;
    ended = {
      ...context,
      counts: output.counts,
      error: failed
        ? { ...(output.error ?? UNKNOWN_ERROR), outcome: stopped ? 'stopped' : 'items-failed' }
        : undefined,
      lastError: failed ? (output.lastError ?? context.lastError) : undefined,
      nextRetryAt: stopped ? stoppedRunRetryAt(context) : output.nextRetryAt,
      stoppedRuns: stopped ? context.stoppedRuns + 1 : 0,
    };
    state = failed ? 'error' : 'synced';
  } else if (end.kind === 'crashed') {
    const error = toErrorInfo(end.error);
    ended = {
      ...context,
      error: { ...error, outcome: 'crashed' },
      lastError: error,
      nextRetryAt: stoppedRunRetryAt(context),
      stoppedRuns: context.stoppedRuns + 1,
    };
    state = 'error';
  } else {
    ended = { ...context, error: undefined, nextRetryAt: undefined };
    state = 'idle';
  }
  const report: RunReport = {
    ...runSnapshot(ended, state, end.kind === 'cancelled'),
    failures: end.kind === 'finished' ? end.output.failures : [],
    durationMs: context.config.sources.now() - context.startedAt,
  };
  return { ended: { ...ended, lastRun: report }, report };
}

/**
 * One entity type's sync actor: `idle → syncing → synced | error`. A run spawns the batch child
 * (`batch:<type>`); its retry waits happen inside `syncing`, so the type counts as syncing throughout. Stopping the
 * child (cancel, coordinator stop) aborts its in-flight request through its signal. After a run that left
 * retryable failures, `error` asks the coordinator for another run once they are due.
 */
export const entitySyncMachine = setup({
  types: {
    context: {} as EntitySyncContext,
    events: {} as EntitySyncEvent,
    input: {} as EntitySyncInput,
  },
  actors: { batchPush: batchPushMachine },
  delays: {
    untilRetryDue: ({ context }) => clampDelay((context.nextRetryAt ?? 0) - context.config.sources.now()),
  },
  guards: {
    runFailed: (_, output: BatchPushOutput) => output.outcome === 'aborted' || output.counts.failedItems > 0,
    hasRetryDue: ({ context }) => context.nextRetryAt !== undefined,
    retryIsDue: ({ context }) =>
      context.nextRetryAt !== undefined && context.config.sources.now() >= context.nextRetryAt,
  },
  actions: {
    startRun: assign(({ context }) => ({
      runId: context.runId + 1,
      counts: NO_COUNTS,
      startedAt: context.config.sources.now(),
      error: undefined,
      nextRetryAt: undefined,
    })),
    spawnBatch: enqueueActions(({ context, enqueue }) => {
      const { entityType, policy, sources } = context.config;
      enqueue.spawnChild('batchPush', {
        id: 'batch',
        systemId: `batch:${entityType}`,
        input: { entityType, runId: context.runId, policy, sources },
      });
    }),
    stopBatch: stopChild('batch'),
    takeCounts: assign((_, update: { counts: RunCounts; retryAt?: number; error?: ErrorInfo }) => ({
      counts: update.counts,
      nextRetryAt: update.retryAt,
      // Shown while a retry is pending; progress after a batch clears it.
      error: update.error === undefined ? undefined : { ...update.error, outcome: 'retrying' as const },
      ...(update.error === undefined ? {} : { lastError: update.error }),
    })),
    reportProgress: sendParent(
      ({ context }): EntityToParentEvent => ({
        type: 'ENTITY.PROGRESS',
        snapshot: runSnapshot(context, 'syncing'),
      }),
    ),
    endRun: enqueueActions(({ context, enqueue }, end: RunEnd) => {
      const { ended, report } = endRun(context, end);
      enqueue.assign(ended);
      enqueue.sendParent({ type: 'ENTITY.RUN_DONE', report } satisfies EntityToParentEvent);
    }),
    requestRetry: sendParent(
      ({ context }): EntityToParentEvent => ({
        type: 'ENTITY.RETRY_DUE',
        entityType: context.config.entityType,
      }),
    ),
  },
}).createMachine({
  id: 'entitySync',
  context: ({ input }) => ({
    config: input,
    runId: 0,
    counts: NO_COUNTS,
    startedAt: 0,
    error: undefined,
    lastError: undefined,
    nextRetryAt: undefined,
    lastRun: undefined,
    stoppedRuns: 0,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: { SYNC: 'syncing' },
    },
    syncing: {
      entry: ['startRun', 'spawnBatch', 'reportProgress'],
      exit: 'stopBatch',
      on: {
        'BATCH.PROGRESS': {
          actions: [
            { type: 'takeCounts', params: ({ event }) => ({ counts: event.counts }) },
            'reportProgress',
          ],
        },
        'BATCH.RETRYING': {
          actions: [{ type: 'takeCounts', params: ({ event }) => event }, 'reportProgress'],
        },
        'xstate.done.actor.batch': [
          {
            guard: { type: 'runFailed', params: ({ event }) => event.output },
            target: 'error',
            actions: { type: 'endRun', params: ({ event }) => ({ kind: 'finished', output: event.output }) },
          },
          {
            target: 'synced',
            actions: { type: 'endRun', params: ({ event }) => ({ kind: 'finished', output: event.output }) },
          },
        ],
        'xstate.error.actor.batch': {
          target: 'error',
          actions: {
            type: 'endRun',
            params: ({ event }: { event: { error: unknown } }) => ({ kind: 'crashed', error: event.error }),
          },
        },
        CANCEL: { target: 'idle', actions: { type: 'endRun', params: { kind: 'cancelled' } } },
      },
    },
    // Both resting states keep items that wait for a retry on schedule: the run that ended may have had nothing
    // due yet (a manual sync during the wait) and still knows from the outbox when the next item is.
    synced: {
      on: { SYNC: 'syncing' },
      after: {
        // A timer can fire a little before the wall clock reaches the due time (Node measures it from a cached
        // loop time): asking for a run then would find nothing due, so the wait starts again instead.
        untilRetryDue: [
          { guard: 'retryIsDue', actions: 'requestRetry' },
          { guard: 'hasRetryDue', target: 'synced', reenter: true },
        ],
      },
    },
    error: {
      on: { SYNC: 'syncing' },
      after: {
        // A timer can fire a little before the wall clock reaches the due time (Node measures it from a cached
        // loop time): asking for a run then would find nothing due, so the wait starts again instead.
        untilRetryDue: [
          { guard: 'retryIsDue', actions: 'requestRetry' },
          { guard: 'hasRetryDue', target: 'error', reenter: true },
        ],
      },
    },
  },
});
