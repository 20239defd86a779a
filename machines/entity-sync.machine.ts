import { assign, enqueueActions, sendParent, setup, stopChild } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import { errorMessage } from '../src/domain/errors.js';
import type { SyncState } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { batchPushMachine } from './batch-push.machine.js';
import type { BatchPushOutput, RunCounts } from './batch-push.types.js';
import type {
  EntitySyncContext,
  EntitySyncEvent,
  EntitySyncInput,
  EntityToParentEvent,
  RunReport,
  RunSnapshot,
} from './entity-sync.types.js';

/** The least wait before retrying a run that stopped early, whatever the retry policy says. */
const MIN_RUN_RETRY_MS = 1_000;

/** When to try again after a run stopped early: backs off per stopped run in a row, never sooner than 1 s. */
function stoppedRunRetryAt(context: EntitySyncContext): number {
  const delay = backoffDelay(
    context.stoppedRuns + 1,
    context.config.retry,
    context.config.random,
    MIN_RUN_RETRY_MS,
  );
  return Date.now() + delay;
}

const NO_COUNTS: RunCounts = { totalItems: 0, syncedItems: 0, failedItems: 0, conflicts: 0, retries: 0 };

function snapshotOf(context: EntitySyncContext, state: SyncState, cancelled = false): RunSnapshot {
  return {
    entityType: context.config.entityType,
    state,
    runId: context.runId,
    counts: context.counts,
    errorMessage: context.errorMessage,
    lastError: context.lastError,
    nextRetryAt: context.nextRetryAt,
    cancelled,
  };
}

/** A message a person can act on: how much failed, and why. */
function describeFailure(output: BatchPushOutput): string | undefined {
  const { counts } = output;
  if (output.outcome === 'aborted') {
    const done = counts.syncedItems + counts.failedItems;
    return `Sync run stopped after ${done} of ${counts.totalItems} items: ${output.errorMessage ?? 'unknown error'}`;
  }
  if (counts.failedItems === 0) return undefined;
  return `${counts.failedItems} of ${counts.totalItems} items failed to sync; last error: ${output.errorMessage ?? 'unknown error'}`;
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
    untilRetryDue: ({ context }) => clampDelay((context.nextRetryAt ?? 0) - Date.now()),
  },
  guards: {
    runFailed: (_, output: BatchPushOutput) => output.outcome === 'aborted' || output.counts.failedItems > 0,
    hasRetryDue: ({ context }) => context.nextRetryAt !== undefined,
    retryIsDue: ({ context }) => context.nextRetryAt !== undefined && Date.now() >= context.nextRetryAt,
  },
  actions: {
    startRun: assign(({ context }) => ({
      runId: context.runId + 1,
      counts: NO_COUNTS,
      startedAt: Date.now(),
      errorMessage: undefined,
      nextRetryAt: undefined,
    })),
    spawnBatch: enqueueActions(({ context, enqueue }) => {
      enqueue.spawnChild('batchPush', {
        id: 'batch',
        systemId: `batch:${context.config.entityType}`,
        input: {
          entityType: context.config.entityType,
          runId: context.runId,
          batchSize: context.config.batchSize,
          retry: context.config.retry,
          conflicts: context.config.conflicts,
          ...(context.config.maxBatchesInFlight
            ? { maxBatchesInFlight: context.config.maxBatchesInFlight }
            : {}),
          ...(context.config.random ? { random: context.config.random } : {}),
          now: context.config.now,
          newBatchKey: context.config.newBatchKey,
        },
      });
    }),
    stopBatch: stopChild('batch'),
    takeCounts: assign((_, update: { counts: RunCounts; retryAt?: number; error?: string }) => ({
      counts: update.counts,
      nextRetryAt: update.retryAt,
      // Shown while a retry is pending; progress after a batch clears it.
      errorMessage: update.error === undefined ? undefined : `Retrying after: ${update.error}`,
      ...(update.error === undefined ? {} : { lastError: update.error }),
    })),
    reportProgress: sendParent(
      ({ context }): EntityToParentEvent => ({
        type: 'ENTITY.PROGRESS',
        snapshot: snapshotOf(context, 'syncing'),
      }),
    ),
    finishRun: enqueueActions(({ context, enqueue }, output: BatchPushOutput) => {
      const stopped = output.outcome === 'aborted';
      const failed = stopped || output.counts.failedItems > 0;
      const finished = {
        ...context,
        counts: output.counts,
        errorMessage: describeFailure(output),
        lastError: failed ? (output.lastError ?? context.lastError) : undefined,
        nextRetryAt: stopped ? stoppedRunRetryAt(context) : output.nextRetryAt,
        stoppedRuns: stopped ? context.stoppedRuns + 1 : 0,
      };
      const report: RunReport = {
        ...snapshotOf(finished, failed ? 'error' : 'synced'),
        failures: output.failures,
        durationMs: Date.now() - context.startedAt,
      };
      enqueue.assign({ ...finished, lastRun: report });
      enqueue.sendParent({ type: 'ENTITY.RUN_DONE', report } satisfies EntityToParentEvent);
    }),
    crashRun: enqueueActions(({ context, enqueue }, error: unknown) => {
      const finished = {
        ...context,
        errorMessage: `Sync run failed unexpectedly: ${errorMessage(error)}`,
        lastError: errorMessage(error),
        nextRetryAt: stoppedRunRetryAt(context),
        stoppedRuns: context.stoppedRuns + 1,
      };
      const report: RunReport = {
        ...snapshotOf(finished, 'error'),
        failures: [],
        durationMs: Date.now() - context.startedAt,
      };
      enqueue.assign({ ...finished, lastRun: report });
      enqueue.sendParent({ type: 'ENTITY.RUN_DONE', report } satisfies EntityToParentEvent);
    }),
    cancelRun: enqueueActions(({ context, enqueue }) => {
      const finished = { ...context, errorMessage: undefined, nextRetryAt: undefined };
      const report: RunReport = {
        ...snapshotOf(finished, 'idle', true),
        failures: [],
        durationMs: Date.now() - context.startedAt,
      };
      enqueue.assign({ ...finished, lastRun: report });
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
    errorMessage: undefined,
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
            actions: { type: 'finishRun', params: ({ event }) => event.output },
          },
          { target: 'synced', actions: { type: 'finishRun', params: ({ event }) => event.output } },
        ],
        'xstate.error.actor.batch': {
          target: 'error',
          actions: { type: 'crashRun', params: ({ event }: { event: { error: unknown } }) => event.error },
        },
        CANCEL: { target: 'idle', actions: 'cancelRun' },
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
