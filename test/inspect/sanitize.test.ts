import { describe, expect, it } from 'vitest';
import { createSanitizer, REDACTED } from '../../src/inspect/sanitize.js';

describe('createSanitizer', () => {
  const sanitize = createSanitizer({
    secretValues: ['s3cr3t-token-value'],
    secretKeys: ['pin', /^x-private/],
  });

  it('redacts secret keys, Bearer strings and given secret values wherever they appear', () => {
    expect(
      sanitize({
        token: 'abc',
        Authorization: 'Bearer abc',
        headers: { authorization: 'x', 'x-private-thing': 1, accept: 'json' },
        apiKey: 'k',
        pin: 1234,
        note: 'sent with Bearer abc.def and s3cr3t-token-value inside',
        nested: [{ password: 'p' }],
      }),
    ).toEqual({
      token: REDACTED,
      Authorization: REDACTED,
      headers: { authorization: REDACTED, 'x-private-thing': REDACTED, accept: 'json' },
      apiKey: REDACTED,
      pin: REDACTED,
      note: `sent with Bearer ${REDACTED} and ${REDACTED} inside`,
      nested: [{ password: REDACTED }],
    });
  });

  it('names functions, cuts cycles, depth, long arrays and strings, and keeps JSON-safe values', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const out = createSanitizer({ maxDepth: 2, maxArrayItems: 2, maxStringLength: 5 })({
      fn: function merge() {},
      cyclic,
      deep: { a: { b: { c: 1 } } },
      list: [1, 2, 3, 4],
      long: 'abcdefghij',
      big: 10n,
      inf: Number.POSITIVE_INFINITY,
      when: new Date(0),
      error: new Error('boom'),
      map: new Map([['k', 1]]),
    });
    expect(out).toEqual({
      fn: '[function merge]',
      cyclic: { a: 1, self: '[circular]' },
      deep: { a: '[object]' },
      list: [1, 2, '… 2 more'],
      long: 'abcde… (10 chars)',
      big: '10n',
      inf: 'Infinity',
      when: '1970-01-01T00:00:00.000Z',
      error: { name: 'Error', message: 'boom' },
      map: { k: 1 },
    });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('copies a "__proto__" key as plain data, never onto a prototype', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}');
    const out = sanitize(hostile) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor']);
  });
});
