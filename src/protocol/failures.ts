import type { FailurePolicy, FailureRecord, ItemFailure, RepositoryEntity } from '../domain/types.js';

/**
 * The record a store keeps after `failure`, given the record it had. A new version starts a fresh count:
 * the user changed the item, so its old failures say nothing about the new one.
 */
export function nextFailureRecord(
  previous: FailureRecord | undefined,
  failure: ItemFailure,
  now: number,
  policy: FailurePolicy,
): FailureRecord {
  const attempts = previous && previous.version === failure.version ? previous.attempts + 1 : 1;
  // A permanent failure will fail the same way again: dead-letter it at once rather than spend retries on it.
  const deadLettered = !failure.retryable || attempts >= policy.maxItemAttempts;
  return {
    id: failure.id,
    version: failure.version,
    attempts,
    lastError: failure.error,
    retryable: failure.retryable,
    nextAttemptAt: deadLettered ? undefined : now + policy.retryDelayMs(attempts),
    deadLettered,
    failedAt: now,
  };
}

/** Whether a pending entity may be pushed at `now`, given its failure record. */
export function isDue(entity: RepositoryEntity, record: FailureRecord | undefined, now: number): boolean {
  if (!entity.syncPending) return false;
  if (!record || record.version !== entity.version) return true;
  if (record.deadLettered) return false;
  return record.nextAttemptAt === undefined || record.nextAttemptAt <= now;
}
