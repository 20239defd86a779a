/**
 * Issue 10 point 9: the reference server answered a 5,000-level item with a 500 after applying the batch's other
 * items, and stored no reply for its key. Every item is now checked before anything is applied; an item the
 * server cannot store refuses the whole batch with a 400 that names it, and no client input gets a 5xx.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ITEM_DEPTH } from '../../src/server/batch-checks.js';
import type { SyncServer, SyncServerOptions } from '../../src/server.js';
import { Harness, note } from '../e2e/harness.js';
import { postSync } from '../helpers/post-sync.js';

const TOKEN = 'hostile-requests-token';
const h = new Harness();
afterEach(() => h.dispose());

const start = (options: SyncServerOptions = {}): Promise<SyncServer> =>
  h.memoryServer({ token: TOKEN, ...options });

/** An item whose `deep` field is `levels` arrays deep, as JSON text (no recursion to build or print it). */
const deepItem = (id: string, levels: number) =>
  `{"id":${JSON.stringify(id)},"version":1,"createdAt":1,"updatedAt":1,"syncPending":true,"deep":${'['.repeat(levels)}0${']'.repeat(levels)}}`;

const batchOf = (...items: string[]) => `{"batchId":"k","items":[${items.join(',')}]}`;

async function post(server: SyncServer, body: string, key = 'k', type = 'note') {
  const response = await postSync(server.url, TOKEN, key, body, type);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the reference server checks every item before applying any (issue 10 point 9)', () => {
  it('refuses a 5,000-level item with a 400 naming it; nothing is applied and the key stays unused', async () => {
    const server = await start();
    const body = batchOf(JSON.stringify(note('a')), deepItem('deep', 5_000), JSON.stringify(note('b')));

    expect(await post(server, body)).toEqual({
      status: 400,
      body: {
        error: 'One item of the batch cannot be stored; nothing was applied',
        rejected: [
          { id: 'deep', error: `it is nested deeper than ${MAX_ITEM_DEPTH} levels in field "deep"` },
        ],
      },
    });
    expect(server.state.list('note')).toEqual([]);
    expect(server.state.replyFor('note', 'k')).toBeUndefined();
    expect(server.stats()).toMatchObject({ batchesApplied: 0, duplicateBatches: 0 });

    // The rest of the batch, under the same key, is applied as any batch.
    const rest = batchOf(JSON.stringify(note('a')), JSON.stringify(note('b')));
    expect(await post(server, rest)).toEqual({
      status: 200,
      body: {
        results: [
          { id: 'a', status: 'ok', version: 1 },
          { id: 'b', status: 'ok', version: 1 },
        ],
      },
    });
    expect(server.state.list('note').map((stored) => stored.appliedVersions)).toEqual([[1], [1]]);

    // A fault of the batch as a whole stays a 400 with `{ error }` only: it names no items.
    for (const batchLevel of [
      '{"items": [',
      '{"batchId":"k"}',
      '{"items":[{"version":1}]}',
      batchOf('{"id":"a"}', '{"id":"a"}'),
    ]) {
      const answer = await post(server, batchLevel, 'other');
      expect(answer.status).toBe(400);
      expect(Object.keys(answer.body)).toEqual(['error']);
    }
  });

  it('names every item it cannot store, each with its reason, and applies none of the batch', async () => {
    const server = await start();
    server.state.put('note', note('a', 1));
    const before = JSON.stringify(server.state.toJSON());
    const body = batchOf(
      JSON.stringify(note('a', 2)),
      JSON.stringify({ ...note('b'), createdAt: -1 }),
      JSON.stringify({ ...note('c'), updatedAt: 'yesterday' }),
      JSON.stringify({ ...note('d'), syncPending: 'yes' }),
      JSON.stringify({ ...note('e'), syncPending: undefined }),
      '{"id":"f","version":1,"createdAt":1,"updatedAt":1,"syncPending":true,"n":1e999}',
      deepItem('g', MAX_ITEM_DEPTH),
      deepItem('h', MAX_ITEM_DEPTH - 2),
    );

    const answer = await post(server, body);

    expect(answer).toEqual({
      status: 400,
      body: {
        error: '6 items of the batch cannot be stored; nothing was applied',
        rejected: [
          { id: 'b', error: 'createdAt must be a non-negative number' },
          { id: 'c', error: 'updatedAt must be a non-negative number' },
          { id: 'd', error: 'syncPending must be a boolean' },
          { id: 'e', error: 'syncPending must be a boolean' },
          { id: 'f', error: 'it holds the number Infinity in field "n", which JSON cannot carry' },
          { id: 'g', error: `it is nested deeper than ${MAX_ITEM_DEPTH} levels in field "deep"` },
        ],
      },
    });
    expect(JSON.stringify(server.state.toJSON())).toBe(before);
  });

  it('keeps answering an unusable version on its own (200, rejected), whatever else the item holds', async () => {
    const server = await start();
    const body = batchOf(
      JSON.stringify(note('a')),
      `{"id":"b","deep":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
      JSON.stringify(note('c', 2 ** 53)),
    );
    expect(await post(server, body)).toEqual({
      status: 200,
      body: {
        results: [
          {
            id: 'b',
            status: 'rejected',
            reason: 'version must be a whole number of at least 1',
            retryable: false,
          },
          { id: 'c', status: 'rejected', reason: 'version must be below 9007199254740991', retryable: false },
          { id: 'a', status: 'ok', version: 1 },
        ],
      },
    });
  });

  it('checks the batch before drawing a fault: a refused batch does not use up a scripted fault', async () => {
    const server = await start({ faults: { script: ['error500'] } });
    expect((await post(server, batchOf(deepItem('d', 100)))).status).toBe(400);
    expect((await post(server, batchOf(JSON.stringify(note('a'))))).status).toBe(500);
    expect((await post(server, batchOf(JSON.stringify(note('a'))))).status).toBe(200);
  });

  /** Bodies no client should send. None may get a 5xx or change what the server holds. */
  const HOSTILE_BODIES: [string, string][] = [
    ['empty', ''],
    ['null', 'null'],
    ['a number', '5'],
    ['a string', '"items"'],
    ['an array', '[]'],
    ['items is an object', '{"items":{"0":{"id":"a"}}}'],
    ['items is null', '{"items":null}'],
    ['a null item', '{"items":[null]}'],
    ['a number item', '{"items":[1]}'],
    ['an array item', '{"items":[["a"]]}'],
    ['an id that is an object', '{"items":[{"id":{"x":1},"version":1}]}'],
    ['an empty id', '{"items":[{"id":"","version":1}]}'],
    [
      'a version whose toString is not callable',
      '{"items":[{"id":"a","version":{"toString":1,"valueOf":1}}]}',
    ],
    ['a version that is an array', '{"items":[{"id":"a","version":[1]}]}'],
    ['a version 1e999', '{"items":[{"id":"a","version":1e999}]}'],
    ['a negative zero version', '{"items":[{"id":"a","version":-0}]}'],
    ['__proto__ at the top', '{"__proto__":{"items":[]}}'],
    [
      '__proto__ in an item',
      `{"items":[{"id":"a","version":1,"createdAt":1,"updatedAt":1,"syncPending":true,"__proto__":{"version":-1}}]}`,
    ],
    ['an id named __proto__', `{"items":[${JSON.stringify(note('__proto__'))}]}`],
    ['100,000 levels in the envelope', `{"items":[],"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
    ['100,000 levels in an item', batchOf(deepItem('a', 100_000))],
    ['100,000 levels as an item', `{"items":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`],
    [
      'a wide item',
      `{"items":[{"id":"w","version":1,"createdAt":1,"updatedAt":1,"syncPending":true,${Array.from({ length: 20_000 }, (_, i) => `"f${i}":${i}`).join(',')}}]}`,
    ],
    [
      'many items',
      `{"items":[${Array.from({ length: 5_000 }, (_, i) => JSON.stringify(note(`m${i}`))).join(',')}]}`,
    ],
    ['invalid UTF-8', '{"items":[{"id":"\udc00","version":1}]}'],
    [
      'a huge number',
      '{"items":[{"id":"a","version":1,"createdAt":1e308,"updatedAt":1,"syncPending":true}]}',
    ],
  ];

  it('never answers 5xx to any of them, changes nothing for a 400 and keeps serving', async () => {
    const server = await start();
    const answers: [string, number][] = [];
    for (const [name, body] of HOSTILE_BODIES) {
      const before = JSON.stringify(server.state.toJSON());
      const answer = await post(server, body, `fuzz-${answers.length}`);
      answers.push([name, answer.status]);
      if (answer.status === 400) expect(JSON.stringify(server.state.toJSON()), name).toBe(before);
    }
    expect(answers.filter(([, status]) => status >= 500)).toEqual([]);
    expect((await post(server, batchOf(JSON.stringify(note('after'))), 'next')).status).toBe(200);
    expect(server.state.get('note', 'after')?.appliedCount).toBe(1);
  });
});
