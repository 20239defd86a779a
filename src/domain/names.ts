import { InvalidEntityError } from './errors.js';

/**
 * Entity-type (collection) names: 1-64 ASCII letters, digits, ".", "_" or "-", starting with a letter or digit.
 * Names reach file contents, URL paths and log lines, so the set is small on purpose: no separators, no control
 * characters, nothing that needs escaping. Starting with a letter or digit refuses `__proto__` and the other
 * `__x__` names; the rest (`constructor`, `prototype`, `toString`) are ordinary names, since every map keyed by
 * them is a `Map` or has no prototype.
 */
const ENTITY_TYPE_NAME = /^[A-Za-z0-9][\w.-]{0,63}$/;

/** Whether `name` is an entity-type name actorsync keeps (see `assertEntityTypeName`). */
export function isEntityTypeName(name: unknown): name is string {
  return typeof name === 'string' && ENTITY_TYPE_NAME.test(name);
}

/** Throws `InvalidEntityError` unless `name` is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit. */
export function assertEntityTypeName(name: unknown, what = 'entityType'): asserts name is string {
  if (isEntityTypeName(name)) return;
  const shown =
    typeof name === 'string'
      ? JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)
      : typeof name;
  throw new InvalidEntityError(
    `${what} must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${shown}`,
  );
}
