// idb checks what it wraps against the IndexedDB classes, which Node lacks: fake-indexeddb's, as globals.
import 'fake-indexeddb/auto';
import { forceCloseDatabase, IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import { type RepositoryEntity, StoreCorruptError, StoreWriteError } from '../../src/index.js';
import { IndexedDbLocalStore } from '../../src/indexeddb.js';
import { live, page } from '../helpers/pulled-pages.js';

interface Doc extends RepositoryEntity {
  title: string;
}

const NAME = 'notes';
const policy = { maxItemAttempts: 3, retryDelayMs: () => 1_000 };
const serverWins = { conflicts: 'server-wins' as const, now: 1 };
const doc = (id: string, version = 1, title = id): Doc => ({
  id,
  title,
  createdAt: 1,
  updatedAt: 1,
  version,
  syncPending: true,
});

const open: IndexedDbLocalStore[] = [];
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

/** A fresh IndexedDB that hands the test each connection the store opens (to fail its transactions for real). */
function freshIndexedDB() {
  const indexedDB = new IDBFactory();
  const connections: IDBDatabase[] = [];
  const openRequest = indexedDB.open.bind(indexedDB);
  indexedDB.open = (name: string, version?: number) => {
    const request = openRequest(name, version);
    request.addEventListener('success', () => connections.push(request.result));
    return request;
  };
  return { indexedDB, connections };
}

async function openStore(indexedDB: IDBFactory) {
  // No announcements: these tests count transactions, and another file's store of the same name may post.
  const store = await IndexedDbLocalStore.open({ name: NAME, indexedDB, announcements: null });
  open.push(store);
  return store;
}

async function reopen(store: IndexedDbLocalStore, indexedDB: IDBFactory) {
  await store.close();
  open.splice(open.indexOf(store), 1);
  return openStore(indexedDB);
}

/** Every row of the database, as IndexedDB holds it. */
async function rawRows(indexedDB: IDBFactory) {
  globalThis.indexedDB = indexedDB;
  const db = await openDB(NAME);
  try {
    const names = [...db.objectStoreNames].sort();
    return Object.fromEntries(await Promise.all(names.map(async (name) => [name, await db.getAll(name)])));
  } finally {
    db.close();
  }
}

/** Aborts the next readwrite transaction of `db` once its first record row has been written in it. */
function abortNextWrite(db: IDBDatabase): void {
  const transaction = db.transaction.bind(db);
  db.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
    const tx = transaction(...args);
    if (args[1] !== 'readwrite') return tx;
    db.transaction = transaction;
    const objectStore = tx.objectStore.bind(tx);
    tx.objectStore = (name: string) => {
      const store = objectStore(name);
      if (name !== 'records') return store;
      const put = store.put.bind(store);
      store.put = (...putArgs: Parameters<IDBObjectStore['put']>) => {
        const request = put(...putArgs);
        request.addEventListener('success', () => tx.abort(), { once: true });
        return request;
      };
      return store;
    };
    return tx;
  }) as IDBDatabase['transaction'];
}

describe('IndexedDbLocalStore', () => {
  it('keeps records, the outbox order, failure records and the checkpoint across a reopen', async () => {
    const { indexedDB } = freshIndexedDB();
    let store = await openStore(indexedDB);
    let docs = store.collection<Doc>('doc');
    await docs.saveMany([doc('a'), doc('b'), doc('c')]);
    await docs.applyPulledPage?.(page([live('p', 4, 'pulled')], 'c1'), serverWins);
    // a is acknowledged in place; b moves to the end of the outbox with its new version; c fails.
    await docs.commit({
      acks: [{ id: 'a', version: 1 }],
      failures: [{ id: 'c', version: 1, error: 'busy', retryable: true }],
      failurePolicy: policy,
      now: 0,
    });
    await docs.save(doc('b', 2, 'b2'));
    await store.collection<Doc>('other').save(doc('x'));
    const before = {
      records: await docs.getAll({ includeDeleted: true }),
      pending: (await docs.pending({ limit: 10, now: 0 })).items.map((item) => item.id),
      failures: await docs.failures(),
    };
    expect(before.pending).toEqual(['b']);

    store = await reopen(store, indexedDB);
    docs = store.collection<Doc>('doc');
    expect(store.entityTypes.sort()).toEqual(['doc', 'other']);
    expect(await docs.getAll({ includeDeleted: true })).toEqual(before.records);
    expect(before.records.map((record) => record.id)).toEqual(['a', 'c', 'p', 'b']);
    expect((await docs.pending({ limit: 10, now: 1_000 })).items.map((item) => item.id)).toEqual(['c', 'b']);
    expect(await docs.failures()).toEqual(before.failures);
    expect(before.failures).toMatchObject([{ id: 'c', attempts: 1, nextAttemptAt: 1_000 }]);
    expect(await docs.checkpoint?.()).toBe('c1');
    expect(await docs.get('a')).toMatchObject({ syncPending: false });
    expect(await store.collection<Doc>('other').get('x')).toMatchObject({ title: 'x' });
  });

  it('a pulled page and its checkpoint land together or not at all: an aborted transaction leaves memory and the database as they were', async () => {
    const { indexedDB, connections } = freshIndexedDB();
    let store = await openStore(indexedDB);
    const docs = store.collection<Doc>('doc');
    await docs.applyPulledPage?.(page([live('a', 1)], 'c1'), serverWins);
    await docs.save(doc('mine'));
    const rows = await rawRows(indexedDB);
    const connection = connections[0];
    if (!connection) throw new Error('the store opened no connection');

    abortNextWrite(connection);
    const failed = docs.applyPulledPage?.(
      page([live('b', 1), live('c', 1)], 'c2', { since: 'c1' }),
      serverWins,
    );
    await expect(failed).rejects.toThrow(StoreWriteError);
    await expect(failed).rejects.toThrow(/IndexedDB database "notes"/);
    expect(await docs.checkpoint?.()).toBe('c1');
    expect((await docs.getAll()).map((record) => record.id)).toEqual(['a', 'mine']);
    expect(await rawRows(indexedDB)).toEqual(rows);

    // Not broken: the same page goes through on the next try, records and checkpoint together.
    await docs.applyPulledPage?.(page([live('b', 1), live('c', 1)], 'c2', { since: 'c1' }), serverWins);
    store = await reopen(store, indexedDB);
    const reopened = store.collection<Doc>('doc');
    expect(await reopened.checkpoint?.()).toBe('c2');
    expect((await reopened.getAll()).map((record) => record.id)).toEqual(['a', 'mine', 'b', 'c']);
  });

  it('a commit that fails changes nothing: the acks and failure records stay unwritten and unapplied', async () => {
    const { indexedDB, connections } = freshIndexedDB();
    const store = await openStore(indexedDB);
    const docs = store.collection<Doc>('doc');
    await docs.saveMany([doc('a'), doc('b')]);
    const rows = await rawRows(indexedDB);
    const connection = connections[0];
    if (!connection) throw new Error('the store opened no connection');
    abortNextWrite(connection);
    await expect(
      docs.commit({
        acks: [{ id: 'a', version: 1 }],
        replace: [{ entity: { ...doc('b', 3), syncPending: false }, expectedVersion: 1 }],
        now: 0,
      }),
    ).rejects.toThrow(StoreWriteError);
    expect((await docs.pending({ limit: 10, now: 0 })).items.map((item) => item.id)).toEqual(['a', 'b']);
    expect(await docs.get('b')).toMatchObject({ version: 1 });
    expect(await rawRows(indexedDB)).toEqual(rows);
  });

  it('a database closed underneath (storage cleared) refuses later writes with StoreWriteError and changes nothing', async () => {
    const { indexedDB, connections } = freshIndexedDB();
    const store = await openStore(indexedDB);
    const docs = store.collection<Doc>('doc');
    await docs.save(doc('a'));
    const connection = connections[0];
    if (!connection) throw new Error('the store opened no connection');
    forceCloseDatabase(connection as unknown as Parameters<typeof forceCloseDatabase>[0]);
    await expect(docs.save(doc('b'))).rejects.toThrow(/the browser closed the database/);
    await expect(docs.commit({ acks: [{ id: 'a', version: 1 }], now: 0 })).rejects.toThrow(StoreWriteError);
    expect((await docs.getAll()).map((record) => ({ id: record.id, pending: record.syncPending }))).toEqual([
      { id: 'a', pending: true },
    ]);
    const reopened = await openStore(indexedDB);
    expect(await reopened.collection<Doc>('doc').getAll()).toEqual(await docs.getAll());
  });

  it('another connection upgrading the schema closes the store, which then refuses writes', async () => {
    const { indexedDB } = freshIndexedDB();
    const store = await openStore(indexedDB);
    const docs = store.collection<Doc>('doc');
    await docs.save(doc('a'));
    globalThis.indexedDB = indexedDB;
    // Opens only because the store lets go of its connection (it would be blocked otherwise).
    const newer = await openDB(NAME, 3);
    newer.close();
    await expect(docs.save(doc('b'))).rejects.toThrow(/another connection upgraded or deleted the database/);
    await expect(IndexedDbLocalStore.open({ name: NAME, indexedDB })).rejects.toThrow(/schema is newer/);
  });

  it('writes only the rows a change touches, its log entry and the generation, one transaction per change', async () => {
    const { indexedDB, connections } = freshIndexedDB();
    const store = await openStore(indexedDB);
    const docs = store.collection<Doc>('doc');
    await docs.saveMany(Array.from({ length: 50 }, (_, i) => doc(`d${i}`)));
    const connection = connections[0];
    if (!connection) throw new Error('the store opened no connection');
    const written: string[] = [];
    const transaction = connection.transaction.bind(connection);
    connection.transaction = ((...args: Parameters<IDBDatabase['transaction']>) => {
      const tx = transaction(...args);
      written.push('transaction');
      const objectStore = tx.objectStore.bind(tx);
      const wrapped = new Set<string>();
      tx.objectStore = (name: string) => {
        const store = objectStore(name);
        if (wrapped.has(name)) return store;
        wrapped.add(name);
        const put = store.put.bind(store);
        store.put = (...putArgs: Parameters<IDBObjectStore['put']>) => {
          written.push(`${name} ${JSON.stringify((putArgs[0] as { id?: string; type: string }).id ?? null)}`);
          return put(...putArgs);
        };
        return store;
      };
      return tx;
    }) as IDBDatabase['transaction'];
    await docs.save(doc('d7', 2));
    await docs.commit({ acks: [{ id: 'd3', version: 1 }], now: 0 });
    await docs.applyPulledPage?.(page([live('p', 1)], 'c1'), serverWins);
    expect(written).toEqual([
      'transaction',
      'records "d7"',
      'log null',
      'meta null',
      'transaction',
      'records "d3"',
      'log null',
      'meta null',
      'transaction',
      'records "p"',
      'pull null',
      'log null',
      'meta null',
    ]);
  });

  describe('refuses a damaged database with StoreCorruptError, writing nothing', () => {
    const damage: [string, (indexedDB: IDBFactory) => Promise<void>][] = [
      [
        'a record missing its fields',
        (indexedDB) =>
          putRaw(indexedDB, 'records', { type: 'doc', id: 'bad', order: 99, entity: { id: 'bad' } }),
      ],
      [
        'a record stored under another id',
        (indexedDB) =>
          putRaw(indexedDB, 'records', { type: 'doc', id: 'bad', order: 99, entity: doc('other') }),
      ],
      [
        'a record without an order',
        (indexedDB) => putRaw(indexedDB, 'records', { type: 'doc', id: 'x', entity: doc('x') }),
      ],
      [
        'a failure record with a bad field',
        (indexedDB) =>
          putRaw(indexedDB, 'failures', {
            type: 'doc',
            id: 'a',
            record: { id: 'a', version: 1, attempts: 0 },
          }),
      ],
      [
        'an empty checkpoint',
        (indexedDB) => putRaw(indexedDB, 'pull', { type: 'doc', checkpoint: '', resetting: false }),
      ],
    ];
    it.each(damage)('%s', async (_, corrupt) => {
      const { indexedDB } = freshIndexedDB();
      const store = await openStore(indexedDB);
      await store.collection<Doc>('doc').save(doc('a'));
      await store.close();
      open.splice(0);
      await corrupt(indexedDB);
      const rows = await rawRows(indexedDB);
      const opening = IndexedDbLocalStore.open({ name: NAME, indexedDB });
      await expect(opening).rejects.toThrow(StoreCorruptError);
      await expect(opening).rejects.toThrow(/IndexedDB database "notes"/);
      expect(await rawRows(indexedDB)).toEqual(rows);
    });

    it('a database of the same name that is not a store of ours', async () => {
      const { indexedDB } = freshIndexedDB();
      globalThis.indexedDB = indexedDB;
      const other = await openDB(NAME, 1, { upgrade: (db) => db.createObjectStore('things') });
      other.close();
      await expect(IndexedDbLocalStore.open({ name: NAME, indexedDB })).rejects.toThrow(
        /not an actorsync store/,
      );
    });
  });
});

async function putRaw(indexedDB: IDBFactory, store: string, row: unknown): Promise<void> {
  globalThis.indexedDB = indexedDB;
  const db = await openDB(NAME);
  try {
    await db.put(store, row);
  } finally {
    db.close();
  }
}
