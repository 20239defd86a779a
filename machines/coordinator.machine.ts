import { assign, emit, enqueueActions, setup } from 'xstate';
import { clampDelay } from '../src/core/timers.js';
import type { SyncDirection } from '../src/domain/types.js';
import type {
  CoordinatorContext,
  CoordinatorEmitted,
  CoordinatorEvent,
  CoordinatorInput,
} from './coordinator.types.js';
import { entitySyncMachine } from './entity-sync.machine.js';
import type { RunReport } from './entity-sync.types.js';
import { enqueueRun, isScheduled, takeRunnable } from './run-queue.js';

/** The child id (and system id) of an entity type's actor. */
export const entityActorId = (entityType: string): `entity:${string}` => `entity:${entityType}`;

/**
 * The root actor. Spawns one entity actor per registered type, serialises sync requests in request order
 * (`concurrency` types at once, one run per type at a time), runs auto-sync on a delayed transition and
 * republishes its children's progress as emitted events.
 */
export const coordinatorMachine = setup({
  types: {
    context: {} as CoordinatorContext,
    events: {} as CoordinatorEvent,
    input: {} as CoordinatorInput,
    emitted: {} as CoordinatorEmitted,
  },
  actors: { entitySync: entitySyncMachine },
  delays: {
    autoSyncInterval: ({ context }) => clampDelay(context.config.autoSyncIntervalMs),
  },
  guards: {
    autoSyncEnabled: ({ context }) => context.config.enableAutoSync,
    isRegistered: ({ context }, entityType: string) => context.entityTypes.includes(entityType),
  },
  actions: {
    registerEntity: enqueueActions(
      ({ context, enqueue }, request: { entityType: string; direction?: SyncDirection; live?: boolean }) => {
        const { entityType } = request;
        if (context.entityTypes.includes(entityType)) return;
        enqueue.assign({ entityTypes: [...context.entityTypes, entityType] });
        enqueue.spawnChild('entitySync', {
          id: entityActorId(entityType),
          systemId: entityActorId(entityType),
          input: {
            entityType,
            policy: context.config.policy,
            sources: context.config.sources,
            direction: request.direction ?? 'push',
            live: request.live ?? false,
          },
        });
      },
    ),
    queueRun: assign(({ context }, request: { entityType: string; requestId?: string }) => ({
      queue: enqueueRun(context.queue, request.entityType, request.requestId),
    })),
    queueAll: assign(({ context }) => ({
      queue: context.entityTypes.reduce((queue, type) => enqueueRun(queue, type), context.queue),
    })),
    /** Auto-sync and retries: only types with nothing queued or running. */
    queueIdle: assign(({ context }, entityTypes: readonly string[]) => ({
      queue: entityTypes
        .filter((type) => !isScheduled(context, type))
        .reduce((queue, type) => enqueueRun(queue, type), context.queue),
    })),
    dispatch: enqueueActions(({ context, enqueue }) => {
      const next = takeRunnable(context, context.config.concurrency);
      if (next.started.length === 0) return;
      enqueue.assign({ queue: next.queue, active: next.active });
      for (const entityType of next.started) enqueue.sendTo(entityActorId(entityType), { type: 'SYNC' });
    }),
    cancel: enqueueActions(({ context, enqueue }, entityType: string) => {
      const queued = context.queue.find((run) => run.entityType === entityType);
      if (queued) {
        enqueue.assign({ queue: context.queue.filter((run) => run !== queued) });
        enqueue.emit({ type: 'requestsCancelled', entityType, requestIds: queued.requestIds });
      }
      if (entityType in context.active) enqueue.sendTo(entityActorId(entityType), { type: 'CANCEL' });
    }),
    finishRun: enqueueActions(({ context, enqueue }, report: RunReport) => {
      const { [report.entityType]: run, ...active } = context.active;
      enqueue.assign({ active });
      enqueue.emit({ type: 'progress', snapshot: report });
      enqueue.emit({ type: 'runFinished', report, requestIds: run?.requestIds ?? [] });
    }),
    rejectUnknown: emit(({ context }, request: { entityType: string; requestId?: string }) => ({
      type: 'rejected' as const,
      code: 'UNKNOWN_ENTITY_TYPE' as const,
      entityType: request.entityType,
      requestId: request.requestId,
      registered: context.entityTypes,
    })),
  },
}).createMachine({
  id: 'coordinator',
  context: ({ input }) => ({ config: input, entityTypes: [], queue: [], active: {} }),
  initial: 'starting',
  on: {
    REGISTER: { actions: { type: 'registerEntity', params: ({ event }) => event } },
    SYNC: [
      {
        guard: { type: 'isRegistered', params: ({ event }) => event.entityType },
        actions: [{ type: 'queueRun', params: ({ event }) => event }, 'dispatch'],
      },
      { actions: { type: 'rejectUnknown', params: ({ event }) => event } },
    ],
    SYNC_ALL: { actions: ['queueAll', 'dispatch'] },
    CANCEL: { actions: { type: 'cancel', params: ({ event }) => event.entityType } },
    'ENTITY.PROGRESS': {
      actions: emit(({ event }) => ({ type: 'progress' as const, snapshot: event.snapshot })),
    },
    'ENTITY.RUN_DONE': { actions: [{ type: 'finishRun', params: ({ event }) => event.report }, 'dispatch'] },
    'ENTITY.RETRY_DUE': {
      actions: [{ type: 'queueIdle', params: ({ event }) => [event.entityType] }, 'dispatch'],
    },
    'ENTITY.REMOTE_CHANGED': {
      actions: [{ type: 'queueIdle', params: ({ event }) => [event.entityType] }, 'dispatch'],
    },
  },
  states: {
    starting: {
      always: [{ guard: 'autoSyncEnabled', target: 'autoSync' }, { target: 'manual' }],
    },
    manual: {},
    // Re-entered on every tick, which re-arms the timer.
    autoSync: {
      after: {
        autoSyncInterval: {
          target: 'autoSync',
          reenter: true,
          actions: [{ type: 'queueIdle', params: ({ context }) => context.entityTypes }, 'dispatch'],
        },
      },
    },
  },
});
