import { describe, expect, it } from 'vitest';
import { jsonProblem, MAX_ENTITY_DEPTH } from '../../src/domain/entity.js';
import type { RepositoryEntity } from '../../src/index.js';
import { adoptRemoteRecord, storableRecord } from '../../src/protocol/remote-record.js';

interface Note extends RepositoryEntity {
  text?: string;
}

const local: Note = { id: 'a', version: 3, createdAt: 100, updatedAt: 200, syncPending: true, text: 'mine' };
const options = { minVersion: 3, syncPending: false, now: 999 };

/** `{ d: { d: … } }` with `levels` objects in all, built without recursion. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i += 1) value = { d: value };
  return value;
}

describe('adoptRemoteRecord', () => {
  it.each<[string, unknown, Partial<Note> & Record<string, unknown>]>([
    [
      'a minimal { id, version } copy',
      { id: 'a', version: 4 },
      { version: 4, createdAt: 100, updatedAt: 999 },
    ],
    [
      'the same version (other content)',
      { id: 'a', version: 3, text: 'theirs' },
      { version: 3, text: 'theirs' },
    ],
    ['a valid updatedAt is kept', { id: 'a', version: 5, updatedAt: 300 }, { updatedAt: 300 }],
    ['createdAt is always the local one', { id: 'a', version: 5, createdAt: -1 }, { createdAt: 100 }],
    ['syncPending is ours', { id: 'a', version: 5, syncPending: 'yes' }, { syncPending: false }],
    ['a bad updatedAt becomes now', { id: 'a', version: 5, updatedAt: 'yesterday' }, { updatedAt: 999 }],
    ['extra fields are data', { id: 'a', version: 5, extra: { x: [1, 2] } }, { extra: { x: [1, 2] } }],
    [
      'nesting at the limit',
      { id: 'a', version: 5, deep: nested(MAX_ENTITY_DEPTH - 1) },
      { deep: nested(MAX_ENTITY_DEPTH - 1) },
    ],
  ])('adopts %s', (_, remote, expected) => {
    const result = adoptRemoteRecord(local, remote, options);
    expect(result).toEqual({
      ok: true,
      record: expect.objectContaining({ id: 'a', createdAt: 100, syncPending: false, ...expected }),
    });
  });

  it('keeps a __proto__ key as data and never as a prototype', () => {
    const remote: unknown = JSON.parse('{"id":"a","version":4,"__proto__":{"polluted":true}}');
    const result = adoptRemoteRecord(local, remote, options);
    if (!result.ok) throw new Error(result.error);
    expect(Object.getPrototypeOf(result.record)).toBe(Object.prototype);
    expect(Object.hasOwn(result.record, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(result.record))).toEqual(result.record);
  });

  it('never shares objects with the remote copy', () => {
    const remote = { id: 'a', version: 4, tags: ['x'] };
    const result = adoptRemoteRecord(local, remote, options);
    if (!result.ok) throw new Error(result.error);
    remote.tags.push('y');
    expect(result.record).toMatchObject({ tags: ['x'] });
  });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /is not a record \(null\)/],
    ['an array', [{ id: 'a', version: 4 }], /is not a record \(an array\)/],
    ['a string', 'a', /is not a record \(a string of 1 character\)/],
    ['another id', { id: 'b', version: 4 }, /names another id \(a string of 1 character\)/],
    ['no id', { version: 4 }, /names another id \(undefined\)/],
    ['no version', { id: 'a' }, /has version undefined, not a whole number from 3/],
    ['a negative version', { id: 'a', version: -1 }, /has version -1, not a whole number from 3/],
    [
      'a lower version',
      { id: 'a', version: 2 },
      /has version 2, not a whole number from 3 \(the version sent\)/,
    ],
    ['a fractional version', { id: 'a', version: 4.5 }, /has version 4.5/],
    ['a version string', { id: 'a', version: '4' }, /has version a string of 1 character,/],
    ['a NaN-ish version string', { id: 'a', version: 'NaN' }, /has version a string of 3 characters,/],
    ['a NaN version', { id: 'a', version: Number.NaN }, /has version NaN/],
    ['an infinite version', { id: 'a', version: Number.POSITIVE_INFINITY }, /has version Infinity/],
    ['an unsafe version', { id: 'a', version: 2 ** 60 }, /not a whole number from 3 .* to 9007199254740990/],
    ['the largest safe version', { id: 'a', version: Number.MAX_SAFE_INTEGER }, /to 9007199254740990/],
    [
      'nesting past the limit',
      { id: 'a', version: 4, deep: nested(MAX_ENTITY_DEPTH) },
      /cannot be stored: it is nested deeper than 64 levels in one of its fields$/,
    ],
    ['5,000 levels of nesting', { id: 'a', version: 4, deep: nested(5_000) }, /nested deeper than 64 levels/],
    ['a function', { id: 'a', version: 4, f: () => 1 }, /holds a function in one of its fields/],
    ['a bigint', { id: 'a', version: 4, n: 1n }, /holds a bigint in one of its fields/],
    [
      'a non-finite number',
      { id: 'a', version: 4, n: [Number.NaN] },
      /holds the number NaN in one of its fields/,
    ],
  ])('refuses %s with a clear error', (_, remote, message) => {
    const result = adoptRemoteRecord(local, remote, options);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toMatch(/^The server's copy of "a" /);
      expect(result.error).toMatch(message);
    }
  });

  it('refuses a cyclic copy and one whose getter throws, without throwing', () => {
    const cyclic: Record<string, unknown> = { id: 'a', version: 4 };
    cyclic.self = cyclic;
    expect(adoptRemoteRecord(local, cyclic, options)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/nested deeper than 64 levels in one of its fields/),
    });
    const trap = {
      id: 'a',
      version: 4,
      get boom(): never {
        throw new Error('trap');
      },
    };
    expect(adoptRemoteRecord(local, trap, options)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/cannot be read: trap/),
    });
  });
});

describe('adoptRemoteRecord error text', () => {
  it('never quotes the server text (values, field names), and adopts a storable copy verbatim', () => {
    // Text the server chose, as an echoed token would be: the refusal goes into failure records on disk.
    const s = 'server-chosen-text-8f3a2c';
    let deep: unknown = `${s} at the bottom`;
    for (let i = 0; i < 70; i += 1) deep = { [s]: deep };
    const copies: unknown[] = [
      s,
      { id: s, version: 4 },
      { id: 'a', version: s },
      { id: 'a', version: 4, [s]: deep },
      { id: 'a', version: 4, list: [{ [s]: Number.NaN }] },
    ];
    for (const copy of copies) {
      const result = adoptRemoteRecord(local, copy, options);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error).not.toContain(s.slice(0, 8));
    }
    // A copy it can store is the server's data: kept exactly, keys and strings included.
    const data = { id: 'a', version: 4, text: `ask ${s}`, [s]: [s, { [s]: 1 }] };
    expect(adoptRemoteRecord(local, data, options)).toEqual({
      ok: true,
      record: { ...data, createdAt: 100, updatedAt: 999, syncPending: false },
    });
  });

  it.each<[string, unknown, string]>([
    ['an object id', { id: { x: 1 }, version: 4 }, 'names another id (an object)'],
    ['an array id', { id: [1], version: 4 }, 'names another id (an array)'],
    ['a string version', { id: 'a', version: '4' }, 'has version a string of 1 character,'],
    ['a long id', { id: 'b'.repeat(1_000), version: 4 }, 'names another id (a string of 1000 characters)'],
    ['a copy that is a function', () => 1, 'is not a record (a function)'],
  ])('describes %s by its kind and size, in plain words, never quoting it', (_, remote, expected) => {
    const result = adoptRemoteRecord(local, remote, options);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(expected);
  });
});

describe('storableRecord', () => {
  it('returns a JSON copy, as a store would read it back (a Date becomes its string)', () => {
    const at = new Date(0);
    const result = storableRecord({ ...local, at, gone: undefined }, 'record');
    expect(result).toEqual({ ok: true, record: { ...local, at: at.toISOString() } });
  });

  it('checks what toJSON returns, too', () => {
    const sneaky = { toJSON: () => nested(100) };
    expect(storableRecord({ ...local, sneaky }, 'record')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/nested deeper than 64 levels in one of its fields/),
    });
  });

  it('refuses a record without valid bookkeeping, with the entity check message', () => {
    expect(storableRecord({ ...local, createdAt: -1 }, 'record')).toEqual({
      ok: false,
      error: 'record needs a non-negative number createdAt, got -1',
    });
  });
});

describe('jsonProblem', () => {
  it.each<[unknown, string | undefined]>([
    [{ a: 1, b: ['x', null, true, { c: 2.5 }] }, undefined],
    [nested(MAX_ENTITY_DEPTH), undefined],
    [nested(MAX_ENTITY_DEPTH + 1), 'it is nested deeper than 64 levels in field "d"'],
    [nested(100_000), 'it is nested deeper than 64 levels in field "d"'],
    [{ n: Number.NEGATIVE_INFINITY }, 'it holds the number -Infinity in field "n", which JSON cannot carry'],
    [{ s: Symbol('x') }, 'it holds a symbol in field "s", which JSON cannot carry'],
  ])('%#', (value, expected) => {
    expect(jsonProblem(value)).toBe(expected);
  });
});
