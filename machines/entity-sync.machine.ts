import { assign, enqueueActions, not, sendParent, setup, stopChild } from 'xstate';
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
  RunError,
  RunReport,
  RunSnapshot,
} from './entity-sync.types.js';
import { notProvided } from './not-provided.js';
import { pullMachine } from './pull.machine.js';
import {
  NO_PULL_COUNTS,
  type PullCounts,
  type PullOutput,
  type WatchChangesInput,
  type WatchChangesOutput,
} from './pull.types.js';
import { recentResets, resetAllowedAt, resetsAllowed } from './pull-run.js';

/** The least wait before retrying a run that stopped early, whatever the retry policy says. */
const MIN_RUN_RETRY_MS = 1_000;

/** When to try again after a run stopped early: backs off per stopped run in a row, never sooner than 1 s. */
function stoppedRunRetryAt(context: EntitySyncContext): number {
  const { policy, sources } = context.config;
  const delay = backoffDelay(context.stoppedRuns + 1, policy.retry, sources.random, MIN_RUN_RETRY_MS);
  return sources.now() + delay;
}

const NO_COUNTS: RunCounts = { totalItems: 0, syncedItems: 0, failedItems: 0, conflicts: 0, retries: 0 };

/**
 * The wait after a run before a live type holds its next request for changes: costs nothing (a change meanwhile is
 * still seen by the next watch) and bounds how often a server that keeps answering "changed" can start a run; the
 * wait doubles with each such run that then received nothing, up to `LIVE_GAP_MS * 2 ** MAX_LIVE_GAP_DOUBLINGS`.
 */
const LIVE_GAP_MS = 250;
const MAX_LIVE_GAP_DOUBLINGS = 7;

/** The run as the facade and the inspector see it: the raw material of `SyncProgress`. */
export function runSnapshot(context: EntitySyncContext, state: SyncState, cancelled = false): RunSnapshot {
  return {
    entityType: context.config.entityType,
    state,
    runId: context.runId,
    counts: context.counts,
    pull: context.pull,
    phase: context.phase,
    error: context.error,
    lastError: context.lastError,
    nextRetryAt: context.nextRetryAt,
    cancelled,
  };
}

/** What a child reports as it goes: its counts, and during a retry wait the error and when it retries. */
type ChildProgress =
  | { phase: 'push'; counts: RunCounts; retryAt?: number; error?: ErrorInfo }
  | { phase: 'pull'; counts: PullCounts; retryAt?: number; error?: ErrorInfo };

/** A run's error when a child gave none (they always do; a missing one must still not read as clean). */
const UNKNOWN_ERROR: ErrorInfo = toErrorInfo('unknown error');

/**
 * Why a finished run is not clean, or `undefined`: an early stop of the push or the pull first (the part that
 * stopped names the phase), then items the push left failed, then changes the pull refused.
 */
function finishedRunError(
  push: BatchPushOutput | undefined,
  pull: PullOutput | undefined,
): RunError | undefined {
  if (push?.outcome === 'aborted')
    return { ...(push.error ?? UNKNOWN_ERROR), outcome: 'stopped', phase: 'push' };
  if (pull?.outcome === 'aborted')
    return { ...(pull.error ?? UNKNOWN_ERROR), outcome: 'stopped', phase: 'pull' };
  if (push && push.counts.failedItems > 0) {
    return { ...(push.error ?? UNKNOWN_ERROR), outcome: 'items-failed', phase: 'push' };
  }
  if (pull && pull.counts.refusedItems > 0) {
    return { ...(pull.error ?? UNKNOWN_ERROR), outcome: 'changes-refused', phase: 'pull' };
  }
  return undefined;
}

/**
 * When the next run is due after a run that finished: at once when its pull resolved conflicts into local changes
 * that still have to be pushed (a push-then-pull run already pushed), else when the push's waiting items are due.
 */
function nextRunAt(
  context: EntitySyncContext,
  push: BatchPushOutput | undefined,
  pull: PullOutput | undefined,
): number | undefined {
  const repush = (pull?.counts.repushItems ?? 0) > 0 && context.config.direction !== 'pull';
  return repush ? context.config.sources.now() : push?.nextRetryAt;
}

/** When a run that stopped early is tried again: after the reset window for a capped reset, else on backoff. */
function retryAfterStop(context: EntitySyncContext, error: RunError, resetTimes: number[]): number {
  const { policy, sources } = context.config;
  if (error.code === 'PULL_RESET_LIMIT') return resetAllowedAt(resetTimes, sources.now(), policy.pull);
  return stoppedRunRetryAt(context);
}

/**
 * The context after a run ends and the report that says how it went, one rule for every ending: the children
 * finished (cleanly, with failed items or refused changes, or stopped early), one failed itself, or the run was
 * cancelled.
 */
export function endRun(
  context: EntitySyncContext,
  end: RunEnd,
): { ended: EntitySyncContext; report: RunReport } {
  let ended: EntitySyncContext;
  let state: SyncState;
  const { sources, policy } = context.config;
  if (end.kind === 'finished') {
    const { push, pull } = end;
    const error = finishedRunError(push, pull);
    const stopped = error?.outcome === 'stopped';
    const resetTimes = recentResets(
      [...context.resetTimes, ...Array.from({ length: pull?.counts.resets ?? 0 }, () => sources.now())],
      sources.now(),
      policy.pull,
    );
    ended = {
      ...context,
      counts: push?.counts ?? context.counts,
      pull: pull?.counts ?? context.pull,
      pushed: undefined,
      resetTimes,
      woke: false,
      spuriousWakes: !context.woke
        ? context.spuriousWakes
        : (pull?.counts.receivedChanges ?? 0) > 0
          ? 0
          : context.spuriousWakes + 1,
      error,
      lastError: error ? (pull?.lastError ?? push?.lastError ?? context.lastError) : undefined,
      nextRetryAt:
        stopped && error ? retryAfterStop(context, error, resetTimes) : nextRunAt(context, push, pull),
      stoppedRuns: stopped ? context.stoppedRuns + 1 : 0,
    };
    state = error ? 'error' : 'synced';
  } else if (end.kind === 'crashed') {
    const error = toErrorInfo(end.error);
    ended = {
      ...context,
      pushed: undefined,
      woke: false,
      error: { ...error, outcome: 'crashed', ...(context.phase ? { phase: context.phase } : {}) },
      lastError: error,
      nextRetryAt: stoppedRunRetryAt(context),
      stoppedRuns: context.stoppedRuns + 1,
    };
    state = 'error';
  } else {
    ended = { ...context, pushed: undefined, woke: false, error: undefined, nextRetryAt: undefined };
    state = 'idle';
  }
  const failures = end.kind === 'finished' ? (end.push?.failures ?? []) : [];
  const refused = end.kind === 'finished' ? (end.pull?.refused ?? []) : [];
  const report: RunReport = {
    ...runSnapshot(ended, state, end.kind === 'cancelled'),
    failures,
    refused,
    durationMs: sources.now() - context.startedAt,
  };
  return { ended: { ...ended, lastRun: report }, report };
}

/** Whether a run ending this way leaves the type in `error`: the one rule, `endRun`'s. */
const endsInError = (context: EntitySyncContext, end: RunEnd): boolean =>
  endRun(context, end).report.state === 'error';

/**
 * One entity type's sync actor: `idle → syncing → synced | error`. A run pushes, then pulls (`direction` may leave
 * either out): `syncing.pushing` spawns the batch child (`batch:<type>`), `syncing.pulling` the pull child
 * (`pull:<type>`); their retry waits happen inside, so the type counts as syncing throughout. A push that stops
 * early ends the run before the pull (the network or the server is down for both). Stopping a child (cancel,
 * coordinator stop) aborts its in-flight request through its signal. After a run that left retryable failures,
 * `error` asks the coordinator for another run once they are due; in `synced`, and in `error` when no retry is
 * scheduled, a live type holds a request for the server's changes and asks for a run when one arrives.
 */
const entitySyncSetup = setup({
  types: {
    context: {} as EntitySyncContext,
    events: {} as EntitySyncEvent,
    input: {} as EntitySyncInput,
  },
  actors: {
    batchPush: batchPushMachine,
    pull: pullMachine,
    watchChanges: notProvided<WatchChangesOutput, WatchChangesInput>('entitySyncMachine', 'watchChanges'),
  },
  delays: {
    untilRetryDue: ({ context }) => clampDelay((context.nextRetryAt ?? 0) - context.config.sources.now()),
    liveGap: ({ context }) => LIVE_GAP_MS * 2 ** Math.min(context.spuriousWakes, MAX_LIVE_GAP_DOUBLINGS),
    watchBackoff: ({ context }) => {
      const { policy, sources } = context.config;
      return clampDelay(backoffDelay(context.watchFailures, policy.retry, sources.random, MIN_RUN_RETRY_MS));
    },
  },
  guards: {
    pushes: ({ context }) => context.config.direction !== 'pull',
    /** The push finished (failed items or not) and the run pulls too. */
    goesOnToPull: ({ context }, output: BatchPushOutput) =>
      context.config.direction !== 'push' && output.outcome !== 'aborted',
    endsInError: ({ context }, end: RunEnd) => endsInError(context, end),
    /**
     * A live type holds its request between runs, in `synced` and in `error` alike, unless a failed run's retry is
     * scheduled (that run pulls anyway, and a server that keeps failing is not asked twice). Without the watch in
     * `error`, a run that left only dead letters or refused changes would end live mode: nothing starts another run.
     */
    watchesBetweenRuns: ({ context }) =>
      context.config.live &&
      context.config.direction !== 'push' &&
      !(context.error !== undefined && context.nextRetryAt !== undefined),
    remoteChanged: (_, output: WatchChangesOutput) => output === 'changed',
    hasRetryDue: ({ context }) => context.nextRetryAt !== undefined,
    retryIsDue: ({ context }) =>
      context.nextRetryAt !== undefined && context.config.sources.now() >= context.nextRetryAt,
  },
  actions: {
    startRun: assign(({ context }) => ({
      runId: context.runId + 1,
      counts: NO_COUNTS,
      pull: NO_PULL_COUNTS,
      phase: undefined,
      pushed: undefined,
      startedAt: context.config.sources.now(),
      error: undefined,
      nextRetryAt: undefined,
    })),
    spawnBatch: enqueueActions(({ context, enqueue }) => {
      const { entityType, policy, sources } = context.config;
      enqueue.assign({ phase: 'push' });
      enqueue.spawnChild('batchPush', {
        id: 'batch',
        systemId: `batch:${entityType}`,
        input: { entityType, runId: context.runId, policy, sources },
      });
    }),
    stopBatch: stopChild('batch'),
    keepPushOutput: assign((_, output: BatchPushOutput) => ({ pushed: output, counts: output.counts })),
    spawnPull: enqueueActions(({ context, enqueue }) => {
      const { entityType, policy, sources } = context.config;
      enqueue.assign({ phase: 'pull', nextRetryAt: undefined });
      enqueue.spawnChild('pull', {
        id: 'pull',
        systemId: `pull:${entityType}`,
        input: {
          entityType,
          runId: context.runId,
          policy,
          sources,
          resetsAllowed: resetsAllowed(context.resetTimes, sources.now(), policy.pull),
        },
      });
    }),
    stopPull: stopChild('pull'),
    /** A child's progress or retry wait, in the counts of its phase. */
    takeProgress: assign((_, update: ChildProgress) => ({
      ...(update.phase === 'push' ? { counts: update.counts } : { pull: update.counts }),
      nextRetryAt: update.retryAt,
      // Shown while a retry is pending; progress after a batch or page clears it.
      error:
        update.error === undefined
          ? undefined
          : { ...update.error, outcome: 'retrying' as const, phase: update.phase },
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
    requestPull: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ watchFailures: 0, woke: true });
      enqueue.sendParent({
        type: 'ENTITY.REMOTE_CHANGED',
        entityType: context.config.entityType,
      } satisfies EntityToParentEvent);
    }),
    countWatch: assign(({ context }, ok: boolean) => ({ watchFailures: ok ? 0 : context.watchFailures + 1 })),
  },
});

/**
 * Live mode between runs (the substates of `synced` and `error`): one held request for the server's changes at a
 * time, a run asked for when one arrives.
 */
const liveWatch = entitySyncSetup.createStateConfig({
  initial: 'settling',
  states: {
    settling: {
      always: { guard: not('watchesBetweenRuns'), target: 'still' },
      after: { liveGap: 'watching' },
    },
    watching: {
      invoke: {
        id: 'watch',
        src: 'watchChanges',
        input: ({ context }) => ({
          entityType: context.config.entityType,
          waitSeconds: context.config.policy.pull.liveWaitSeconds,
        }),
        onDone: [
          {
            guard: { type: 'remoteChanged', params: ({ event }) => event.output },
            target: 'changed',
            actions: 'requestPull',
          },
          { target: 'watching', reenter: true, actions: { type: 'countWatch', params: true } },
        ],
        onError: { target: 'backingOff', actions: { type: 'countWatch', params: false } },
      },
    },
    backingOff: {
      after: { watchBackoff: 'watching' },
    },
    // The run asked for is queued; it starts with a SYNC.
    changed: {},
    still: {},
  },
});

/**
 * `synced` and `error`, the resting states. Both keep items that wait for a retry on schedule: the run that ended
 * may have had nothing due yet (a manual sync during the wait) and still knows from the outbox when the next item
 * is.
 */
function restingState(name: 'synced' | 'error') {
  return entitySyncSetup.createStateConfig({
    on: { SYNC: 'syncing' },
    after: {
      // A timer can fire a little before the wall clock reaches the due time (Node measures it from a cached
      // loop time): asking for a run then would find nothing due, so the wait starts again instead.
      untilRetryDue: [
        { guard: 'retryIsDue', actions: 'requestRetry' },
        { guard: 'hasRetryDue', target: name, reenter: true },
      ],
    },
    ...liveWatch,
  });
}

export const entitySyncMachine = entitySyncSetup.createMachine({
  id: 'entitySync',
  context: ({ input }) => ({
    config: input,
    runId: 0,
    counts: NO_COUNTS,
    pull: NO_PULL_COUNTS,
    phase: undefined,
    pushed: undefined,
    resetTimes: [],
    watchFailures: 0,
    woke: false,
    spuriousWakes: 0,
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
      entry: ['startRun', 'reportProgress'],
      initial: 'starting',
      on: {
        CANCEL: { target: 'idle', actions: { type: 'endRun', params: { kind: 'cancelled' } } },
      },
      states: {
        starting: {
          always: [{ guard: 'pushes', target: 'pushing' }, { target: 'pulling' }],
        },
        pushing: {
          entry: 'spawnBatch',
          exit: 'stopBatch',
          on: {
            'BATCH.PROGRESS': {
              actions: [
                { type: 'takeProgress', params: ({ event }) => ({ phase: 'push', counts: event.counts }) },
                'reportProgress',
              ],
            },
            'BATCH.RETRYING': {
              actions: [
                { type: 'takeProgress', params: ({ event }) => ({ ...event, phase: 'push' }) },
                'reportProgress',
              ],
            },
            'xstate.done.actor.batch': [
              {
                guard: { type: 'goesOnToPull', params: ({ event }) => event.output },
                target: 'pulling',
                actions: { type: 'keepPushOutput', params: ({ event }) => event.output },
              },
              {
                guard: {
                  type: 'endsInError',
                  params: ({ event }) => ({ kind: 'finished', push: event.output, pull: undefined }),
                },
                target: '#entitySync.error',
                actions: {
                  type: 'endRun',
                  params: ({ event }) => ({ kind: 'finished', push: event.output, pull: undefined }),
                },
              },
              {
                target: '#entitySync.synced',
                actions: {
                  type: 'endRun',
                  params: ({ event }) => ({ kind: 'finished', push: event.output, pull: undefined }),
                },
              },
            ],
            'xstate.error.actor.batch': {
              target: '#entitySync.error',
              actions: {
                type: 'endRun',
                params: ({ event }: { event: { error: unknown } }) => ({
                  kind: 'crashed',
                  error: event.error,
                }),
              },
            },
          },
        },
        pulling: {
          entry: ['spawnPull', 'reportProgress'],
          exit: 'stopPull',
          on: {
            'PULL.PROGRESS': {
              actions: [
                { type: 'takeProgress', params: ({ event }) => ({ phase: 'pull', counts: event.counts }) },
                'reportProgress',
              ],
            },
            'PULL.RETRYING': {
              actions: [
                { type: 'takeProgress', params: ({ event }) => ({ ...event, phase: 'pull' }) },
                'reportProgress',
              ],
            },
            'xstate.done.actor.pull': [
              {
                guard: {
                  type: 'endsInError',
                  params: ({ context, event }) => ({
                    kind: 'finished',
                    push: context.pushed,
                    pull: event.output,
                  }),
                },
                target: '#entitySync.error',
                actions: {
                  type: 'endRun',
                  params: ({ context, event }) => ({
                    kind: 'finished',
                    push: context.pushed,
                    pull: event.output,
                  }),
                },
              },
              {
                target: '#entitySync.synced',
                actions: {
                  type: 'endRun',
                  params: ({ context, event }) => ({
                    kind: 'finished',
                    push: context.pushed,
                    pull: event.output,
                  }),
                },
              },
            ],
            'xstate.error.actor.pull': {
              target: '#entitySync.error',
              actions: {
                type: 'endRun',
                params: ({ event }: { event: { error: unknown } }) => ({
                  kind: 'crashed',
                  error: event.error,
                }),
              },
            },
          },
        },
      },
    },
    synced: restingState('synced'),
    error: restingState('error'),
  },
});

/**
 * The top-level state of an entity actor's snapshot (`syncing` while pushing or pulling, `synced` while watching
 * for live changes): the `SyncState` apps and the facade speak of.
 */
export function syncStateOf(snapshot: { value: unknown }): SyncState {
  const { value } = snapshot;
  return (typeof value === 'string' ? value : Object.keys(value as object)[0]) as SyncState;
}
