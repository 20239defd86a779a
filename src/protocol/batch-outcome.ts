import { type ErrorInfo, ITEM_FAILED } from '../domain/errors.js';
import type {
  ConditionalWrite,
  ConflictPolicy,
  FailedItem,
  ItemFailure,
  ItemResult,
  OutboxCommitResult,
  RepositoryEntity,
  SyncAck,
} from '../domain/types.js';
import { resolveConflict } from './conflicts.js';

/** What a batch's reply asks of the outbox, before it is written. */
export interface BatchPlan<T extends RepositoryEntity> {
  /** The versions the remote acknowledged: cleared where still stored. */
  acks: SyncAck[];
  replace: ConditionalWrite<T>[];
  failures: ItemFailure[];
  /** Ids whose server copy is taken locally (server-wins): synced once written. */
  acceptedRemote: string[];
  /** Conflict resolutions to push again in this run, once written. */
  repush: T[];
  /** Retryable failures with attempts left: pushed again in this run after a backoff. */
  retry: T[];
  /** The error of the last item in `retry`, for the backoff's report. */
  retryError: ErrorInfo | undefined;
  /** The error that failed the whole batch (`planBatchFailure`): its items' failures carry its message. */
  batchError: ErrorInfo | undefined;
  conflicts: number;
}

/** The batch's effect on the run once the plan is written. */
export interface BatchSettlement<T extends RepositoryEntity> {
  syncedItems: number;
  failedItems: number;
  /** Items changed locally while in flight: they leave this run and go out in the next one. */
  supersededItems: number;
  conflicts: number;
  /** The failed items as the store recorded them. */
  failures: FailedItem[];
  /** Items to push again in this run. */
  carry: T[];
  /** Whether `carry` holds failures, which wait for a backoff first. */
  backoff: boolean;
}

export interface PlanInput<T extends RepositoryEntity> {
  items: readonly T[];
  /** Pushes of each item in this run, this one included. */
  attempts: (id: string) => number;
  maxAttempts: number;
  conflicts: ConflictPolicy<T>;
  now: number;
}

/** Turns a validated reply into a plan. An item the reply leaves out is a retryable failure. */
export function planReply<T extends RepositoryEntity>(
  input: PlanInput<T>,
  results: ReadonlyMap<string, ItemResult<T>>,
): BatchPlan<T> {
  const plan = emptyPlan<T>();
  for (const item of input.items) {
    const result = results.get(item.id) ?? {
      id: item.id,
      status: 'failed' as const,
      error: 'The remote reply did not mention this item',
      retryable: true,
    };
    if (result.status === 'ok') {
      plan.acks.push({ id: item.id, version: item.version });
    } else if (result.status === 'failed') {
      fail(plan, input, item, result.error, result.retryable);
    } else {
      plan.conflicts += 1;
      const resolution = resolveConflict(input.conflicts, item, result.remote, input.now);
      if (resolution.kind === 'failed') {
        fail(plan, input, item, resolution.error, false);
      } else if (resolution.kind === 'accept-remote') {
        plan.replace.push({ expectedVersion: item.version, entity: resolution.entity });
        plan.acceptedRemote.push(item.id);
      } else if (input.attempts(item.id) >= input.maxAttempts) {
        fail(plan, input, item, `Conflict still unresolved after ${input.maxAttempts} attempts`, true);
      } else {
        plan.replace.push({ expectedVersion: item.version, entity: resolution.entity });
        plan.repush.push(resolution.entity);
      }
    }
  }
  return plan;
}

/** The plan when a whole batch failed and will not be retried in this run. */
export function planBatchFailure<T extends RepositoryEntity>(
  items: readonly T[],
  error: ErrorInfo,
): BatchPlan<T> {
  const plan = emptyPlan<T>();
  plan.batchError = error;
  for (const item of items) {
    plan.failures.push({
      id: item.id,
      version: item.version,
      error: error.message,
      retryable: error.retryable,
    });
  }
  return plan;
}

/**
 * The error behind a plan's last recorded failure, as data: the batch's own error when the whole batch failed,
 * else the item's reason under `ITEM_FAILED`.
 */
export function failureError<T extends RepositoryEntity>(
  plan: BatchPlan<T>,
  failure: FailedItem | undefined,
): ErrorInfo | undefined {
  if (!failure) return undefined;
  return plan.batchError ?? { code: ITEM_FAILED, message: failure.error, retryable: !failure.deadLettered };
}

/** Combines a plan with what the store reports it actually wrote. */
export function settleBatch<T extends RepositoryEntity>(
  plan: BatchPlan<T>,
  written: OutboxCommitResult,
): BatchSettlement<T> {
  const replaced = new Set(written.replaced);
  const acceptedSynced = plan.acceptedRemote.filter((id) => replaced.has(id)).length;
  const repush = plan.repush.filter((entity) => replaced.has(entity.id));
  // The store records a failure only for the version it holds; the rest were edited meanwhile and left the run.
  const failures = written.failures.map((record) => ({
    id: record.id,
    error: record.lastError,
    attempts: record.attempts,
    deadLettered: record.deadLettered,
  }));
  const supersededItems =
    written.stale.length +
    (plan.acceptedRemote.length - acceptedSynced) +
    (plan.repush.length - repush.length) +
    (plan.failures.length - failures.length);
  return {
    syncedItems: written.syncedIds.length + acceptedSynced,
    failedItems: failures.length,
    supersededItems,
    conflicts: plan.conflicts,
    failures,
    carry: [...plan.retry, ...repush],
    backoff: plan.retry.length > 0,
  };
}

function fail<T extends RepositoryEntity>(
  plan: BatchPlan<T>,
  input: PlanInput<T>,
  item: T,
  error: string,
  retryable: boolean,
): void {
  if (retryable && input.attempts(item.id) < input.maxAttempts) {
    plan.retry.push(item);
    plan.retryError = { code: ITEM_FAILED, message: error, retryable: true };
  } else {
    plan.failures.push({ id: item.id, version: item.version, error, retryable });
  }
}

function emptyPlan<T extends RepositoryEntity>(): BatchPlan<T> {
  return {
    acks: [],
    replace: [],
    failures: [],
    acceptedRemote: [],
    repush: [],
    retry: [],
    retryError: undefined,
    batchError: undefined,
    conflicts: 0,
  };
}
