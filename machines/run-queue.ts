import type { CoordinatorContext, QueuedRun } from './coordinator.types.js';

/**
 * Queues a run for `entityType`. A request joins a run that is queued and not yet started, since that run will
 * cover everything saved before the request; otherwise (idle or already running) a new run is queued.
 */
export function enqueueRun(queue: readonly QueuedRun[], entityType: string, requestId?: string): QueuedRun[] {
  const requestIds = requestId === undefined ? [] : [requestId];
  const index = queue.findIndex((run) => run.entityType === entityType);
  if (index === -1) return [...queue, { entityType, requestIds }];
  return queue.map((run, i) =>
    i === index ? { entityType, requestIds: [...run.requestIds, ...requestIds] } : run,
  );
}

/** Whether a run for `entityType` is queued or in progress. */
export function isScheduled(
  context: Pick<CoordinatorContext, 'queue' | 'active'>,
  entityType: string,
): boolean {
  return entityType in context.active || context.queue.some((run) => run.entityType === entityType);
}

/** Starts queued runs in request order while there is capacity, never two of one type at once. */
export function takeRunnable(
  context: Pick<CoordinatorContext, 'queue' | 'active'>,
  concurrency: number,
): { queue: QueuedRun[]; active: CoordinatorContext['active']; started: string[] } {
  const active = { ...context.active };
  const queue: QueuedRun[] = [];
  const started: string[] = [];
  for (const run of context.queue) {
    if (Object.keys(active).length < concurrency && !(run.entityType in active)) {
      active[run.entityType] = { requestIds: run.requestIds };
      started.push(run.entityType);
    } else {
      queue.push(run);
    }
  }
  return { queue, active, started };
}
