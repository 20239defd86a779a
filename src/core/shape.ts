/**
 * Shape checks for what a remote or another tab sends: a few combinators, each a function that answers the first
 * mismatch or `undefined`. Hand-written rather than a schema library to keep the browser bundle small; a mismatch
 * names where (our own field names and array indexes, never a key the sender chose) and what was expected and
 * found (a kind, never the value), so a message built from it quotes nothing a sender controls.
 */
export interface Mismatch {
  /** Field names and indexes from the top, e.g. `['results', '3', 'version']`. */
  readonly path: readonly string[];
  /** What the shape wanted, e.g. `a number`. */
  readonly expected: string;
  /** The kind of value found, e.g. `a string`, `nothing`. */
  readonly received: string;
}

/** A check; `T` is what a value that passes it is (the phantom `type` is never set). */
export interface Shape<T> {
  (value: unknown): Mismatch | undefined;
  readonly type?: T;
  /** A copy of a value that passed, holding only the fields the shape names (`parse`); absent: the value itself. */
  // A method, so a Shape<number> is a Shape<unknown> too (methods' parameters are bivariant).
  copy?(value: T): T;
}

function copyOf<T>(shape: Shape<T>, value: T): T {
  return shape.copy ? shape.copy(value) : value;
}

function withCopy<T>(check: (value: unknown) => Mismatch | undefined, copy: (value: T) => T): Shape<T> {
  return Object.assign(check, { copy });
}

export type ShapeOf<S> = S extends Shape<infer T> ? T : never;

/** Anything `typeof 'object'` but null and arrays. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number that is not finite';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function check<T>(expected: string, test: (value: unknown) => boolean): Shape<T> {
  return (value) => (test(value) ? undefined : { path: [], expected, received: kindOf(value) });
}

function at(key: string, mismatch: Mismatch | undefined): Mismatch | undefined {
  return mismatch && { ...mismatch, path: [key, ...mismatch.path] };
}

export const boolean: Shape<boolean> = check('a boolean', (value) => typeof value === 'boolean');
// Finite only: no count, time or version we read is NaN or infinite, yet another tab's message (a structured clone)
// can carry either, and JSON's `1e999` parses to Infinity.
export const number: Shape<number> = check('a number', (value) => Number.isFinite(value));

/**
 * Any number but NaN, infinite ones included: for a field whose value is checked later, item by item, with a
 * message of its own (a conflict copy's version), so one bad item does not refuse the whole reply.
 */
export const anyNumber: Shape<number> = check(
  'a number',
  (value) => typeof value === 'number' && !Number.isNaN(value),
);

/** A string of `min` to `max` characters. */
export function string(min = 0, max = Number.POSITIVE_INFINITY): Shape<string> {
  const bounded = min > 0 || max < Number.POSITIVE_INFINITY;
  return check(
    bounded ? `a string of ${min} to ${max} characters` : 'a string',
    (value) => typeof value === 'string' && value.length >= min && value.length <= max,
  );
}

/** A whole number from `min` to `max`. */
export function integer(min: number, max = Number.MAX_SAFE_INTEGER): Shape<number> {
  return check(
    `a whole number from ${min} to ${max}`,
    (value) => Number.isInteger(value) && (value as number) >= min && (value as number) <= max,
  );
}

/** A number from `min` to `max`. */
export function range(min: number, max = Number.POSITIVE_INFINITY): Shape<number> {
  return check(
    `a number from ${min} to ${max}`,
    (value) => Number.isFinite(value) && (value as number) >= min && (value as number) <= max,
  );
}

/** One of `values`. */
export function oneOf<const V extends readonly (string | number | boolean)[]>(
  ...values: V
): Shape<V[number]> {
  return check(values.map((value) => JSON.stringify(value)).join(' or '), (value) =>
    values.includes(value as V[number]),
  );
}

export function optional<T>(shape: Shape<T>): Shape<T | undefined> {
  return withCopy<T | undefined>(
    (value) => (value === undefined ? undefined : shape(value)),
    (value) => (value === undefined ? value : copyOf(shape, value)),
  );
}

/** An array of `min` to `max` items, each passing `item`. */
export function array<T>(item: Shape<T>, min = 0, max = Number.POSITIVE_INFINITY): Shape<T[]> {
  return withCopy<T[]>(
    (value) => {
      if (!Array.isArray(value) || value.length < min || value.length > max) {
        const count =
          max < Number.POSITIVE_INFINITY
            ? ` of ${min} to ${max} items`
            : min > 0
              ? ` of at least ${min} items`
              : '';
        return { path: [], expected: `an array${count}`, received: kindOf(value) };
      }
      for (let index = 0; index < value.length; index += 1) {
        const mismatch = item(value[index]);
        if (mismatch) return at(String(index), mismatch);
      }
      return undefined;
    },
    (value) => value.map((each) => copyOf(item, each)),
  );
}

type Fields = Record<string, Shape<unknown>>;
type Optional<F extends Fields> = {
  [K in keyof F]: undefined extends ShapeOf<F[K]> ? K : never;
}[keyof F];
/** The object type `fields` describe: a field whose shape allows `undefined` may be missing. */
export type ObjectOf<F extends Fields> = {
  [K in Exclude<keyof F, Optional<F>>]: ShapeOf<F[K]>;
} & { [K in Optional<F>]?: ShapeOf<F[K]> };

/**
 * An object with `fields` (own properties only: an inherited one counts as missing). Other fields are allowed
 * and left as they are; whoever reads the object reads only the fields named.
 */
export function object<F extends Fields>(fields: F): Shape<ObjectOf<F>> {
  const entries = Object.entries(fields);
  return withCopy<ObjectOf<F>>(
    (value) => {
      if (!isObject(value)) return { path: [], expected: 'an object', received: kindOf(value) };
      for (const [key, shape] of entries) {
        const mismatch = at(key, shape(Object.hasOwn(value, key) ? value[key] : undefined));
        if (mismatch) return mismatch;
      }
      return undefined;
    },
    (value) => {
      const copy: Record<string, unknown> = {};
      for (const [key, shape] of entries) {
        const field = (value as Record<string, unknown>)[key];
        if (Object.hasOwn(value, key) && field !== undefined) copy[key] = copyOf(shape, field);
      }
      return copy as ObjectOf<F>;
    },
  );
}

/** One of `shapes`, chosen by the string in field `key` (e.g. `status`). */
export function variant<K extends string, S extends Record<string, Shape<Record<K, unknown>>>>(
  key: K,
  shapes: S,
): Shape<ShapeOf<S[keyof S]>> {
  const tags = oneOf(...Object.keys(shapes));
  const chosen = (value: Record<string, unknown>) => shapes[value[key] as string] as Shape<unknown>;
  return withCopy<ShapeOf<S[keyof S]>>(
    (value) => {
      if (!isObject(value)) return { path: [], expected: 'an object', received: kindOf(value) };
      const mismatch = at(key, tags(Object.hasOwn(value, key) ? value[key] : undefined));
      return mismatch ?? chosen(value)(value);
    },
    (value) => copyOf(chosen(value), value) as ShapeOf<S[keyof S]>,
  );
}

/** `mismatch` as one short line: `results.3.version: expected a number, received a string`. */
export function describeMismatch(mismatch: Mismatch): string {
  const where = mismatch.path.length > 0 ? `${mismatch.path.join('.')}: ` : '';
  return `${where}expected ${mismatch.expected}, received ${mismatch.received}`;
}

/**
 * `value` if it passes `shape`, as a copy that holds only the fields the shape names (at every depth), so nothing
 * else the sender put in reaches a reader; `undefined` if it does not pass.
 */
export function parse<T>(shape: Shape<T>, value: unknown): T | undefined {
  return shape(value) ? undefined : copyOf(shape, value as T);
}

/** Whether `value` passes `shape`, as a type guard (no copy: other fields stay). */
export function matches<T>(shape: Shape<T>, value: unknown): value is T {
  return shape(value) === undefined;
}
