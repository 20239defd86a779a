/**
 * The IndexedDB store's cases in a real browser: the whole LocalDataSource contract (the cases Node runs on
 * fake-indexeddb), then what only a real IndexedDB shows. Registered both in Node (for the names) and in the page.
 */

import { type LocalDataSource, StoreWriteError } from '../../src/index.js';
import { IndexedDbLocalStore } from '../../src/indexeddb.js';
import { live, page, tombstone } from '../helpers/pulled-pages.js';
import {
  type ContractTestApi,
  type Doc,
  indexedDbStoreFactory,
  localDataSourceContract,
} from '../store/local-data-source.contract.js';

const serverWins = { conflicts: 'server-wins' as const, now: 9_000 };

type Pulling = LocalDataSource<Doc> & Required<Pick<LocalDataSource<Doc>, 'checkpoint' | 'applyPulledPage'>>;

/** A collection of the IndexedDB store, which has the optional pull methods. */
function pulling(local: LocalDataSource<Doc>): Pulling {
  if (!local.checkpoint || !local.applyPulledPage) throw new Error('the store cannot take pulled pages');
  return local as Pulling;
}

/** What a reopen must keep of the two collections the reopen case writes. */
async function view(store: IndexedDbLocalStore) {
  const notes = store.collection<Doc>('note');
  const tags = pulling(store.collection<Doc>('tag'));
  return {
    notes: await notes.getAll({ includeDeleted: true }),
    notePending: (await notes.pending({ limit: 10, now: Number.MAX_SAFE_INTEGER })).items,
    noteFailures: await notes.failures(),
    tags: await tags.getAll({ includeDeleted: true }),
    tagCheckpoint: await tags.checkpoint(),
  };
}

export function registerIndexedDbStoreCases(t: ContractTestApi, indexedDB: () => IDBFactory): void {
  const { describe, it, afterEach, expect } = t;
  let databases = 0;
  // A database of its own per case, so no case sees another's rows.
  const fresh = (label: string) => `actorsync-${label}-${Date.now()}-${++databases}`;
  localDataSourceContract(t, [
    [
      'IndexedDbLocalStore',
      indexedDbStoreFactory(expect, () => ({ name: fresh('contract'), indexedDB: indexedDB() })),
      { sharedWriters: true },
    ],
  ]);

  describe('IndexedDbLocalStore in a real browser', () => {
    const opened: IndexedDbLocalStore[] = [];
    const open = async (name: string) => {
      const store = await IndexedDbLocalStore.open({ name, indexedDB: indexedDB() });
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
    });

    it('a reopen keeps every type’s records in change order, its failure records and its checkpoint', async () => {
      const name = fresh('reopen');
      const store = await open(name);
      const notes = pulling(store.collection<Doc>('note'));
      const tags = pulling(store.collection<Doc>('tag'));
      const doc = (id: string): Doc => ({
        id,
        title: id,
        version: 1,
        createdAt: 1,
        updatedAt: 1,
        syncPending: true,
      });
      await notes.saveMany(['n1', 'n2', 'n3'].map(doc));
      await tags.saveMany([doc('t1')]);
      await notes.save({ ...doc('n1'), title: 'edited', version: 2 });
      await notes.commit({
        acks: [{ id: 'n2', version: 1 }],
        failures: [
          { id: 'n3', version: 1, error: 'busy', retryable: true },
          { id: 'n1', version: 2, error: 'refused', retryable: false },
        ],
        failurePolicy: { maxItemAttempts: 3, retryDelayMs: () => 1_000 },
        now: 50,
      });
      await tags.applyPulledPage(page([live('t2', 1), tombstone('t9', 2)], 'c1'), serverWins);
      const before = await view(store);
      // n1 is dead-lettered: out of the outbox until requeued.
      expect(before.notePending.map((d) => d.id)).toEqual(['n3']);
      expect(before.noteFailures.map((f) => [f.id, f.deadLettered])).toEqual([
        ['n3', false],
        ['n1', true],
      ]);
      expect(before.tagCheckpoint).toBe('c1');
      await store.close();

      const reopened = await open(name);
      expect(await view(reopened)).toEqual(before);
      // Retries wait as they did: n3 is not due before its retry time.
      const due = await reopened.collection<Doc>('note').pending({ limit: 10, now: 51 });
      expect(due.items).toEqual([]);
    });

    it('a pulled page and its checkpoint land together or not at all: an aborted transaction leaves neither', async () => {
      const name = fresh('atomic');
      const store = await open(name);
      const local = pulling(store.collection<Doc>('doc'));
      await local.applyPulledPage(page([live('a', 1)], 'c1'), serverWins);
      const next = page([live('b', 1), live('c', 1), tombstone('a', 2)], 'c2', { since: 'c1' });

      // The browser aborts the transaction right after the checkpoint's put was queued behind the page's rows: a
      // real abort of a real transaction, as a quota error or a crash mid-commit would cause.
      const put = IDBObjectStore.prototype.put;
      const queued: string[] = [];
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<typeof put>) {
        const request = put.apply(this, args);
        queued.push(this.name);
        if (this.name === 'pull') this.transaction.abort();
        return request;
      };
      try {
        await expect(local.applyPulledPage(next, serverWins)).rejects.toBeInstanceOf(StoreWriteError);
      } finally {
        IDBObjectStore.prototype.put = put;
      }
      expect(queued).toEqual(['records', 'records', 'records', 'pull']);
      // Nothing of it shows, in memory or on disk.
      expect(await local.get('b')).toBeUndefined();
      expect(await local.get('a')).toMatchObject({ version: 1 });
      expect(await local.checkpoint()).toBe('c1');
      await store.close();
      const reopened = await open(name);
      const stored = pulling(reopened.collection<Doc>('doc'));
      expect((await stored.getAll({ includeDeleted: true })).map((d) => [d.id, d.version])).toEqual([
        ['a', 1],
      ]);
      expect(await stored.checkpoint()).toBe('c1');
      // The same page again, now that nothing stops it: all of it lands, with its checkpoint.
      expect(await stored.applyPulledPage(next, serverWins)).toMatchObject({
        pulled: 2,
        deleted: 1,
        checkpoint: 'c2',
      });
      await reopened.close();
      const last = pulling((await open(name)).collection<Doc>('doc'));
      expect((await last.getAll()).map((d) => d.id)).toEqual(['b', 'c']);
      expect(await last.checkpoint()).toBe('c2');
    });

    it('a request the database refuses fails its whole page: nothing of it lands, and the error names the cause', async () => {
      const name = fresh('refused');
      const store = await open(name);
      const local = pulling(store.collection<Doc>('doc'));
      await local.applyPulledPage(page([live('a', 1)], 'c1'), serverWins);
      const next = page([live('b', 1), tombstone('a', 2)], 'c2', { since: 'c1' });

      // The checkpoint's row is added instead of put: the type's row exists since c1, so IndexedDB fails that one
      // request (ConstraintError) after the page's rows were queued, and the request's error aborts the transaction.
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<typeof put>) {
        return this.name === 'pull' ? this.add(...args) : put.apply(this, args);
      };
      let failure: unknown;
      try {
        await local.applyPulledPage(next, serverWins).catch((error: unknown) => {
          failure = error;
        });
      } finally {
        IDBObjectStore.prototype.put = put;
      }
      expect(failure).toBeInstanceOf(StoreWriteError);
      // A DOMException's name is a getter on its prototype, which toMatchObject does not read.
      expect(((failure as StoreWriteError).cause as DOMException | undefined)?.name).toBe('ConstraintError');
      expect(await local.get('b')).toBeUndefined();
      expect(await local.get('a')).toMatchObject({ version: 1 });
      expect(await local.checkpoint()).toBe('c1');
      await store.close();
      const reopened = pulling((await open(name)).collection<Doc>('doc'));
      expect((await reopened.getAll({ includeDeleted: true })).map((d) => [d.id, d.version])).toEqual([
        ['a', 1],
      ]);
      expect(await reopened.checkpoint()).toBe('c1');
    });
  });
}
