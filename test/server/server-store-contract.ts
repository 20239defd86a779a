/**
 * The `ServerStore` contract (src/server/server-store.ts), for every store: the version rules, tombstones and their
 * retention, checkpoints, idempotency keys, partitions and watch. Each store runs the same tests and must give the
 * same answers; checkpoints are compared by what they do, never by their text (each store has its own epoch).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import type { RepositoryEntity } from '../../src/domain/types.js';
import { recordDigest } from '../../src/protocol/record-digest.js';
import { checkBatch } from '../../src/server/batch-checks.js';
import type { FeedChange } from '../../src/server/change-feed.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/server/checkpoint.js';
import type { ChangesRead } from '../../src/server/server-state.js';
import type { Scope, ServerBatch, ServerStore } from '../../src/server/server-store.js';

/** What the suite opens a store with: its clock and tombstone retention. */
export interface ContractStoreOptions {
  tombstoneRetentionMs: number;
  now: () => number;
}

/** Opens a new, empty store; the suite closes it when the test ends. */
export type OpenServerStore = (options: ContractStoreOptions) => Promise<ServerStore>;

const DAY = 24 * 60 * 60 * 1000;
const notes: Scope = { partition: 'alice', entityType: 'notes' };

type Item = RepositoryEntity & { [field: string]: unknown };

export function item(id: string, version: number, fields: Record<string, unknown> = {}): Item {
  return { id, version, createdAt: 1, updatedAt: version, syncPending: true, text: `v${version}`, ...fields };
}

export function tombstone(id: string, version: number, fields: Record<string, unknown> = {}): Item {
  return { ...item(id, version, fields), deleted: true };
}

/** A batch as the server hands it to its store: checked by `checkBatch`, which also gives its digest. */
export function batchOf(
  scope: Scope,
  batchId: string,
  items: readonly Item[],
  reject?: ServerBatch['reject'],
): ServerBatch {
  const checked = checkBatch(JSON.stringify({ batchId, items }));
  if (!checked.ok) throw new Error(`Not a valid batch: ${checked.error}`);
  return { scope, batchId, digest: checked.digest, items: checked.valid, ...(reject ? { reject } : {}) };
}

/** Every change of a scope from `since` on, page by page, and the last checkpoint. */
export async function readAll(
  store: ServerStore,
  scope: Scope,
  since?: string,
  limit = 100,
): Promise<{ changes: FeedChange[]; checkpoint: string }> {
  const changes: FeedChange[] = [];
  let checkpoint = since;
  for (;;) {
    const read = await store.changes(scope, checkpoint, limit);
    if (read.status !== 'page') throw new Error(`Expected a page, got ${JSON.stringify(read)}`);
    changes.push(...read.page.changes);
    checkpoint = read.page.checkpoint;
    if (!read.page.hasMore) return { changes, checkpoint };
  }
}

function page(read: ChangesRead) {
  if (read.status !== 'page') throw new Error(`Expected a page, got ${JSON.stringify(read)}`);
  return read.page;
}

export function describeServerStore(name: string, open: OpenServerStore): void {
  describe(`ServerStore contract: ${name}`, () => {
    let time = 1_000_000;
    const clock = { now: () => time };

    async function fresh(tombstoneRetentionMs = DAY): Promise<ServerStore> {
      time = 1_000_000;
      const store = await open({ tombstoneRetentionMs, now: clock.now });
      onTestFinished(() => store.close());
      return store;
    }

    async function apply(store: ServerStore, batchId: string, items: Item[], scope = notes) {
      const outcome = await store.applyBatch(batchOf(scope, batchId, items));
      if (outcome.status === 'keyReused') throw new Error('key reused');
      return outcome.reply;
    }

    async function stored(store: ServerStore, id: string, scope = notes) {
      return (await store.list(scope)).find((entry) => entry.item.id === id);
    }

    describe('version rules', () => {
      it('stores a new record, replaces it with a higher version, and answers an older one with a conflict', async () => {
        const store = await fresh();
        expect(await apply(store, 'b1', [item('a', 1)])).toEqual([{ id: 'a', status: 'ok' }]);
        expect(await apply(store, 'b2', [item('a', 3)])).toEqual([{ id: 'a', status: 'ok' }]);
        expect(await apply(store, 'b3', [item('a', 2, { text: 'old' })])).toEqual([
          {
            id: 'a',
            status: 'conflict',
            remote: { id: 'a', version: 3, createdAt: 1, updatedAt: 3, syncPending: false, text: 'v3' },
          },
        ]);
        expect(await store.list(notes)).toEqual([
          {
            item: { id: 'a', version: 3, createdAt: 1, updatedAt: 3, syncPending: false, text: 'v3' },
            appliedCount: 2,
            appliedVersions: [1, 3],
          },
        ]);
      });

      it('the same version with the same content is ok and writes nothing; with other content, a conflict', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 2, { nested: { b: 1, a: [1, 'x'] } })]);
        const before = page(await store.changes(notes, undefined, 10)).checkpoint;
        // A lost reply, then the same version in a new batch (syncPending is not content).
        expect(
          await apply(store, 'b2', [item('a', 2, { nested: { b: 1, a: [1, 'x'] }, syncPending: false })]),
        ).toEqual([{ id: 'a', status: 'ok' }]);
        expect(page(await store.changes(notes, before, 10)).changes).toEqual([]);
        expect((await stored(store, 'a'))?.appliedCount).toBe(1);
        // Same fields in another order are other JSON: the rule compares content as written.
        expect(
          (await apply(store, 'b3', [item('a', 2, { nested: { a: [1, 'x'], b: 1 } })]))[0],
        ).toMatchObject({
          status: 'conflict',
          remote: { version: 2, nested: { b: 1, a: [1, 'x'] } },
        });
        expect((await apply(store, 'b4', [item('a', 2, { text: 'other' })]))[0]).toMatchObject({
          status: 'conflict',
        });
      });

      it('a change with a base replaces only that version, whatever its own number', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1)]);
        expect(await apply(store, 'b2', [item('a', 2, { baseVersion: 1, text: 'A' })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        // Another client, offline on v1, edited twice: its v3 would win on the number alone.
        expect(await apply(store, 'b3', [item('a', 3, { baseVersion: 1, text: 'B' })])).toEqual([
          {
            id: 'a',
            status: 'conflict',
            remote: { id: 'a', version: 2, createdAt: 1, updatedAt: 2, syncPending: false, text: 'A' },
          },
        ]);
        expect(await apply(store, 'b4', [item('a', 4, { baseVersion: 2, text: 'B' })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        // The base is the writer's bookkeeping: never stored nor served.
        const served = (await readAll(store, notes)).changes[0]?.item;
        expect(served).toEqual({
          id: 'a',
          version: 4,
          createdAt: 1,
          updatedAt: 4,
          syncPending: false,
          text: 'B',
        });
      });

      it("a change on top of the writer's own unacknowledged push (ownVersions) goes through; another's is a conflict", async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1)]);
        // The client pushed v2 on base 1, the reply was lost; it edits again (v3), still on base 1.
        const pushed = item('a', 2, { baseVersion: 1, text: 'mine' });
        await apply(store, 'b2', [pushed]);
        const own = [{ version: 2, digest: recordDigest({ ...pushed, syncPending: false }) }];
        expect(await apply(store, 'b3', [item('a', 3, { baseVersion: 1, ownVersions: own })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        // The stored version matches a listed version but not its content: someone else's write.
        await apply(store, 'b4', [item('a', 4, { baseVersion: 3, text: 'theirs' })]);
        const wrong = [{ version: 4, digest: recordDigest({ ...pushed, version: 4, syncPending: false }) }];
        expect(
          (await apply(store, 'b5', [item('a', 5, { baseVersion: 3, ownVersions: wrong })]))[0],
        ).toMatchObject({
          status: 'conflict',
          remote: { version: 4, text: 'theirs' },
        });
        expect((await stored(store, 'a'))?.item.ownVersions).toBeUndefined();
      });

      it('a refused item (reject) fails alone, the rest is applied; the same version again is never refused', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1)]);
        const refuse: ServerBatch['reject'] = (entry) =>
          entry.id === 'c' || entry.id === 'a' ? { error: 'refused', retryable: false } : undefined;
        const outcome = await store.applyBatch(
          batchOf(notes, 'b2', [item('a', 1), item('b', 1), item('c', 1)], refuse),
        );
        expect(outcome).toEqual({
          status: 'applied',
          reply: [
            { id: 'a', status: 'ok' },
            { id: 'b', status: 'ok' },
            { id: 'c', status: 'failed', error: 'refused', retryable: false },
          ],
        });
        expect((await store.list(notes)).map(({ item }) => item.id).sort()).toEqual(['a', 'b']);
      });
    });

    describe('tombstones', () => {
      it('a delete keeps only the bookkeeping, is left out of list, served by the feed, and can be built on', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1, { secret: 'gone soon' }), item('b', 1)]);
        expect(await apply(store, 'b2', [tombstone('a', 2, { secret: 'gone soon' })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        expect((await store.list(notes)).map(({ item }) => item.id)).toEqual(['b']);
        const { changes } = await readAll(store, notes);
        expect(changes).toEqual([
          { id: 'b', version: 1, deleted: false, item: expect.objectContaining({ id: 'b' }) },
          {
            id: 'a',
            version: 2,
            deleted: true,
            item: { id: 'a', version: 2, createdAt: 1, updatedAt: 2, syncPending: false, deleted: true },
          },
        ]);
        // Two deletes of one version are the same; a lower live version loses to the tombstone.
        expect(await apply(store, 'b3', [tombstone('a', 2, { other: 1 })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        expect((await apply(store, 'b4', [item('a', 1)]))[0]).toMatchObject({
          status: 'conflict',
          remote: { version: 2, deleted: true },
        });
        expect(await apply(store, 'b5', [item('a', 3, { baseVersion: 2 })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        expect((await stored(store, 'a'))?.appliedVersions).toEqual([1, 2, 3]);
      });

      it('a tombstone is served for its retention, then purged; a checkpoint from before the purge is reset', async () => {
        const store = await fresh(DAY);
        await apply(store, 'b1', [item('a', 1), item('b', 1)]);
        const early = (await readAll(store, notes)).checkpoint;
        await apply(store, 'b2', [tombstone('a', 2)]);
        const afterDelete = (await readAll(store, notes, early)).checkpoint;
        time += DAY - 1;
        expect((await readAll(store, notes)).changes.map(({ id }) => id)).toEqual(['b', 'a']);
        // Its retention has passed once the clock reaches it.
        time += 1;
        expect((await readAll(store, notes)).changes.map(({ id }) => id)).toEqual(['b']);
        expect(await store.changes(notes, early, 10)).toEqual({ status: 'reset', error: expect.any(String) });
        // A client past the delete missed nothing.
        expect(page(await store.changes(notes, afterDelete, 10)).changes).toEqual([]);
        // From the beginning, the new checkpoint holds the horizon: later pulls from it are never reset.
        const fromStart = (await readAll(store, notes)).checkpoint;
        await apply(store, 'b3', [item('c', 1)]);
        expect(page(await store.changes(notes, fromStart, 10)).changes.map(({ id }) => id)).toEqual(['c']);
      });

      it('purging on a write leaves the batch applied, and the record may be created again', async () => {
        const store = await fresh(DAY);
        await apply(store, 'b1', [item('a', 1)]);
        await apply(store, 'b2', [tombstone('a', 2)]);
        time += DAY + 1;
        // The purged record is gone: a create of it starts over.
        expect(await apply(store, 'b3', [item('a', 1, { text: 'again' })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        expect(await store.list(notes)).toEqual([
          { item: expect.objectContaining({ text: 'again' }), appliedCount: 1, appliedVersions: [1] },
        ]);
      });

      it('a retention of 0 serves no tombstone: the next read purges it', async () => {
        const store = await fresh(0);
        await apply(store, 'b1', [item('a', 1), tombstone('b', 1)]);
        expect(await store.list(notes)).toEqual([
          expect.objectContaining({ item: expect.objectContaining({ id: 'a' }) }),
        ]);
        expect((await readAll(store, notes)).changes.map(({ id }) => id)).toEqual(['a']);
        // The record may be created again from nothing.
        expect(await apply(store, 'b2', [item('b', 1)])).toEqual([{ id: 'b', status: 'ok' }]);
      });
    });

    describe('checkpoints', () => {
      it('pages the feed in write order; a rewritten record moves to the end and is served once', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1), item('b', 1), item('c', 1)]);
        await apply(store, 'b2', [item('a', 2)]);
        const first = page(await store.changes(notes, undefined, 2));
        expect(first.changes.map(({ id, version }) => `${id}@${version}`)).toEqual(['b@1', 'c@1']);
        expect(first.hasMore).toBe(true);
        const second = page(await store.changes(notes, first.checkpoint, 2));
        expect(second.changes.map(({ id, version }) => `${id}@${version}`)).toEqual(['a@2']);
        expect(second.hasMore).toBe(false);
        // An empty page keeps the position: the head.
        const empty = page(await store.changes(notes, second.checkpoint, 2));
        expect(empty).toEqual({ changes: [], checkpoint: second.checkpoint, hasMore: false });
        await apply(store, 'b3', [item('b', 2), item('d', 1)]);
        expect(page(await store.changes(notes, second.checkpoint, 10)).changes.map(({ id }) => id)).toEqual([
          'b',
          'd',
        ]);
      });

      it('a scope without writes pages nothing, and its checkpoint serves the first writes', async () => {
        const store = await fresh();
        const empty = page(await store.changes(notes, undefined, 10));
        expect(empty.changes).toEqual([]);
        expect(empty.hasMore).toBe(false);
        await apply(store, 'b1', [item('a', 1)]);
        expect(page(await store.changes(notes, empty.checkpoint, 10)).changes.map(({ id }) => id)).toEqual([
          'a',
        ]);
      });

      it('a since it could not have written is malformed; another store, or one ahead of its head, is a reset', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1)]);
        const { checkpoint } = await readAll(store, notes);
        const mine = decodeCheckpoint(checkpoint);
        if (!mine) throw new Error('not a checkpoint');
        expect(await store.changes(notes, 'not a checkpoint', 10)).toEqual({
          status: 'malformed',
          error: expect.any(String),
        });
        expect(await store.changes(notes, `${checkpoint}A`, 10)).toMatchObject({ status: 'malformed' });
        const foreign = encodeCheckpoint({ ...mine, epoch: 'someOtherServer' });
        expect(await store.changes(notes, foreign, 10)).toEqual({
          status: 'reset',
          error: expect.any(String),
        });
        const ahead = encodeCheckpoint({ ...mine, seq: mine.seq + 1 });
        expect(await store.changes(notes, ahead, 10)).toEqual({ status: 'reset', error: expect.any(String) });
      });
    });

    describe('idempotency keys', () => {
      it('the same key with the same batch returns the stored reply and applies nothing again', async () => {
        const store = await fresh();
        await apply(store, 'b0', [item('b', 5)]);
        const batch = batchOf(notes, 'b1', [item('a', 1), item('b', 2)]);
        const first = await store.applyBatch(batch);
        expect(first).toEqual({
          status: 'applied',
          reply: [
            { id: 'a', status: 'ok' },
            { id: 'b', status: 'conflict', remote: expect.objectContaining({ version: 5 }) },
          ],
        });
        const watched: Scope[] = [];
        const stop = store.watch((scope) => watched.push(scope));
        onTestFinished(stop);
        expect(await store.applyBatch(batch)).toEqual({ ...first, status: 'duplicate' });
        expect((await stored(store, 'a'))?.appliedCount).toBe(1);
        expect(watched).toEqual([]);
      });

      it('the same key with another batch is a reused key: nothing applied', async () => {
        const store = await fresh();
        await apply(store, 'b1', [item('a', 1)]);
        expect(await store.applyBatch(batchOf(notes, 'b1', [item('a', 2)]))).toEqual({ status: 'keyReused' });
        expect(await store.applyBatch(batchOf(notes, 'b1', [tombstone('a', 1)]))).toEqual({
          status: 'keyReused',
        });
        expect((await stored(store, 'a'))?.item.version).toBe(1);
      });

      it('keys belong to their scope: the same key in another type or partition is another batch', async () => {
        const store = await fresh();
        await apply(store, 'k', [item('a', 1)]);
        const tasks = { partition: 'alice', entityType: 'tasks' };
        const bob = { partition: 'bob', entityType: 'notes' };
        expect(await store.applyBatch(batchOf(tasks, 'k', [item('a', 1)]))).toMatchObject({
          status: 'applied',
        });
        expect(await store.applyBatch(batchOf(bob, 'k', [item('a', 1)]))).toMatchObject({
          status: 'applied',
        });
      });
    });

    describe('partitions', () => {
      it("keeps partitions apart: one principal's records, feed and checkpoints are nothing to another", async () => {
        const store = await fresh();
        const bob = { partition: 'bob', entityType: 'notes' };
        const shared = { partition: '', entityType: 'notes' };
        await apply(store, 'b1', [item('a', 1, { owner: 'alice' })]);
        await apply(store, 'b1', [item('a', 3, { owner: 'bob' }), item('z', 1)], bob);
        expect((await store.list(notes)).map(({ item }) => item)).toEqual([
          expect.objectContaining({ owner: 'alice' }),
        ]);
        expect((await readAll(store, bob)).changes.map(({ id, version }) => `${id}@${version}`)).toEqual([
          'a@3',
          'z@1',
        ]);
        expect((await readAll(store, shared)).changes).toEqual([]);
        expect(await store.list(shared)).toEqual([]);
        // Alice's checkpoint (seq 1) read in Bob's partition serves Bob's own feed after its seq 1, nothing of hers.
        const alices = (await readAll(store, notes)).checkpoint;
        const read = page(await store.changes(bob, alices, 10));
        expect(read.changes.map(({ id, version }) => `${id}@${version}`)).toEqual(['z@1']);
        // A version lower than Bob's is no conflict for Alice's record, and the other way round.
        expect(await apply(store, 'b2', [item('a', 2, { owner: 'alice' })])).toEqual([
          { id: 'a', status: 'ok' },
        ]);
        expect((await stored(store, 'a', bob))?.item.version).toBe(3);
      });
    });

    describe('watch', () => {
      it('tells listeners of every committed write to a scope, after the write is readable; unsubscribing stops it', async () => {
        const store = await fresh();
        const seen: { scope: Scope; ids: string[] }[] = [];
        const heard: Promise<void>[] = [];
        const stop = store.watch((scope) => {
          heard.push(
            readAll(store, scope).then(({ changes }) => {
              seen.push({ scope, ids: changes.map(({ id }) => id) });
            }),
          );
        });
        onTestFinished(stop);
        await apply(store, 'b1', [item('a', 1)]);
        await apply(store, 'b1', [item('b', 1)], { partition: 'bob', entityType: 'tasks' });
        // Nothing written (a conflict, a duplicate): nothing to tell.
        await apply(store, 'b2', [item('a', 1, { text: 'other' })]);
        await apply(store, 'b1', [item('a', 1)]);
        await Promise.all(heard);
        expect(seen).toEqual([
          { scope: notes, ids: ['a'] },
          { scope: { partition: 'bob', entityType: 'tasks' }, ids: ['b'] },
        ]);
        stop();
        await apply(store, 'b3', [item('a', 2)]);
        await Promise.all(heard);
        expect(seen).toHaveLength(2);
      });
    });
  });
}
