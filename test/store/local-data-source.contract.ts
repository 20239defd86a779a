/**
 * The LocalDataSource contract: every store passes these cases. Written against a test API passed in (vitest's in
 * Node, test/helpers/page-test-api.ts in a browser page) so that Node and real Chromium run the very same cases.
 */
import type { ExpectStatic } from 'vitest';
import {
  InvalidEntityError,
  type LocalDataSource,
  MemoryLocalDataSource,
  markDeleted,
  markSynced,
  Repository,
  type RepositoryEntity,
  StalePageError,
} from '../../src/index.js';
import { IndexedDbLocalStore } from '../../src/indexeddb.js';
import { MAX_PURGED_TOMBSTONES } from '../../src/store/outbox-index.js';
import { live, page, tombstone } from '../helpers/pulled-pages.js';

/** What the contract needs of a test framework: vitest's functions, or the page runner's. */
export interface ContractTestApi {
  describe(name: string, body: () => void): void;
  it(name: string, body: () => Promise<void> | void): void;
  afterEach(body: () => Promise<void>): void;
  expect: ExpectStatic;
  /**
   * Runs `body` and returns the errors thrown meanwhile where no caller catches them (Node: `uncaughtException`;
   * a page: the window's `error` events, which `reportError` raises), keeping them from failing the run.
   */
  collectUncaught(body: () => Promise<void>): Promise<unknown[]>;
}

export interface Doc extends RepositoryEntity {
  title: string;
  tags?: string[];
}

/** Makes a fresh, empty collection for one case; `cleanup` runs after that case (in order). */
export type StoreFactory = (cleanup: (step: () => Promise<void>) => void) => Promise<LocalDataSource<Doc>>;

/** What a store keeps across a reopen: records (tombstones too) in change order, the outbox, failures, checkpoint. */
export async function persistedView(local: LocalDataSource<Doc>) {
  const { total, pending, nextDueAt } = await local.outbox(0);
  return {
    records: await local.getAll({ includeDeleted: true }),
    outbox: { total, pending, nextDueAt },
    pending: (await local.pending({ limit: 1_000_000, now: Number.MAX_SAFE_INTEGER })).items,
    failures: await local.failures(),
    checkpoint: await local.checkpoint?.(),
  };
}

/**
 * The IndexedDB store on the IndexedDB `database()` gives (a database name and its factory; a fresh one per case).
 * Every case also checks that the database holds what the store showed: rows are written per change, not rewritten
 * whole, so a row a change missed would show only after a reopen.
 */
export function indexedDbStoreFactory(
  expect: ExpectStatic,
  database: () => { name: string; indexedDB: IDBFactory },
): StoreFactory {
  return async (cleanup) => {
    const { name, indexedDB } = database();
    const store = await IndexedDbLocalStore.open({ name, indexedDB });
    const local = store.collection<Doc>('doc');
    cleanup(async () => {
      const shown = await persistedView(local);
      await store.close();
      const reopened = await IndexedDbLocalStore.open({ name, indexedDB });
      try {
        expect(await persistedView(reopened.collection<Doc>('doc'))).toEqual(shown);
      } finally {
        await reopened.close();
      }
    });
    return local;
  };
}

/** Where stores may differ within the contract. */
export interface StoreTraits {
  /**
   * Other writers share the records (tabs on one IndexedDB database): any of them may have pushed a record, so a
   * delete always writes a tombstone, even of a record this writer never handed to a push.
   */
  sharedWriters?: boolean;
}

/** Registers the contract's cases, under each implementation's name, with `t`. */
export function localDataSourceContract(
  t: ContractTestApi,
  implementations: readonly (readonly [name: string, factory: StoreFactory, traits?: StoreTraits])[],
): void {
  const { describe, it, afterEach, expect, collectUncaught } = t;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function makeStoreWith(factory: StoreFactory) {
    let clock = 1_000;
    const local = await factory((step) => cleanups.push(step));
    const repository = new Repository<Doc>({ entityType: 'doc', local, now: () => clock });
    return { local, repository, tick: (ms = 1) => (clock += ms) };
  }

  const policy = { maxItemAttempts: 3, retryDelayMs: () => 1_000 };

  for (const [name, factory] of implementations) {
    describe(`Repository over ${name}`, () => {
      const makeStore = () => makeStoreWith(factory);
      it('sets createdAt once, bumps version and updatedAt on every save, and marks the record pending', async () => {
        const { repository, tick } = await makeStore();
        const first = await repository.save({ id: 'd1', title: 'a' });
        expect(first).toEqual({
          id: 'd1',
          title: 'a',
          createdAt: 1_000,
          updatedAt: 1_000,
          version: 1,
          syncPending: true,
        });
        tick(5);
        const second = await repository.save({ id: 'd1', title: 'b' });
        expect(second).toMatchObject({ createdAt: 1_000, updatedAt: 1_005, version: 2, title: 'b' });
        expect(await repository.pendingCount()).toBe(1);
        const generated = await repository.save({ title: 'no id given' });
        expect(generated.id).toMatch(/^[0-9a-f-]{36}$/);
      });

      it('refuses a bad entity type name', () => {
        expect(() => new Repository({ entityType: '../etc', local: new MemoryLocalDataSource() })).toThrow(
          InvalidEntityError,
        );
      });
    });
  }

  for (const [name, factory] of implementations) {
    describe(`${name} (the LocalDataSource contract)`, () => {
      const makeStore = () => makeStoreWith(factory);
      it('pages pending items in change order, bounded by the run high-water mark', async () => {
        const { local, repository } = await makeStore();
        await repository.saveMany(['a', 'b', 'c', 'd'].map((id) => ({ id, title: id })));
        const { total, highWater } = await local.outbox(0);
        expect(total).toBe(4);
        await repository.save({ id: 'b', title: 'edited' });
        await repository.save({ id: 'e', title: 'new' });
        const page1 = await local.pending({ limit: 2, upTo: highWater, now: 0 });
        expect(page1.items.map((i) => i.id)).toEqual(['a', 'c']);
        const page2 = await local.pending({ limit: 2, after: page1.next, upTo: highWater, now: 0 });
        // b and e changed after the high-water mark: they belong to the next run.
        expect(page2).toEqual({ items: [expect.objectContaining({ id: 'd' })], next: undefined });
        const nextRun = await local.pending({ limit: 10, now: 0 });
        expect(nextRun.items.map((i) => i.id)).toEqual(['a', 'c', 'd', 'b', 'e']);
      });

      it('acks clear only items whose stored version still equals the acknowledged one', async () => {
        const { local, repository } = await makeStore();
        await repository.saveMany([
          { id: 'a', title: 'a' },
          { id: 'b', title: 'b' },
        ]);
        await repository.save({ id: 'b', title: 'b2' });
        const result = await local.commit({
          acks: [
            { id: 'a', version: 1 },
            { id: 'b', version: 1 },
            { id: 'gone', version: 1 },
          ],
          now: 1,
        });
        expect(result).toMatchObject({ syncedIds: ['a'], stale: ['b', 'gone'] });
        expect(await local.get('a')).toMatchObject({ syncPending: false });
        expect(await local.get('b')).toMatchObject({ syncPending: true, version: 2 });
      });

      it('keeps failed items out until their next attempt, dead letters for good, and requeues on demand', async () => {
        const { local, repository } = await makeStore();
        await repository.saveMany(['a', 'b', 'c'].map((id) => ({ id, title: id })));
        await local.commit({
          failures: [
            { id: 'a', version: 1, error: 'busy', retryable: true },
            { id: 'b', version: 1, error: 'invalid', retryable: false },
          ],
          failurePolicy: policy,
          now: 0,
        });
        expect((await local.pending({ limit: 10, now: 999 })).items.map((i) => i.id)).toEqual(['c']);
        expect((await local.pending({ limit: 10, now: 1_000 })).items.map((i) => i.id)).toEqual(['a', 'c']);
        expect(await local.outbox(0)).toMatchObject({ total: 1, pending: 3 });
        expect((await local.failures()).map((f) => [f.id, f.deadLettered])).toEqual([
          ['a', false],
          ['b', true],
        ]);
        expect(await local.requeueFailures(['b'])).toBe(1);
        expect((await local.pending({ limit: 10, now: 0 })).items.map((i) => i.id)).toEqual(['b', 'c']);
      });

      it('an ack clears baseVersion; a save after it sets it; a stale ack moves the pending change onto the acknowledged version', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'd', title: 'created' });
        expect(await local.get('d')).not.toHaveProperty('baseVersion');
        await local.commit({ acks: [{ id: 'd', version: 1 }], now: 0 });
        expect(await local.get('d')).toEqual(expect.not.objectContaining({ baseVersion: expect.anything() }));
        expect(await repository.save({ id: 'd', title: 'edit on 1' })).toMatchObject({
          version: 2,
          baseVersion: 1,
        });
        expect(await local.get('d')).toMatchObject({ version: 2, baseVersion: 1, syncPending: true });
        // Version 2 goes out; two more edits while it is in flight still build on version 1...
        expect((await local.pending({ limit: 10, now: 0 })).items).toEqual([
          expect.objectContaining({ version: 2, baseVersion: 1 }),
        ]);
        await repository.save({ id: 'd', title: 'edit on 2' });
        await repository.save({ id: 'd', title: 'edit on 3' });
        expect(await local.get('d')).toMatchObject({ version: 4, baseVersion: 1 });
        // ...until the server acknowledges version 2: the pending version 4 is built on it, still pending.
        expect(await local.commit({ acks: [{ id: 'd', version: 2 }], now: 0 })).toMatchObject({
          stale: ['d'],
        });
        expect(await local.get('d')).toMatchObject({ version: 4, baseVersion: 2, syncPending: true });
        // An ack older than the base changes nothing.
        await local.commit({ acks: [{ id: 'd', version: 1 }], now: 0 });
        expect(await local.get('d')).toMatchObject({ version: 4, baseVersion: 2 });
        expect(await local.outbox(0)).toMatchObject({ pending: 1 });
        await local.commit({ acks: [{ id: 'd', version: 4 }], now: 0 });
        expect(await local.get('d')).toEqual(expect.not.objectContaining({ baseVersion: expect.anything() }));
        expect(await local.getAll()).toEqual([
          { id: 'd', title: 'edit on 3', version: 4, createdAt: 1_000, updatedAt: 1_000, syncPending: false },
        ]);
      });

      it('a pending save over an acknowledged version is built on it, even when the caller read the record before the ack', async () => {
        const { local, repository } = await makeStore();
        const v1 = await repository.save({ id: 'e', title: 'first' });
        // The app read v1 (pending, no base) and builds v2 from it; meanwhile the server's ack of v1 is committed.
        const fromStaleRead = { ...v1, title: 'edited while v1 was out', version: 2, updatedAt: 2_000 };
        await local.commit({ acks: [{ id: 'e', version: 1 }], now: 0 });
        await local.saveMany([fromStaleRead]);
        expect(await local.get('e')).toMatchObject({ version: 2, baseVersion: 1, syncPending: true });
        // The run's pull brings the client's own v1 back: an echo, never a conflict that could take v1 over the edit.
        const result = await local.applyPulledPage?.(
          {
            changes: [{ id: 'e', version: 1, deleted: false, item: { ...v1, syncPending: false } }],
            checkpoint: 'c1',
            hasMore: false,
            since: undefined,
          },
          { conflicts: 'server-wins', now: 0 },
        );
        expect(result).toMatchObject({ echoes: 1, conflicts: 0 });
        expect(await local.get('e')).toMatchObject({
          title: 'edited while v1 was out',
          version: 2,
          syncPending: true,
        });
        // Two saves of one record in one call: the second is built on what the first was built on.
        await local.commit({ acks: [{ id: 'e', version: 2 }], now: 0 });
        const stored = (await local.get('e')) as typeof v1;
        await local.saveMany([
          { ...stored, title: 'a', version: 3, syncPending: true },
          { ...stored, title: 'b', version: 4, syncPending: true },
        ]);
        expect(await local.get('e')).toMatchObject({ title: 'b', version: 4, baseVersion: 2 });
      });

      it('takes the server copy of a conflict at its own version, below the local one; a change of ours never goes down', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'd', title: 'v1' });
        await local.commit({ acks: [{ id: 'd', version: 1 }], now: 0 });
        await repository.save({ id: 'd', title: 'v2' });
        await repository.save({ id: 'd', title: 'v3' });
        // Another client's version 2 won (server-wins): stored at 2, synced, no base.
        const theirs: Doc = {
          id: 'd',
          version: 2,
          createdAt: 1_000,
          updatedAt: 5,
          syncPending: false,
          title: 'A',
        };
        expect(
          await local.commit({ replace: [{ expectedVersion: 3, entity: theirs }], now: 0 }),
        ).toMatchObject({
          replaced: ['d'],
        });
        expect(await local.get('d')).toEqual(theirs);
        const next = await repository.save({ id: 'd', title: 'on A' });
        expect(next).toMatchObject({ version: 3, baseVersion: 2 });
        const lower: Doc = {
          id: 'd',
          version: 2,
          createdAt: 1_000,
          updatedAt: 6,
          syncPending: true,
          title: 'down',
        };
        await expect(
          local.commit({ replace: [{ expectedVersion: 3, entity: lower }], now: 0 }),
        ).rejects.toThrow(/below the stored 3/);
      });

      it('conditional replace writes only over the expected version', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'a', title: 'mine' });
        const theirs = {
          id: 'a',
          title: 'theirs',
          version: 5,
          createdAt: 1,
          updatedAt: 2,
          syncPending: false,
        };
        expect(
          await local.commit({ replace: [{ expectedVersion: 2, entity: theirs }], now: 0 }),
        ).toMatchObject({
          replaced: [],
        });
        expect(
          await local.commit({ replace: [{ expectedVersion: 1, entity: theirs }], now: 0 }),
        ).toMatchObject({
          replaced: ['a'],
        });
        expect(await local.get('a')).toEqual(theirs);
      });

      it('hands out copies and refuses what JSON cannot hold, leaving the store untouched', async () => {
        const { local, repository } = await makeStore();
        const saved = await repository.save({ id: 'a', title: 'a', tags: ['x'] });
        const copy = await local.get('a');
        copy?.tags?.push('mutated');
        expect((await local.get('a'))?.tags).toEqual(['x']);
        await expect(local.save({ ...saved, title: (() => 1) as unknown as string })).rejects.toThrow(
          /holds a function in field "title"/,
        );
        const circular: Record<string, unknown> = { ...saved };
        circular.self = circular;
        await expect(local.save(circular as unknown as Doc)).rejects.toBeInstanceOf(InvalidEntityError);
        expect(await local.getAll()).toEqual([saved]);
      });
    });
  }

  const serverWins = { conflicts: 'server-wins' as const, now: 9_000 };

  /** The LocalDataSource's optional pull methods, which both stores have. */
  function pulling(local: LocalDataSource<Doc>) {
    const { checkpoint, applyPulledPage } = local;
    if (!checkpoint || !applyPulledPage) throw new Error('the store cannot take pulled pages');
    return { checkpoint: () => checkpoint.call(local), apply: applyPulledPage.bind(local) };
  }

  for (const [name, factory, traits = {}] of implementations) {
    describe(`${name}: deletes as tombstones`, () => {
      const makeStore = () => makeStoreWith(factory);

      it('writes a pending tombstone at the next version, without the user fields, hidden from every read apps use', async () => {
        const { local, repository, tick } = await makeStore();
        await repository.saveMany([
          { id: 'a', title: 'a' },
          { id: 'b', title: 'b' },
        ]);
        // Handed to a push: the server may hold them, so a delete must reach it.
        await local.pending({ limit: 10, now: 0 });
        tick(10);
        expect(await repository.delete('a')).toBe(true);
        expect(await repository.delete('a')).toBe(false);
        expect(await repository.delete('nothing')).toBe(false);
        const stored = {
          id: 'a',
          createdAt: 1_000,
          updatedAt: 1_010,
          version: 2,
          syncPending: true,
          deleted: true,
          // Version 1 was handed to a push that may have reached the server: the delete knows it for its own.
          ownVersions: [{ version: 1, digest: expect.stringMatching(/^[0-9a-f]{16}$/) }],
        };
        expect(await local.get('a', { includeDeleted: true })).toEqual(stored);
        expect(await local.get('a')).toBeUndefined();
        expect(await repository.get('a')).toBeUndefined();
        expect((await local.getAll()).map((d) => d.id)).toEqual(['b']);
        expect((await repository.getAll()).map((d) => d.id)).toEqual(['b']);
        expect((await local.getAll({ includeDeleted: true })).map((d) => d.id)).toEqual(['b', 'a']);
        // Pushed like any change.
        expect((await local.pending({ limit: 10, now: 0 })).items).toEqual([
          expect.objectContaining({ id: 'b' }),
          stored,
        ]);
        expect(await repository.pendingCount()).toBe(2);
      });

      it('removes a tombstone in the write that acknowledges it, in a collection that does not pull', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'a', title: 'a' });
        await local.commit({ acks: [{ id: 'a', version: 1 }], now: 0 });
        await repository.delete('a');
        expect(await local.commit({ acks: [{ id: 'a', version: 1 }], now: 0 })).toMatchObject({
          stale: ['a'],
        });
        expect(await local.get('a', { includeDeleted: true })).toMatchObject({
          deleted: true,
          syncPending: true,
        });
        expect(await local.commit({ acks: [{ id: 'a', version: 2 }], now: 0 })).toMatchObject({
          syncedIds: ['a'],
        });
        expect(await local.get('a', { includeDeleted: true })).toBeUndefined();
        expect(await local.outbox(0)).toMatchObject({ total: 0, pending: 0 });
      });

      it('removes at once a record no push has seen (a store other writers share tombstones it too), but tombstones one handed out and not yet acknowledged', async () => {
        const { local, repository } = await makeStore();
        await repository.saveMany(['fresh', 'sent'].map((id) => ({ id, title: id })));
        await repository.save({ id: 'fresh', title: 'edited, still never sent' });
        // Only "sent" goes out in a push (its reply may be lost: the server may hold it).
        await local.pending({ limit: 10, upTo: 0, now: 0 });
        const page1 = await local.pending({ limit: 1, now: 0 });
        expect(page1.items.map((d) => d.id)).toEqual(['sent']);
        await repository.delete('fresh');
        await repository.delete('sent');
        expect(await local.get('sent', { includeDeleted: true })).toMatchObject({
          deleted: true,
          version: 2,
        });
        if (traits.sharedWriters) {
          // Another writer may have pushed "fresh": its tombstone goes out too.
          expect(await local.get('fresh', { includeDeleted: true })).toMatchObject({
            deleted: true,
            version: 3,
          });
          expect((await local.pending({ limit: 10, now: 0 })).items.map((d) => d.id)).toEqual([
            'fresh',
            'sent',
          ]);
        } else {
          expect(await local.get('fresh', { includeDeleted: true })).toBeUndefined();
          expect((await local.pending({ limit: 10, now: 0 })).items.map((d) => d.id)).toEqual(['sent']);
        }
      });

      it('counts a record saved again after its delete on from the tombstone, so it goes out above the server', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'a', title: 'a' });
        await local.pending({ limit: 10, now: 0 });
        await repository.delete('a');
        const again = await repository.save({ id: 'a', title: 'back', deleted: true } as Doc);
        expect(again).toMatchObject({ version: 3, title: 'back', syncPending: true });
        expect(again).not.toHaveProperty('deleted');
        // The store adds what it knows of the versions pushed before (`ownVersions`).
        expect(await repository.get('a')).toMatchObject(again);
      });

      it('takes the server tombstone of a push conflict (server-wins) by removing the record', async () => {
        const { local, repository } = await makeStore();
        await repository.save({ id: 'a', title: 'mine' });
        await local.pending({ limit: 10, now: 0 });
        // A tombstone has no user fields: typed as a record only by a cast.
        const theirs = {
          id: 'a',
          version: 4,
          createdAt: 1_000,
          updatedAt: 5,
          syncPending: false,
          deleted: true,
        } as Doc;
        expect(
          await local.commit({ replace: [{ expectedVersion: 1, entity: theirs }], now: 0 }),
        ).toMatchObject({
          replaced: ['a'],
        });
        expect(await local.get('a', { includeDeleted: true })).toBeUndefined();
        expect(await local.outbox(0)).toMatchObject({ pending: 0 });
      });

      it('a tombstone removed on its ack before the first pull: a page fetched before the delete cannot bring it back', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        await repository.save({ id: 'a', title: 'a' });
        await local.pending({ limit: 10, now: 0 });
        await local.commit({ acks: [{ id: 'a', version: 1 }], now: 0 });
        await repository.delete('a');
        await local.commit({ acks: [{ id: 'a', version: 2 }], now: 0 });
        // Never pulled: the acknowledged tombstone is removed at once, as before.
        expect(await local.get('a', { includeDeleted: true })).toBeUndefined();
        // The first page, fetched before the delete reached the server, still holds the live version 1.
        expect(await pull.apply(page([live('a', 1), live('b', 1)], 'c1'), serverWins)).toMatchObject({
          pulled: 1,
          echoes: 1,
        });
        expect(await local.get('a', { includeDeleted: true })).toBeUndefined();
        expect(await local.get('b')).toMatchObject({ version: 1 });
      });

      it('remembers at most MAX_PURGED_TOMBSTONES removed tombstones, forgetting the oldest first', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        const ids = Array.from({ length: MAX_PURGED_TOMBSTONES + 1 }, (_, i) => `t${i}`);
        const created = await repository.saveMany(ids.map((id) => ({ id, title: id })));
        await local.pending({ limit: ids.length, now: 0 });
        await local.commit({ acks: ids.map((id) => ({ id, version: 1 })), now: 0 });
        await local.saveMany(created.map((doc) => markDeleted(markSynced(doc), 2)));
        await local.commit({ acks: ids.map((id) => ({ id, version: 2 })), now: 0 });
        expect(await local.getAll({ includeDeleted: true })).toEqual([]);
        const result = await pull.apply(
          page([live('t0', 1), live('t1', 1), live(`t${ids.length - 1}`, 1)], 'c1'),
          serverWins,
        );
        // Only the oldest one fell out of the bound: its stale version comes back, the others do not.
        expect(result).toMatchObject({ pulled: 1, echoes: 2 });
        expect((await local.getAll()).map((doc) => doc.id)).toEqual(['t0']);
      });

      it('keeps an acknowledged tombstone of a collection that pulls, synced and hidden, also once its echo is pulled', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        await pull.apply(page([live('a', 3)], 'c1'), serverWins);
        await repository.delete('a');
        await local.commit({ acks: [{ id: 'a', version: 4 }], now: 0 });
        expect(await local.get('a')).toBeUndefined();
        expect(await local.get('a', { includeDeleted: true })).toMatchObject({
          version: 4,
          syncPending: false,
        });
        expect(await local.outbox(0)).toMatchObject({ pending: 0 });
        // A page pulled before the delete reached the server: its older version does not bring the record back.
        expect(await pull.apply(page([live('a', 3)], 'c2', { since: 'c1' }), serverWins)).toMatchObject({
          pulled: 0,
          echoes: 1,
        });
        expect(await local.get('a')).toBeUndefined();
        // The delete coming back changes nothing: the tombstone stays, so a record saved again is built on it.
        expect(await pull.apply(page([tombstone('a', 4)], 'c3', { since: 'c2' }), serverWins)).toMatchObject({
          echoes: 1,
          deleted: 0,
        });
        expect(await local.get('a', { includeDeleted: true })).toMatchObject({
          version: 4,
          syncPending: false,
        });
        expect(await repository.save({ id: 'a', title: 'again' })).toMatchObject({
          version: 5,
          baseVersion: 4,
        });
      });
    });
  }

  for (const [name, factory] of implementations) {
    describe(`${name}: pulled pages and the checkpoint`, () => {
      const makeStore = () => makeStoreWith(factory);

      it('stores new and newer records synced, removes deleted ones, skips echoes, and stores the checkpoint', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        expect(await pull.checkpoint()).toBeUndefined();
        // A first pull into an empty collection (a first pull over synced records is a reset: its own test below).
        await pull.apply(page([], 'c0'), serverWins);
        await repository.saveMany(['mine', 'old'].map((id) => ({ id, title: id })));
        await local.commit({
          acks: [
            { id: 'mine', version: 1 },
            { id: 'old', version: 1 },
          ],
          now: 0,
        });
        const result = await pull.apply(
          page(
            [live('new', 1), live('old', 2), live('mine', 1), tombstone('gone', 5), tombstone('new', 2)],
            'c1',
            { since: 'c0' },
          ),
          serverWins,
        );
        expect(result).toEqual({
          pulled: 2,
          deleted: 1,
          conflicts: 0,
          echoes: 2,
          invalid: 0,
          refused: [],
          repush: [],
          dropped: 0,
          checkpoint: 'c1',
        });
        expect(await pull.checkpoint()).toBe('c1');
        expect(await local.getAll()).toEqual([
          { id: 'mine', title: 'mine', createdAt: 1_000, updatedAt: 1_000, version: 1, syncPending: false },
          // createdAt stays the local record's; the server's updatedAt is taken.
          { id: 'old', title: 'old@2', createdAt: 1_000, updatedAt: 2, version: 2, syncPending: false },
        ]);
        expect(await local.outbox(0)).toMatchObject({ pending: 0 });
        // An empty page moves the checkpoint on.
        await pull.apply(page([], 'c2', { since: 'c1' }), serverWins);
        expect(await pull.checkpoint()).toBe('c2');
      });

      it('never lets a pulled change overwrite a pending local edit silently: each policy resolves it', async () => {
        for (const [conflicts, title, pending] of [
          ['server-wins', 'a@5', false],
          ['client-wins', 'mine', true],
          [
            (mine: Doc, theirs: Doc) => ({ ...theirs, title: `${theirs.title}+${mine.title}` }),
            'a@5+mine',
            true,
          ],
        ] as const) {
          const { local, repository } = await makeStore();
          await repository.save({ id: 'a', title: 'mine' });
          const result = await pulling(local).apply(page([live('a', 5)], 'c1'), { conflicts, now: 9_000 });
          expect(result).toMatchObject({ conflicts: 1, pulled: 0, repush: pending ? ['a'] : [] });
          expect(await local.get('a')).toMatchObject({
            title,
            syncPending: pending,
            version: pending ? 6 : 5,
          });
          expect((await local.outbox(0)).pending).toBe(pending ? 1 : 0);
        }
      });

      it('a first pull over records the server acknowledged is a reset: it drops a synced record no page mentions', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        await repository.saveMany(['kept', 'purged', 'mine'].map((id) => ({ id, title: id })));
        await local.commit({
          acks: [
            { id: 'kept', version: 1 },
            { id: 'purged', version: 1 },
          ],
          now: 0,
        });
        // Page 1 of 2: no checkpoint is stored yet (a crash restarts the pull from the beginning).
        await pull.apply(page([live('kept', 1)], 'c1', { hasMore: true }), serverWins);
        expect(await pull.checkpoint()).toBeUndefined();
        const result = await pull.apply(page([live('other', 1)], 'c2', { since: 'c1' }), serverWins);
        // `purged` was deleted on the server and its tombstone purged: mentioned by no page, it goes; `mine` is pending.
        expect(result).toMatchObject({ dropped: 1, checkpoint: 'c2' });
        expect((await local.getAll()).map((r) => r.id).sort()).toEqual(['kept', 'mine', 'other']);
      });

      it('refuses an invalid change without storing it, and a page without a checkpoint as a whole', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        await repository.save({ id: 'keep', title: 'keep' });
        const bad = { ...live('x', 2), version: 3 };
        const result = await pull.apply(page([bad, live('y', 1)], 'c1'), serverWins);
        expect(result).toMatchObject({ invalid: 1, pulled: 1, refused: [{ id: 'x', kind: 'invalid' }] });
        expect(result.refused[0]?.error).toMatch(/says version 3 but its record has 2/);
        expect(await local.get('x')).toBeUndefined();
        await expect(
          pull.apply({ ...page([live('z', 1)], ''), since: 'c1' }, serverWins),
        ).rejects.toBeInstanceOf(InvalidEntityError);
        expect(await local.get('z')).toBeUndefined();
        expect(await pull.checkpoint()).toBe('c1');
      });

      it('resets: pages from the beginning store no checkpoint until the last, which drops what the pull did not mention unless pending', async () => {
        const { local, repository } = await makeStore();
        const pull = pulling(local);
        await pull.apply(page([live('a', 1), live('b', 1), live('c', 1)], 'c1'), serverWins);
        await repository.save({ id: 'mine', title: 'pending, never pulled' });
        await repository.save({ id: 'c', title: 'edited here' });
        const first = await pull.apply(
          page([live('a', 2)], 'r1', { reset: true, hasMore: true }),
          serverWins,
        );
        expect(first).toMatchObject({ pulled: 1, dropped: 0, checkpoint: undefined });
        expect(await pull.checkpoint()).toBeUndefined();
        expect(await local.get('b')).toBeDefined();
        const last = await pull.apply(page([], 'r2', { since: 'r1', reset: true }), serverWins);
        expect(last).toMatchObject({ dropped: 1, checkpoint: 'r2' });
        expect(await pull.checkpoint()).toBe('r2');
        expect((await local.getAll()).map((d) => [d.id, d.version, d.syncPending])).toEqual([
          ['mine', 1, true],
          ['c', 2, true],
          ['a', 2, false],
        ]);
      });

      it('refuses a late page (pulled from an older checkpoint) whole: no deleted record comes back, the checkpoint never goes back', async () => {
        const { local } = await makeStore();
        const pull = pulling(local);
        await pull.apply(page([live('b', 1)], 'c1'), serverWins);
        await pull.apply(page([tombstone('b', 2)], 'c2', { since: 'c1' }), serverWins);
        expect(await local.get('b')).toBeUndefined();
        expect(await local.get('b', { includeDeleted: true })).toMatchObject({ version: 2, deleted: true });
        // Late replies: from a checkpoint the store never held, from one it has moved past, from the beginning.
        for (const since of ['c0', 'c1', undefined]) {
          const late = pull.apply(page([live('b', 1), live('n', 1)], 'c1', { since }), serverWins);
          await expect(late).rejects.toBeInstanceOf(StalePageError);
          await expect(late).rejects.toMatchObject({ code: 'STALE_PAGE', since, expected: 'c2' });
        }
        expect(await local.get('b')).toBeUndefined();
        expect(await local.get('b', { includeDeleted: true })).toMatchObject({ version: 2, deleted: true });
        expect(await local.get('n')).toBeUndefined();
        expect(await pull.checkpoint()).toBe('c2');
        // The page that follows the store is taken.
        expect(await pull.apply(page([live('n', 1)], 'c3', { since: 'c2' }), serverWins)).toMatchObject({
          pulled: 1,
          checkpoint: 'c3',
        });
      });

      it('refuses a page from a checkpoint before the first pull, and a reset page that does not follow the reset', async () => {
        const { local } = await makeStore();
        const pull = pulling(local);
        // Never pulled: only a page from the beginning follows.
        await expect(
          pull.apply(page([live('a', 1)], 'c2', { since: 'c1' }), serverWins),
        ).rejects.toBeInstanceOf(StalePageError);
        expect(await local.get('a')).toBeUndefined();
        expect(await pull.checkpoint()).toBeUndefined();
        await pull.apply(page([live('a', 1)], 'c1'), serverWins);
        // A reset: its pages follow one another from its own cursor, not the stored checkpoint.
        await pull.apply(page([live('a', 2)], 'r1', { reset: true, hasMore: true }), serverWins);
        for (const since of ['c1', 'r0']) {
          await expect(
            pull.apply(page([live('z', 1)], 'r2', { since, reset: true }), serverWins),
          ).rejects.toMatchObject({ code: 'STALE_PAGE', expected: 'r1' });
        }
        expect(await local.get('z')).toBeUndefined();
        expect(
          await pull.apply(page([live('z', 1)], 'r2', { since: 'r1', reset: true }), serverWins),
        ).toMatchObject({
          pulled: 1,
          checkpoint: 'r2',
        });
        expect(await pull.checkpoint()).toBe('r2');
      });

      it('continues a reset from the beginning only', async () => {
        const { local } = await makeStore();
        const pull = pulling(local);
        await expect(
          pull.apply(page([live('a', 1)], 'r2', { since: 'r1', reset: true, hasMore: true }), serverWins),
        ).rejects.toThrow(/pull again from the beginning/);
        expect(await local.get('a')).toBeUndefined();
      });
    });
  }

  for (const [name, factory] of implementations) {
    describe(`${name}: change notifications`, () => {
      const makeStore = () => makeStoreWith(factory);

      it('tells listeners of every write once it is applied (saves, deletes, acks, failures, requeues, pulled pages), with the ids it touched', async () => {
        const { local, repository } = await makeStore();
        const seen: { source: string; ids: string[]; entityType: string }[] = [];
        const subscription = repository.subscribe((change) => {
          seen.push({ source: change.source, ids: [...change.ids].sort(), entityType: change.entityType });
        });
        await repository.saveMany([
          { id: 'a', title: 'a' },
          { id: 'b', title: 'b' },
        ]);
        await local.commit({ acks: [{ id: 'a', version: 1 }], now: 0 });
        await local.commit({
          failures: [{ id: 'b', version: 1, error: 'invalid', retryable: false }],
          failurePolicy: policy,
          now: 0,
        });
        await local.requeueFailures();
        await repository.delete('b');
        const pull = pulling(local);
        await pull.apply(page([live('c', 1)], 'c1'), serverWins);
        // A write that changes nothing tells no one.
        await pull.apply(page([], 'c2', { since: 'c1' }), serverWins);
        await local.requeueFailures();
        expect(seen).toEqual([
          { source: 'local', ids: ['a', 'b'], entityType: 'doc' },
          { source: 'sync', ids: ['a'], entityType: 'doc' },
          { source: 'sync', ids: ['b'], entityType: 'doc' },
          { source: 'local', ids: ['b'], entityType: 'doc' },
          { source: 'local', ids: ['b'], entityType: 'doc' },
          // A first pull over acknowledged records is a reset: it drops 'a', which the page does not mention.
          { source: 'pull', ids: ['a', 'c'], entityType: 'doc' },
        ]);
        subscription.unsubscribe();
        await repository.save({ id: 'd', title: 'd' });
        expect(seen).toHaveLength(6);
      });

      it('a listener reads the change it is told of; one that throws neither fails the write nor stops the others', async () => {
        const { local, repository } = await makeStore();
        const reads: (string | undefined)[] = [];
        const thrown = await collectUncaught(async () => {
          repository.subscribe(() => {
            throw new Error('a view bug');
          });
          repository.subscribe(() => {
            void local.get('a').then((record) => reads.push(record?.title));
          });
          await expect(repository.save({ id: 'a', title: 'first' })).resolves.toMatchObject({ version: 1 });
          await new Promise((resolve) => setTimeout(resolve, 10));
        });
        expect(reads).toEqual(['first']);
        expect(thrown).toEqual([new Error('a view bug')]);
        expect(await local.get('a')).toMatchObject({ title: 'first' });
      });
    });
  }
}
