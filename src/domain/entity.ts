import { InvalidEntityError } from './errors.js';
import type { RepositoryEntity } from './types.js';

/**
 * A copy of `entity` marked as changed locally: the next version, `updatedAt` = `now`, pending sync. The one rule
 * for a local change: `Repository.save` applies it, and so should a repository or store of your own, since the
 * remote acknowledges versions and a change that kept its version could be taken for one already synced.
 */
export function markUpdated<T extends RepositoryEntity>(entity: T, now: number = Date.now()): T {
  return { ...entity, version: entity.version + 1, updatedAt: now, syncPending: true };
}

/**
 * A copy of `entity` marked as acknowledged by the remote (`syncPending` false, nothing else changed). Stores apply
 * it to a record whose stored version the remote acknowledged; only that exact version may be marked synced.
 */
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

function inField(field: string | undefined): string {
  return field === undefined ? '' : ` in field ${describe(field)}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value === 'object' ? 'an object' : String(value);
}

/**
 * The deepest nesting of objects and arrays a record may have, the record itself being level 1. Deeper values
 * overflow the stack of recursive code (`JSON.stringify`, `structuredClone`), which would make a stored record
 * impossible to write or read back. Stores, the conflict resolution and the reference server apply this limit.
 */
export const MAX_ENTITY_DEPTH = 64;

/**
 * Why `value` cannot be stored as JSON and read back the same, or `undefined` if it can: functions, symbols,
 * bigints, non-finite numbers (JSON turns them into `null`), nesting deeper than `maxDepth` (cycles included).
 * Walks without recursion, so a value of any depth is safe to check. An object with `toJSON` (a `Date`) is taken
 * as JSON will take it; check a JSON copy to cover what `toJSON` returns.
 */
export function jsonProblem(value: unknown, maxDepth: number = MAX_ENTITY_DEPTH): string | undefined {
  const stack: { value: unknown; depth: number; field: string | undefined }[] = [
    { value, depth: 1, field: undefined },
  ];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const current = next.value;
    switch (typeof current) {
      case 'function':
      case 'symbol':
      case 'bigint':
        return `it holds a ${typeof current}${inField(next.field)}, which JSON cannot carry`;
      case 'number':
        if (!Number.isFinite(current))
          return `it holds the number ${current}${inField(next.field)}, which JSON cannot carry`;
        continue;
      case 'object':
        break;
      default:
        continue;
    }
    if (current === null) continue;
    if (next.depth > maxDepth) return `it is nested deeper than ${maxDepth} levels${inField(next.field)}`;
    try {
      if (typeof (current as { toJSON?: unknown }).toJSON === 'function') continue;
      for (const [key, child] of Object.entries(current)) {
        stack.push({ value: child, depth: next.depth + 1, field: next.field ?? key });
      }
    } catch (error) {
      // A getter or a proxy that throws: JSON.stringify would throw the same way.
      return `it cannot be read${inField(next.field)} (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  return undefined;
}
