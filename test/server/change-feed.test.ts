import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkBatch } from '../../src/server/batch-checks.js';
import { ChangeFeed } from '../../src/server/change-feed.js';
import { parseChangesQuery } from '../../src/server/changes-query.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/server/checkpoint.js';
import { SyncServerState } from '../../src/server.js';

const ids = (feed: ChangeFeed, after = 0, limit = 1000) =>
  feed.after(after, limit).entries.map(({ id }) => id);

describe('ChangeFeed', () => {
  it('keeps one entry per id, moved to the end by every write, and pages after any sequence number', () => {
    const feed = new ChangeFeed();
    for (const id of ['a', 'b', 'c', 'd']) feed.record(id);
    feed.record('b');
    feed.record('a', 100);
    expect(feed.head).toBe(6);
    expect(ids(feed)).toEqual(['c', 'd', 'b', 'a']);
    expect(feed.after(0, 2)).toEqual({
      entries: [
        { id: 'c', seq: 3 },
        { id: 'd', seq: 4 },
      ],
      hasMore: true,
    });
    expect(feed.after(4, 2)).toEqual({
      entries: [
        { id: 'b', seq: 5 },
        { id: 'a', seq: 6 },
      ],
      hasMore: false,
    });
    expect(ids(feed, 6)).toEqual([]);
  });

  it('purges tombstones oldest first up to a cutoff, never a record written again since its delete', () => {
    const feed = new ChangeFeed();
    feed.record('a', 10);
    feed.record('b', 20);
    feed.record('c', 30);
    feed.record('b'); // resurrected: no longer a tombstone
    expect(feed.purge(25)).toEqual(['a']);
    expect(feed.horizon).toBe(1);
    expect(ids(feed)).toEqual(['c', 'b']);
    expect(feed.purge(25)).toEqual([]);
    expect(feed.purge(30)).toEqual(['c']);
    expect(feed.horizon).toBe(3);
    expect(ids(feed)).toEqual(['b']);
  });

  it('dates a delete no earlier than the one before it, so a clock going back cannot hide an expired tombstone', () => {
    const feed = new ChangeFeed();
    feed.record('a', 50);
    feed.record('b', 10);
    expect(feed.purge(40)).toEqual([]);
    expect(feed.purge(50)).toEqual(['a', 'b']);
  });

  it('round-trips through JSON; ids a snapshot does not place are appended as if written now', () => {
    const feed = new ChangeFeed();
    feed.record('gone', 1);
    feed.record('a');
    feed.record('b', 5);
    feed.record('c');
    feed.record('a');
    expect(feed.purge(1)).toEqual(['gone']);
    const copy = ChangeFeed.fromJSON(
      JSON.parse(JSON.stringify(feed.toJSON())),
      ['a', 'b', 'c', 'new'],
      new Set(['b']),
      7,
    );
    expect(copy.after(0, 10).entries).toEqual([
      { id: 'b', seq: 3 },
      { id: 'c', seq: 4 },
      { id: 'a', seq: 5 },
      { id: 'new', seq: 6 },
    ]);
    expect(copy.horizon).toBe(1);
    expect(copy.purge(5)).toEqual(['b']);
    // A file written before the feed: every record in file order, from 1.
    const old = ChangeFeed.fromJSON(undefined, ['x', 'y'], new Set(), 0);
    expect(old.after(0, 10).entries).toEqual([
      { id: 'x', seq: 1 },
      { id: 'y', seq: 2 },
    ]);
  });
});

describe('checkpoints', () => {
  it('encode base64url {epoch}.{seq}.{floor} and decode only the one spelling the server writes', () => {
    const text = encodeCheckpoint({ epoch: 'Ab_-9', seq: 42, floor: 7 });
    expect(Buffer.from(text, 'base64url').toString()).toBe('Ab_-9.42.7');
    expect(decodeCheckpoint(text)).toEqual({ epoch: 'Ab_-9', seq: 42, floor: 7 });
    const b64 = (plain: string) => Buffer.from(plain).toString('base64url');
    for (const bad of [
      '',
      `${text}=`,
      `${text}A`,
      'a.b',
      b64('e.1'),
      b64('e.1.'),
      b64('e.1.2.3'),
      b64('e.01.2'),
    ]) {
      expect(decodeCheckpoint(bad)).toBeUndefined();
    }
    expect(() => encodeCheckpoint({ epoch: 'a.b', seq: 1, floor: 0 })).toThrow(RangeError);
  });
});

describe('parseChangesQuery', () => {
  const parse = (query: string) => parseChangesQuery(new URLSearchParams(query));

  it('defaults to 100 changes from the beginning, no wait; lowers a too large limit or wait to the maximum', () => {
    expect(parse('')).toEqual({ ok: true, since: undefined, limit: 100, waitMs: 0 });
    expect(parse('since=abc&limit=7&wait=0.25')).toEqual({ ok: true, since: 'abc', limit: 7, waitMs: 250 });
    expect(parse('limit=5000&wait=3600')).toEqual({
      ok: true,
      since: undefined,
      limit: 1000,
      waitMs: 60_000,
    });
  });

  it('refuses what is not a number in range', () => {
    for (const query of [
      'limit=0',
      'limit=-3',
      'limit=x',
      'wait=-1',
      'wait=1e3',
      'wait=.5',
      `since=${'a'.repeat(201)}`,
    ]) {
      expect(parse(query).ok).toBe(false);
    }
  });
});

describe('tombstones in a batch', () => {
  const base = { version: 2, createdAt: 1, updatedAt: 1, syncPending: true };

  it('a delete and an edit of the same version are different batches for the idempotency check', () => {
    const edit = checkBatch(JSON.stringify({ items: [{ id: 'a', ...base }] }));
    const deleted = checkBatch(JSON.stringify({ items: [{ id: 'a', ...base, deleted: true }] }));
    const notDeleted = checkBatch(JSON.stringify({ items: [{ id: 'a', ...base, deleted: false }] }));
    if (!edit.ok || !deleted.ok || !notDeleted.ok) throw new Error('all three batches are valid');
    expect(deleted.digest).not.toBe(edit.digest);
    expect(notDeleted.digest).toBe(edit.digest);

    const state = new SyncServerState();
    state.apply('doc', 'k', edit.valid, undefined, edit.digest);
    expect(state.isKeyReused('doc', 'k', deleted.digest)).toBe(true);
  });

  it('SyncServerState keeps only the bookkeeping of a tombstone and serves it from the feed', () => {
    const state = new SyncServerState();
    const tombstone = { id: 'a', ...base, deleted: true, text: 'dropped' };
    expect(state.apply('doc', 'k', [tombstone])).toEqual([{ id: 'a', status: 'ok' }]);
    const read = state.changes('doc', undefined, 10);
    expect(read).toEqual({
      status: 'page',
      page: {
        changes: [
          {
            id: 'a',
            version: 2,
            deleted: true,
            item: { id: 'a', version: 2, createdAt: 1, updatedAt: 1, syncPending: false, deleted: true },
          },
        ],
        checkpoint: encodeCheckpoint({ epoch: state.epoch, seq: 1, floor: 0 }),
        hasMore: false,
      },
    });
    expect(state.list('doc')).toEqual([]);
  });
});

describe('the feed in a snapshot taken before a commit', () => {
  it('toJSON(plan) holds the feed exactly as commit(plan) leaves it, so the file and memory agree', () => {
    let now = 1_000;
    const state = new SyncServerState({ now: () => now });
    const base = { createdAt: 1, updatedAt: 1, syncPending: true };
    state.apply('doc', 'b1', [
      { id: 'a', version: 1, ...base },
      { id: 'b', version: 1, ...base },
      { id: 'c', version: 1, ...base },
    ]);
    now = 2_000;
    const plan = state.plan('doc', 'b2', [
      { id: 'a', version: 2, ...base, deleted: true },
      { id: 'new', version: 1, ...base },
      { id: 'b', version: 2, ...base },
    ] as { id: string; version: number; createdAt: number; updatedAt: number; syncPending: boolean }[]);
    const written = JSON.parse(JSON.stringify(state.toJSON(plan)));
    now = 3_000; // a commit later than its plan still dates the tombstone by the plan
    state.commit(plan);
    expect(written).toEqual(JSON.parse(JSON.stringify(state.toJSON())));
    expect(written.feeds.doc).toEqual({
      head: 6,
      horizon: 0,
      order: [
        ['c', 3],
        ['a', 4],
        ['new', 5],
        ['b', 6],
      ],
      deletedAt: { a: 2_000 },
    });
  });
});

describe('the feed under any interleaving (fast-check)', () => {
  type Op =
    | { kind: 'write'; id: string; deleted: boolean }
    | { kind: 'pull'; client: number; limit: number }
    | { kind: 'tick'; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('write' as const),
      id: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      deleted: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant('pull' as const),
      client: fc.integer({ min: 0, max: 2 }),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 60 }) }),
  );

  it('a client that applies every page ends with the live records at their versions, never going back a version', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 10, maxLength: 60, size: 'max' }), (ops) => {
        let now = 0;
        const state = new SyncServerState({ tombstoneRetentionMs: 50, now: () => now });
        const versions = new Map<string, number>();
        const clients = [0, 1, 2].map(() => ({
          checkpoint: '',
          records: new Map<string, { version: number; deleted: boolean }>(),
          resets: 0,
        }));
        const pull = (client: (typeof clients)[number], limit: number): boolean => {
          const read = state.changes('doc', client.checkpoint, limit);
          if (read.status === 'malformed') throw new Error(read.error);
          if (read.status === 'reset') {
            client.checkpoint = '';
            client.records.clear();
            client.resets += 1;
            return true;
          }
          for (const change of read.page.changes) {
            // Within a client's view, a record never goes back a version.
            expect(change.version).toBeGreaterThan(client.records.get(change.id)?.version ?? 0);
            client.records.set(change.id, { version: change.version, deleted: change.deleted });
          }
          client.checkpoint = read.page.checkpoint;
          return read.page.hasMore;
        };
        for (const step of ops) {
          if (step.kind === 'tick') now += step.ms;
          else if (step.kind === 'pull') pull(clients[step.client] as (typeof clients)[number], step.limit);
          else {
            const version = (versions.get(step.id) ?? 0) + 1;
            versions.set(step.id, version);
            state.put('doc', {
              id: step.id,
              version,
              createdAt: 1,
              updatedAt: 1,
              syncPending: true,
              deleted: step.deleted,
            });
          }
        }
        const live = new Map(state.list('doc').map(({ item }) => [item.id, item.version]));
        for (const client of clients) {
          // Pulling to the end terminates: a reset client that starts over is never reset again by old purges.
          for (let pages = 0; pull(client, 3); pages += 1) {
            if (pages > 100) throw new Error('The pull never ends (a reset loop)');
          }
          const held = new Map(
            [...client.records]
              .filter(([, record]) => !record.deleted)
              .map(([id, { version }]) => [id, version]),
          );
          expect(held).toEqual(live);
          expect(client.resets).toBeLessThanOrEqual(ops.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
