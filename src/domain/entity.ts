import { InvalidEntityError } from './errors.js';
import type { RepositoryEntity } from './types.js';

/** A copy marked as changed locally: a new version, pending sync. */
export function markUpdated<T extends RepositoryEntity>(entity: T, now: number = Date.now()): T {
  return { ...entity, version: entity.version + 1, updatedAt: now, syncPending: true };
}

/** A copy marked as acknowledged by the remote. */
export function markSynced<T extends RepositoryEntity>(entity: T): T {
  return { ...entity, syncPending: false };
}

/** Throws `InvalidEntityError` unless `value` has the bookkeeping fields an entity needs. */
export function assertEntity(value: unknown, where = 'entity'): asserts value is RepositoryEntity {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEntityError(`${where} must be a plain object, got ${describe(value)}`);
  }
  const record = value as Record<string, unknown>;
  if (typeof record.id !== 'string' || record.id.length === 0) {
    throw new InvalidEntityError(`${where} needs a non-empty string id, got ${describe(record.id)}`);
  }
  for (const field of ['createdAt', 'updatedAt', 'version'] as const) {
    const v = record[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new InvalidEntityError(
        `${where} "${record.id}" needs a non-negative number ${field}, got ${describe(v)}`,
      );
    }
  }
  if (typeof record.syncPending !== 'boolean') {
    throw new InvalidEntityError(`${where} "${record.id}" needs a boolean syncPending`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value === 'object' ? 'an object' : String(value);
}
