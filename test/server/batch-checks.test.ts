import { describe, expect, it } from 'vitest';
import { checkBatch, MAX_ITEM_DEPTH } from '../../src/server/batch-checks.js';

const item = (id: string, fields: Record<string, unknown> = {}) =>
  JSON.stringify({ id, version: 1, createdAt: 1, updatedAt: 2, syncPending: true, ...fields });
const body = (...items: string[]) => `{"batchId":"k","items":[${items.join(',')}]}`;

describe('checkBatch', () => {
  it.each<[string, string, string]>([
    ['not JSON', '{', 'The body is not valid JSON'],
    ['no items array', '{"items":{}}', 'The body must be { "batchId", "items": [...] }'],
    ['a JSON null body', 'null', 'The body must be { "batchId", "items": [...] }'],
    ['an item without an id', body('{"version":1}'), 'Every item needs a string id'],
    ['an item that is an array', body('["a"]'), 'Every item needs a string id'],
    ['a repeated id', body(item('a'), item('a')), 'Item "a" appears twice in the batch'],
  ])('refuses %s as a whole, naming no item', (_, text, error) => {
    expect(checkBatch(text)).toEqual({ ok: false, error });
  });

  it('lists every item it cannot store, in batch order', () => {
    const deep = `{"id":"d","version":1,"createdAt":1,"updatedAt":1,"syncPending":true,"x":${'['.repeat(MAX_ITEM_DEPTH)}${']'.repeat(MAX_ITEM_DEPTH)}}`;
    expect(
      checkBatch(body(item('ok'), item('c', { createdAt: null }), deep, item('s', { syncPending: 1 }))),
    ).toEqual({
      ok: false,
      error: '3 items of the batch cannot be stored; nothing was applied',
      rejected: [
        { id: 'c', error: 'createdAt must be a non-negative number' },
        { id: 'd', error: `it is nested deeper than ${MAX_ITEM_DEPTH} levels in field "x"` },
        { id: 's', error: 'syncPending must be a boolean' },
      ],
    });
  });

  it('refuses a baseVersion that is not a whole number below the version; accepts one that is, or none', () => {
    const result = checkBatch(
      body(
        item('ok', { version: 3, baseVersion: 2 }),
        item('zero', { version: 3, baseVersion: 0 }),
        item('none', { version: 3 }),
        item('same', { version: 3, baseVersion: 3 }),
        item('above', { version: 3, baseVersion: 4 }),
        item('negative', { version: 3, baseVersion: -1 }),
        item('fraction', { version: 3, baseVersion: 1.5 }),
        item('text', { version: 3, baseVersion: '2' }),
        item('null', { version: 3, baseVersion: null }),
      ),
    );
    const error = 'baseVersion must be a whole number from 0 to below the version, when present';
    expect(result).toEqual({
      ok: false,
      error: '6 items of the batch cannot be stored; nothing was applied',
      rejected: ['same', 'above', 'negative', 'fraction', 'text', 'null'].map((id) => ({ id, error })),
    });
  });

  it('accepts nesting up to the limit, and answers unusable versions on their own', () => {
    const atLimit = `{"id":"n","version":1,"createdAt":1,"updatedAt":1,"syncPending":true,"x":${'['.repeat(MAX_ITEM_DEPTH - 1)}${']'.repeat(MAX_ITEM_DEPTH - 1)}}`;
    const result = checkBatch(body(atLimit, item('v', { version: 0 }), item('w', { version: '2' })));
    expect(result).toMatchObject({
      ok: true,
      valid: [expect.objectContaining({ id: 'n' })],
      unusableVersion: [
        { id: 'v', error: 'version must be a whole number of at least 1' },
        { id: 'w', error: 'version must be a whole number of at least 1' },
      ],
    });
  });

  it('digests ids and versions only, and any version value safely', () => {
    const digest = (text: string) => (checkBatch(text) as { digest?: string }).digest;
    expect(digest(body(item('a', { text: 'x' })))).toBe(digest(body(item('a', { text: 'y' }))));
    expect(digest(body(item('a')))).not.toBe(digest(body(item('a', { version: 2 }))));
    expect(digest(body(item('a'), item('b')))).not.toBe(digest(body(item('b'), item('a'))));
    expect(digest(body('{"id":"a","version":{"toString":1,"valueOf":1}}'))).toEqual(expect.any(String));
  });
});
