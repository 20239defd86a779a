import { InvalidEntityError } from '../domain/errors.js';
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import {
  assertStoredEntity,
  checkCheckpoint,
  type PullState,
  validateFailureRecord,
} from './outbox-index.js';

// What a persistent store reads back, checked as every store checks it before trusting it: a row that fails throws
// `InvalidEntityError` saying which row and what is wrong, and the store refuses to open (`StoreCorruptError`).
// `collection` is the entity type's name as messages quote it (`JSON.stringify(entityType)`).

/** A stored record, under the id it is stored under. `shallow`: its source is known to nest no deeper than allowed. */
export function checkStoredRecord(
  record: unknown,
  id: string,
  collection: string,
  options: { shallow?: boolean } = {},
): RepositoryEntity {
  try {
    assertStoredEntity(record, 'record', options);
  } catch (error) {
    // Named only on the way out: building the name for every record costs more than the check itself.
    if (error instanceof InvalidEntityError)
      assertStoredEntity(record, `record ${collection}/${JSON.stringify(id)}`);
    throw error;
  }
  if (record.id !== id) {
    throw new InvalidEntityError(`record ${JSON.stringify(id)} of ${collection} has the id "${record.id}"`);
  }
  return record;
}

/** A stored failure record, under the id it is stored under, copied with its fields only. */
export function checkStoredFailure(value: unknown, id: string, collection: string): FailureRecord {
  const checked = validateFailureRecord(value, `failure record ${collection}/${JSON.stringify(id)}`);
  if (checked.id !== id) {
    throw new InvalidEntityError(
      `failure record ${JSON.stringify(id)} of ${collection} has the id "${checked.id}"`,
    );
  }
  return checked;
}

/** A stored pull state: a checkpoint (or none yet), and whether a reset is in progress (absent: none). */
export function checkStoredPullState(checkpoint: unknown, resetting: unknown, collection: string): PullState {
  const checked =
    checkpoint === undefined ? undefined : checkCheckpoint(checkpoint, `collection ${collection}`);
  if (resetting !== undefined && typeof resetting !== 'boolean') {
    throw new InvalidEntityError(`collection ${collection} has a non-boolean resetting`);
  }
  return { checkpoint: checked, resetting: resetting === true };
}
