import { errorMessage, InvalidEntityError } from './errors.js';
import type { RepositoryEntity } from './types.js';

/**
 * A copy of `entity` marked as changed locally: the next version, `updatedAt` = `now`, pending sync. The one rule
 * for a local change: `Repository.save` applies it, and so should a repository or store of your own, since the
 * remote acknowledges versions and a change that kept its version could be taken for one already synced. The change
 * remembers the server version it is built on (`baseVersion`): a synced record's own version, or, for a record
 * already pending, the base of its first unacknowledged change.
 */
export function markUpdated<T extends RepositoryEntity>(entity: T, now: number = Date.now()): T {
  const { baseVersion: _, ...rest } = entity;
  return { ...rest, version: entity.version + 1, updatedAt: now, syncPending: true, ...baseOf(entity) } as T;
}

/**
 * A copy of `entity` marked as acknowledged by the remote (`syncPending` false, no `baseVersion`, nothing else
 * changed). Stores apply it to a record whose stored version the remote acknowledged; only that exact version may be
 * marked synced.
 */
export function markSynced<T extends RepositoryEntity>(entity: T): T {
  const { baseVersion: _, ownVersions: _own, ...rest } = entity;
  return { ...rest, syncPending: false } as T;
}

/**
 * The tombstone that deletes `entity`: its bookkeeping only (the user's fields are dropped, as a server's tombstone
 * carries none), the next version, `updatedAt` = `now`, `deleted: true`, pending sync, built on the same server
 * version `markUpdated` would take. Pushed like any change.
 */
export function markDeleted<T extends RepositoryEntity>(entity: T, now: number = Date.now()): T {
  const { id, createdAt, version } = entity;
  return {
    id,
    createdAt,
    updatedAt: now,
    version: version + 1,
    syncPending: true,
    deleted: true,
    ...baseOf(entity),
  } as T;
}

/**
 * The base of the next local change of `entity`: a pending record keeps the base of its first unacknowledged
 * change (absent for a create); a synced one is built on its own version (none at version 0: the remote has none).
 */
function baseOf(entity: RepositoryEntity): { baseVersion?: number } {
  const base = entity.syncPending ? entity.baseVersion : entity.version > 0 ? entity.version : undefined;
  return base === undefined ? {} : { baseVersion: base };
}

/** Whether a record is a tombstone (`deleted: true`). */
export function isTombstone(entity: { deleted?: unknown }): boolean {
  return entity.deleted === true;
}

/** The bookkeeping field of an entity that is missing or wrong, and what it must be. */
export interface EntityFieldProblem {
  /** `undefined` when the value is not an object at all. */
  field:
    | 'id'
    | 'createdAt'
    | 'updatedAt'
    | 'version'
    | 'syncPending'
    | 'baseVersion'
    | 'ownVersions'
    | undefined;
  /** What the field must be, as in "a non-negative number". */
  expected: string;
  got: unknown;
}

/**
 * The first bookkeeping field that keeps `value` from being an entity, or `undefined` if it is one: the one rule
 * behind `assertEntity`, for callers that word their own refusal (the reference server's 400).
 */
export function entityFieldProblem(value: unknown): EntityFieldProblem | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { field: undefined, expected: 'a plain object', got: value };
  }
  const record = value as Record<string, unknown>;
  if (typeof record.id !== 'string' || record.id.length === 0) {
    return { field: 'id', expected: 'a non-empty string', got: record.id };
  }
  for (const field of ['createdAt', 'updatedAt', 'version'] as const) {
    const v = record[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      return { field, expected: 'a non-negative number', got: v };
    }
  }
  if (typeof record.syncPending !== 'boolean') {
    return { field: 'syncPending', expected: 'a boolean', got: record.syncPending };
  }
  // Optional (records before it have none), but a server version below the record's own when present.
  const base = record.baseVersion;
  if (
    base !== undefined &&
    !(Number.isSafeInteger(base) && (base as number) >= 0 && (base as number) < (record.version as number))
  ) {
    return {
      field: 'baseVersion',
      expected: 'a whole number from 0 to below the version, when present',
      got: base,
    };
  }
  const own = record.ownVersions;
  if (own !== undefined && !isOwnVersionList(own, record.version as number)) {
    return {
      field: 'ownVersions',
      expected: `a list of at most ${MAX_OWN_VERSIONS} { version, digest } below the version, when present`,
      got: own,
    };
  }
  return undefined;
}

/** The most `ownVersions` a record keeps: the latest unacknowledged pushes are the ones a server may hold. */
export const MAX_OWN_VERSIONS = 8;

function isOwnVersionList(value: unknown, version: number): boolean {
  return (
    Array.isArray(value) &&
    value.length <= MAX_OWN_VERSIONS &&
    value.every(
      (entry: unknown) =>
        typeof entry === 'object' &&
        entry !== null &&
        Number.isSafeInteger((entry as { version?: unknown }).version) &&
        ((entry as { version: number }).version as number) >= 0 &&
        (entry as { version: number }).version < version &&
        typeof (entry as { digest?: unknown }).digest === 'string' &&
        /^[0-9a-f]{16}$/.test((entry as { digest: string }).digest),
    )
  );
}

/**
 * Throws `InvalidEntityError` unless `value` has the bookkeeping fields an entity needs. With `quoteText` false (a
 * record a server sent, or one built from it), the message describes values by their kind and size and never
 * quotes the record's text, id included: a server chose it, and the message may be stored or logged.
 */
export function assertEntity(
  value: unknown,
  where = 'entity',
  quoteText = true,
): asserts value is RepositoryEntity {
  const problem = entityFieldProblem(value);
  if (!problem) return;
  const describe = quoteText ? describeValue : describeShape;
  const { field, expected, got } = problem;
  if (field === undefined) throw new InvalidEntityError(`${where} must be ${expected}, got ${describe(got)}`);
  if (field === 'id') throw new InvalidEntityError(`${where} needs ${expected} id, got ${describe(got)}`);
  const named = quoteText ? `${where} "${(value as { id: string }).id}"` : where;
  if (field === 'baseVersion' || field === 'ownVersions')
    throw new InvalidEntityError(`${named} has ${field} ${describe(got)}, not ${expected}`);
  // syncPending's value says nothing a reader needs; the numbers' do.
  const shown = field === 'syncPending' ? '' : `, got ${describe(got)}`;
  throw new InvalidEntityError(`${named} needs ${expected} ${field}${shown}`);
}

function inField(field: string | undefined, quoteText: boolean): string {
  if (field === undefined) return '';
  return quoteText ? ` in field ${describeValue(field)}` : ' in one of its fields';
}

/**
 * A short description of an untrusted value for an error message: strings quoted and cut at 40 characters,
 * numbers and booleans as they are, anything else by its kind ("an object", "an array", "a function"), so no
 * message carries a large or hostile value whole.
 */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * A description of an untrusted value that never quotes its text: for messages about what a server sent, which
 * may carry anything (a token it echoed, say) and end up in failure records, logs and results. Strings are
 * described by their length, numbers and booleans shown as they are, anything else by its kind.
 */
export function describeShape(value: unknown): string {
  if (typeof value === 'string') {
    return value.length === 0
      ? 'an empty string'
      : `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  }
  return describeValue(value);
}

/** The longest checkpoint a store keeps and a remote accepts from a server: it is sent back in a URL. */
export const MAX_CHECKPOINT_CHARS = 2048;

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
 * as JSON will take it; check a JSON copy to cover what `toJSON` returns. The reason names the top-level field it
 * found the problem in, unless `quoteText` is false (a server's record: its field names are its text).
 */
export function jsonProblem(
  value: unknown,
  maxDepth: number = MAX_ENTITY_DEPTH,
  quoteText = true,
): string | undefined {
  const stack: { value: unknown; depth: number; field: string | undefined }[] = [
    { value, depth: 1, field: undefined },
  ];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const current = next.value;
    switch (typeof current) {
      case 'function':
      case 'symbol':
      case 'bigint':
        return `it holds a ${typeof current}${inField(next.field, quoteText)}, which JSON cannot carry`;
      case 'number':
        if (!Number.isFinite(current))
          return `it holds the number ${current}${inField(next.field, quoteText)}, which JSON cannot carry`;
        continue;
      case 'object':
        break;
      default:
        continue;
    }
    if (current === null) continue;
    if (next.depth > maxDepth)
      return `it is nested deeper than ${maxDepth} levels${inField(next.field, quoteText)}`;
    try {
      if (typeof (current as { toJSON?: unknown }).toJSON === 'function') continue;
      for (const [key, child] of Object.entries(current)) {
        stack.push({ value: child, depth: next.depth + 1, field: next.field ?? key });
      }
    } catch (error) {
      // A getter or a proxy that throws: JSON.stringify would throw the same way.
      return `it cannot be read${inField(next.field, quoteText)} (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  return undefined;
}

/** Thrown by `plainCopy` for anything it leaves to the slow path. */
const NOT_PLAIN: unique symbol = Symbol('not plain JSON data');

/**
 * `JSON.parse(JSON.stringify(value))` for plain data, in one walk that also checks it: objects with the ordinary
 * (or no) prototype and no `toJSON`, arrays, strings, booleans, finite numbers, `null`, nested at most
 * `MAX_ENTITY_DEPTH` deep. Throws `NOT_PLAIN` for anything else, leaving it to `storableCopy`'s slow path. Keeps
 * JSON's own rules: a property whose value is `undefined` is dropped, an `undefined` array element becomes `null`,
 * `-0` becomes `0`, and a key named `__proto__` is copied as data.
 */
function plainCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw NOT_PLAIN;
      return value === 0 ? 0 : value;
    case 'object':
      break;
    default:
      throw NOT_PLAIN;
  }
  if (value === null) return null;
  if (depth > MAX_ENTITY_DEPTH) throw NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) throw NOT_PLAIN;
    const copy: unknown[] = new Array(value.length);
    for (let i = 0; i < value.length; i += 1) {
      const element: unknown = value[i];
      copy[i] = element === undefined ? null : plainCopy(element, depth + 1);
    }
    return copy;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) throw NOT_PLAIN;
  const record = value as Record<string, unknown>;
  if (typeof record.toJSON === 'function') throw NOT_PLAIN;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const field = record[key];
    if (field === undefined) continue;
    const fieldCopy = plainCopy(field, depth + 1);
    if (key === '__proto__') {
      Object.defineProperty(copy, key, {
        value: fieldCopy,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else copy[key] = fieldCopy;
  }
  return copy;
}

/**
 * `plainCopy`'s check without the copy, for plain data the caller owns outright: every object and array is checked
 * by the same rules and then frozen where it is, and a `-0` becomes `0` as a copy would make it. Throws `NOT_PLAIN`
 * for anything else, and for a value frozen already (adopted before, so held elsewhere too), leaving it to the
 * slow path; what was frozen before the throw stays frozen, harmlessly (a copy is made instead).
 */
function freezePlain(value: unknown, depth: number): void {
  if (typeof value !== 'object' || value === null) return;
  if (depth > MAX_ENTITY_DEPTH || Object.isFrozen(value)) throw NOT_PLAIN;
  if (Array.isArray(value)) {
    if (Object.getPrototypeOf(value) !== Array.prototype) throw NOT_PLAIN;
    for (let i = 0; i < value.length; i += 1) {
      const element: unknown = value[i];
      if (!isPlainLeaf(element)) freezePlain(element, depth + 1);
      else if (element === 0 && 1 / element < 0) value[i] = 0;
    }
  } else {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) throw NOT_PLAIN;
    const record = value as Record<string, unknown>;
    if (typeof record.toJSON === 'function') throw NOT_PLAIN;
    for (const key of Object.keys(record)) {
      const field = record[key];
      if (!isPlainLeaf(field)) freezePlain(field, depth + 1);
      else if (field === 0 && 1 / field < 0) record[key] = 0;
    }
  }
  Object.freeze(value);
}

/**
 * Whether `value` is a JSON leaf kept as it is (a string, boolean, finite number or `null`); throws `NOT_PLAIN` for
 * a leaf JSON cannot carry as it is (`undefined`, a function, symbol, bigint or non-finite number).
 */
function isPlainLeaf(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      if (!Number.isFinite(value)) throw NOT_PLAIN;
      return true;
    case 'object':
      return value === null;
    default:
      throw NOT_PLAIN;
  }
}

export interface StorableCopyOptions {
  /**
   * `value` is the caller's to give away: parsed from JSON a moment ago and held by no one else (a page a remote
   * parsed from its reply). Plain data is then checked and frozen where it is and returned itself, not copied;
   * anything else is copied as usual.
   */
  inPlace?: boolean;
}

/**
 * A deep JSON copy of `value`, so memory and file stores, remotes and resolvers all keep a record exactly as it
 * will read back; throws `InvalidEntityError` (`<where> cannot be stored: …`) when JSON cannot carry it: functions,
 * symbols, bigints, non-finite numbers, nesting past `MAX_ENTITY_DEPTH`, a getter that throws. `quoteText` as for
 * `jsonProblem`. With `inPlace`, see `StorableCopyOptions`.
 */
export function storableCopy<T>(
  value: T,
  where: string,
  quoteText = true,
  options: StorableCopyOptions = {},
): T {
  // Plain data (what JSON.parse and most apps make) is checked and copied in one walk, or, given away, checked and
  // frozen where it is. Anything else (a toJSON, a class instance, something JSON cannot carry) takes the slow path,
  // which also words the refusal.
  try {
    if (!options.inPlace || typeof value !== 'object' || value === null) return plainCopy(value, 1) as T;
    freezePlain(value, 1);
    return value;
  } catch {
    // The slow path below decides, and says why if it refuses.
  }
  // Walked without recursion first: a value too deep for JSON.stringify gets the same typed refusal.
  const problem = jsonProblem(value, MAX_ENTITY_DEPTH, quoteText);
  if (problem) throw new InvalidEntityError(`${where} cannot be stored: ${problem}`);
  let copy: T;
  try {
    copy = JSON.parse(JSON.stringify(value)) as T;
  } catch (error) {
    throw new InvalidEntityError(`${where} cannot be stored: ${errorMessage(error)}`);
  }
  // What a `toJSON` (a Date's, say) returned was not walked above.
  const copyProblem = jsonProblem(copy, MAX_ENTITY_DEPTH, quoteText);
  if (copyProblem) throw new InvalidEntityError(`${where} cannot be stored: ${copyProblem}`);
  return copy;
}
