import { describe, expect, it } from 'vitest';
import {
  anyNumber,
  array,
  boolean,
  describeMismatch,
  integer,
  matches,
  number,
  object,
  oneOf,
  optional,
  parse,
  range,
  string,
  variant,
} from '../../src/core/shape.js';

const why = (shape: (value: unknown) => ReturnType<typeof number>, value: unknown) => {
  const mismatch = shape(value);
  return mismatch && describeMismatch(mismatch);
};

describe('shape checks (src/core/shape.ts)', () => {
  it('checks scalars, naming the kind found', () => {
    expect(why(number, 1.5)).toBeUndefined();
    expect(why(number, '1')).toBe('expected a number, received a string');
    expect(why(boolean, 0)).toBe('expected a boolean, received a number');
    expect(why(string(), undefined)).toBe('expected a string, received nothing');
    expect(why(string(1, 3), '')).toBe('expected a string of 1 to 3 characters, received a string');
    expect(why(string(1, 3), 'abc')).toBeUndefined();
    expect(why(string(1, 3), 'abcd')).toBeDefined();
    expect(why(integer(0), 2)).toBeUndefined();
    expect(why(integer(0), 2.5)).toBeDefined();
    expect(why(integer(0), -1)).toBeDefined();
    expect(why(range(0, 100), 100)).toBeUndefined();
    expect(why(range(0, 100), 100.5)).toBeDefined();
    expect(why(oneOf('a', 'b'), 'c')).toBe('expected "a" or "b", received a string');
    expect(why(oneOf(true), true)).toBeUndefined();
    expect(why(optional(number), undefined)).toBeUndefined();
    expect(why(optional(number), null)).toBe('expected a number, received null');
  });

  it('checks arrays item by item and by length, naming the index', () => {
    expect(why(array(number), [1, 2])).toBeUndefined();
    expect(why(array(number), [1, 'x'])).toBe('1: expected a number, received a string');
    expect(why(array(number), {})).toBe('expected an array, received an object');
    expect(why(array(number, 1), [])).toBe('expected an array of at least 1 items, received an array');
    expect(why(array(number, 0, 2), [1, 2, 3])).toBe('expected an array of 0 to 2 items, received an array');
  });

  it('checks objects field by field, own fields only, and lets other fields be', () => {
    const shape = object({ id: string(), nested: object({ n: number }), note: optional(string()) });
    expect(why(shape, { id: 'a', nested: { n: 1 }, extra: true })).toBeUndefined();
    expect(why(shape, { id: 'a', nested: { n: '1' } })).toBe(
      'nested.n: expected a number, received a string',
    );
    expect(why(shape, { id: 'a', nested: [] })).toBe('nested: expected an object, received an array');
    // An inherited field is missing: a prototype is no place for data.
    expect(why(shape, Object.assign(Object.create({ id: 'a' }), { nested: { n: 1 } }))).toBe(
      'id: expected a string, received nothing',
    );
    expect(why(object({}), null)).toBe('expected an object, received null');
  });

  it('chooses a variant by its tag, and refuses an unknown or inherited tag', () => {
    const shape = variant('kind', {
      a: object({ kind: oneOf('a'), x: number }),
      b: object({ kind: oneOf('b'), y: string() }),
    });
    expect(matches(shape, { kind: 'a', x: 1 })).toBe(true);
    expect(why(shape, { kind: 'b', y: 1 })).toBe('y: expected a string, received a number');
    expect(why(shape, { kind: 'constructor' })).toBe('kind: expected "a" or "b", received a string');
    expect(why(shape, { kind: 'toString' })).toBeDefined();
    expect(why(shape, 'a')).toBe('expected an object, received a string');
  });
});

describe('parse (a checked copy)', () => {
  const shape = variant('kind', {
    note: object({
      kind: oneOf('note'),
      tags: array(object({ name: string() })),
      body: optional(string()),
    }),
  });

  it('copies only the fields the shape names, at every depth', () => {
    const value = { kind: 'note', tags: [{ name: 'a', secret: 1 }], token: 't', extra: { x: 1 } };
    const parsed = parse(shape, value);
    expect(parsed).toEqual({ kind: 'note', tags: [{ name: 'a' }] });
    expect(parsed?.tags).not.toBe(value.tags);
    expect(parse(shape, { ...value, body: 'b' })).toEqual({ kind: 'note', tags: [{ name: 'a' }], body: 'b' });
  });

  it('answers undefined for a value that does not pass', () => {
    expect(parse(shape, { kind: 'note', tags: [{ name: 1 }] })).toBeUndefined();
    expect(parse(shape, undefined)).toBeUndefined();
  });
});

describe('review: numbers another tab sends', () => {
  it('refuses NaN and Infinity, which a structured clone carries (and JSON too: 1e999 parses to Infinity)', () => {
    expect(JSON.parse('1e999')).toBe(Number.POSITIVE_INFINITY);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(why(number, value)).toBe('expected a number, received a number that is not finite');
      expect(why(range(0), value)).toBeDefined();
      expect(why(optional(number), value)).toBeDefined();
    }
  });

  it('anyNumber lets infinite numbers through for a later check of their own, never NaN', () => {
    expect(why(anyNumber, Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(why(anyNumber, 3)).toBeUndefined();
    expect(why(anyNumber, Number.NaN)).toBe('expected a number, received a number that is not finite');
    expect(why(anyNumber, '3')).toBe('expected a number, received a string');
  });
});
