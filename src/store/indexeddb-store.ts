import { type DBSchema, type IDBPDatabase, type IDBPTransaction, wrap } from 'idb';
import { isTombstone, markSynced } from '../domain/entity.js';
import { errorMessage, InvalidEntityError, StoreCorruptError, StoreWriteError } from '../domain/errors.js';
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import type { OutboxIndex, PullState } from './outbox-index.js';
import { PersistentStore, type PlannedChange, type StoreChange } from './store-collection.js';
import { checkStoredFailure, checkStoredPullState, checkStoredRecord } from './stored-rows.js';

/** The schema this version writes; `upgrade` brings an older database up to it. */
const SCHEMA_VERSION = 1;

/** A record, under its entity type and id, with its place in the change order (the outbox order across restarts). */
interface RecordRow {
  type: string;
  id: string;
  order: number;
  entity: RepositoryEntity;
}

interface FailureRow {
  type: string;
  id: string;
  record: FailureRecord;
}

/** A type's pull state: written with the page that moved it, in the same transaction. */
interface PullRow {
  type: string;
  checkpoint?: string;
  resetting: boolean;
}

interface StoreSchema extends DBSchema {
  records: { key: [string, string]; value: RecordRow; indexes: { order: number } };
  failures: { key: [string, string]; value: FailureRow };
  pull: { key: string; value: PullRow };
}

const STORE_NAMES = ['records', 'failures', 'pull'] as const;

export interface IndexedDbLocalStoreOptions {
  /** The database's name: one database holds every entity type of an app. */
  name: string;
  /**
   * The IndexedDB to open it in. Default `globalThis.indexedDB` (a browser's). In Node, a `fake-indexeddb`
   * `IDBFactory`; `idb` also needs the IndexedDB classes as globals there (`import 'fake-indexeddb/auto'`).
   */
  indexedDB?: IDBFactory;
  /**
   * `'strict'` (default): a write is acknowledged once the browser has flushed it to disk, as the lowdb store
   * fsyncs. `'relaxed'` acknowledges it sooner, and a power loss may take back the last writes.
   */
  durability?: 'strict' | 'relaxed';
}

/** A change as the rows it touches: each record afterwards (`null`: removed), and whether it moves to the end. */
interface RowWrites {
  records: Map<string, { entity: RepositoryEntity; moved: boolean } | null>;
  failures: Map<string, FailureRecord | null>;
  pull: PullState | undefined;
}

/**
 * The browser store: every entity type's records, outbox order, failure records and pull checkpoints in one
 * IndexedDB database. Each write (a save, a commit, a pulled page with its checkpoint) is one readwrite transaction
 * holding exactly the rows it changes, applied in memory only once that transaction has completed: nothing is
 * visible before it is durable, and a failed write changes nothing. Open with `IndexedDbLocalStore.open({ name })`.
 *
 * One store instance writes a database at a time (several tabs need one writer: leader election is not part of
 * this store). Another connection asking for a newer schema, or the browser closing the database (storage
 * cleared), closes this one: every later write fails with `StoreWriteError`, and the app reopens it.
 */
export class IndexedDbLocalStore extends PersistentStore {
  /** The database's name. */
  readonly name: string;
  readonly #db: IDBPDatabase<StoreSchema>;
  readonly #durability: 'strict' | 'relaxed';
  /** Each stored record's place in the change order, per entity type. */
  readonly #orders = new Map<string, Map<string, number>>();
  #lastOrder = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Why the connection was closed under the store, if it was. */
  #lost: string | undefined;

  private constructor(name: string, db: IDBPDatabase<StoreSchema>, options: IndexedDbLocalStoreOptions) {
    super();
    this.name = name;
    this.#db = db;
    this.#durability = options.durability ?? 'strict';
    db.addEventListener('versionchange', () => {
      // Another connection wants a newer schema (or to delete the database): let it, and refuse writes from now on.
      this.#lost = 'another connection upgraded or deleted the database';
      db.close();
    });
    db.addEventListener('close', () => {
      this.#lost = 'the browser closed the database (was its storage cleared?)';
    });
  }

  /**
   * Opens (or creates) the database `name`. Refuses, with a `StoreCorruptError` naming the database, one that is
   * not exactly what this store writes (another schema, a damaged record, failure record or pull state); nothing is
   * written then, and the connection is closed.
   */
  static async open(options: IndexedDbLocalStoreOptions): Promise<IndexedDbLocalStore> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    const label = databaseLabel(options.name);
    if (!factory) throw new StoreCorruptError(label, 'there is no IndexedDB here (pass options.indexedDB)');
    const db = await openDatabase(factory, options.name, label);
    try {
      const store = new IndexedDbLocalStore(options.name, db, options);
      await store.#load();
      return store;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Waits for pending writes, then closes the connection. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => {});
    this.#db.close();
  }

  /** @internal Writes a change's rows in one transaction, then applies it (see `CollectionHost.mutate`). */
  override mutate<P, R>(
    entityType: string,
    prepare: () => PlannedChange<P>,
    apply: (plan: P) => R,
  ): Promise<R> {
    return this.#enqueue(async () => {
      const label = databaseLabel(this.name);
      if (this.#closed) throw new StoreWriteError(`Store ${label} is closed`);
      if (this.#lost)
        throw new StoreWriteError(`Store ${label} can no longer write: ${this.#lost}; reopen it`);
      const { change, plan } = prepare();
      if (change) await this.#write(entityType, rowWrites(this.index(entityType), change));
      return apply(plan);
    });
  }

  #enqueue<R>(work: () => Promise<R>): Promise<R> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #load(): Promise<void> {
    const tx = this.#db.transaction(STORE_NAMES, 'readonly');
    const [records, failures, pulls] = await Promise.all([
      // The whole store, not the order index: a row without a valid order would be missing from that, unchecked.
      tx.objectStore('records').getAll(),
      tx.objectStore('failures').getAll(),
      tx.objectStore('pull').getAll(),
      tx.done,
    ]);
    const label = databaseLabel(this.name);
    try {
      // Checked whole before anything is applied: a bad row leaves no half-loaded store behind.
      const checked = records.map((row) => {
        const { type, id } = checkRow(row, 'record');
        if (typeof row.order !== 'number' || !Number.isFinite(row.order)) {
          throw new InvalidEntityError(`record ${JSON.stringify(type)}/${JSON.stringify(id)} has no order`);
        }
        return {
          type,
          id,
          order: row.order,
          entity: checkStoredRecord(row.entity, id, JSON.stringify(type)),
        };
      });
      checked.sort((a, b) => a.order - b.order);
      const checkedFailures = failures.map((row) => {
        const { type, id } = checkRow(row, 'failure record');
        return { type, record: checkStoredFailure(row.record, id, JSON.stringify(type)) };
      });
      const checkedPulls = pulls.map((row) => {
        if (typeof row?.type !== 'string') throw new InvalidEntityError('a pull state has no entity type');
        return {
          type: row.type,
          state: checkStoredPullState(row.checkpoint, row.resetting, JSON.stringify(row.type)),
        };
      });
      for (const { type, id, order, entity } of checked) {
        this.index(type).put([entity]);
        this.#ordersOf(type).set(id, order);
        this.#lastOrder = Math.max(this.#lastOrder, order);
      }
      for (const { type, record } of checkedFailures) {
        this.index(type).applyDelta({ synced: [], stale: [], replaced: [], failures: [record] });
      }
      for (const { type, state } of checkedPulls) this.index(type).restorePullState(state);
    } catch (error) {
      if (error instanceof InvalidEntityError) throw new StoreCorruptError(label, error.message);
      throw error;
    }
  }

  #ordersOf(entityType: string): Map<string, number> {
    let orders = this.#orders.get(entityType);
    if (!orders) {
      orders = new Map();
      this.#orders.set(entityType, orders);
    }
    return orders;
  }

  /** One readwrite transaction with exactly these rows; resolves once it has completed, throws if it did not. */
  async #write(type: string, writes: RowWrites): Promise<void> {
    const orders = this.#ordersOf(type);
    let lastOrder = this.#lastOrder;
    const placed = new Map<string, number | null>();
    for (const [id, row] of writes.records) {
      const kept = orders.get(id);
      placed.set(id, row === null ? null : row.moved || kept === undefined ? ++lastOrder : kept);
    }
    let tx: IDBPTransaction<StoreSchema, typeof STORE_NAMES, 'readwrite'> | undefined;
    const requests: Promise<unknown>[] = [];
    try {
      tx = this.#db.transaction(STORE_NAMES, 'readwrite', { durability: this.#durability });
      requests.push(tx.done);
      const records = tx.objectStore('records');
      const failures = tx.objectStore('failures');
      for (const [id, row] of writes.records) {
        const order = placed.get(id);
        requests.push(
          row === null || order == null
            ? records.delete([type, id])
            : records.put({ type, id, order, entity: row.entity }),
        );
      }
      for (const [id, record] of writes.failures) {
        requests.push(record === null ? failures.delete([type, id]) : failures.put({ type, id, record }));
      }
      if (writes.pull) {
        const { checkpoint, resetting } = writes.pull;
        requests.push(
          tx
            .objectStore('pull')
            .put({ type, resetting, ...(checkpoint === undefined ? {} : { checkpoint }) }),
        );
      }
      await Promise.all(requests);
    } catch (error) {
      // A request that threw before the transaction was done: nothing of it may commit, and no promise of it may
      // reject unheard.
      void Promise.allSettled(requests);
      try {
        tx?.abort();
      } catch {
        // Already aborted, or never started.
      }
      throw new StoreWriteError(`Could not write to ${databaseLabel(this.name)}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    for (const [id, order] of placed) {
      if (order === null) orders.delete(id);
      else orders.set(id, order);
    }
    this.#lastOrder = lastOrder;
  }
}

/**
 * The rows a change touches and what each holds afterwards, worked out against the index before it applies the
 * change (`OutboxIndex.applySave`, `applyDelta`, `applyRequeue`, `applyPage` make the same changes in memory).
 * A record written through `#write` there moves to the end of the change order; an acknowledged or rebased one
 * keeps its place.
 */
function rowWrites(index: OutboxIndex<RepositoryEntity>, change: StoreChange): RowWrites {
  const writes: RowWrites = { records: new Map(), failures: new Map(), pull: undefined };
  const remove = (id: string) => {
    writes.records.set(id, null);
    writes.failures.set(id, null);
  };
  const write = (entity: RepositoryEntity) => writes.records.set(entity.id, { entity, moved: true });
  /** The record as it will be stored so far: `syncPending` says whether it is in the outbox. */
  const current = (id: string): RepositoryEntity | undefined => {
    const written = writes.records.get(id);
    return written === undefined ? index.get(id, { includeDeleted: true }) : (written?.entity ?? undefined);
  };
  const rewrite = (entity: RepositoryEntity) =>
    writes.records.set(entity.id, { entity, moved: writes.records.get(entity.id)?.moved ?? false });
  const { checkpoint, resetting } = index.pullState();
  const pulls = checkpoint !== undefined || resetting;
  switch (change.kind) {
    case 'save':
      for (const id of change.plan.removed) remove(id);
      for (const entity of change.plan.put) write(entity);
      break;
    case 'delete':
      remove(change.id);
      break;
    case 'requeue':
      for (const id of change.ids) writes.failures.set(id, null);
      break;
    case 'commit': {
      const { delta } = change;
      for (const ack of delta.synced) {
        const stored = current(ack.id);
        if (!stored || stored.version !== ack.version) continue;
        if (isTombstone(stored) && !pulls) {
          remove(ack.id);
          continue;
        }
        rewrite(markSynced(stored));
        writes.failures.set(ack.id, null);
      }
      for (const ack of delta.rebased ?? []) {
        const stored = current(ack.id);
        const rebases =
          stored?.syncPending && stored.version > ack.version && (stored.baseVersion ?? -1) < ack.version;
        if (stored && rebases) rewrite({ ...stored, baseVersion: ack.version });
      }
      for (const entity of delta.replaced) {
        if (isTombstone(entity) && !entity.syncPending && !pulls) {
          remove(entity.id);
          continue;
        }
        write(entity);
        writes.failures.set(entity.id, null);
      }
      for (const record of delta.failures) writes.failures.set(record.id, record);
      break;
    }
    case 'page': {
      const { delta } = change;
      for (const id of delta.removed) remove(id);
      for (const entity of delta.put) {
        write(entity);
        writes.failures.set(entity.id, null);
      }
      writes.pull = { checkpoint: delta.checkpoint, resetting: delta.resetting };
      break;
    }
    default:
      return change satisfies never;
  }
  return writes;
}

function databaseLabel(name: string): string {
  return `IndexedDB database ${JSON.stringify(name)}`;
}

/** The entity type and id a row is stored under (its key: IndexedDB itself keeps them valid keys). */
function checkRow(
  row: { type?: unknown; id?: unknown } | undefined,
  what: string,
): { type: string; id: string } {
  if (typeof row?.type !== 'string' || typeof row.id !== 'string') {
    throw new InvalidEntityError(`a ${what} is not stored under an entity type and id`);
  }
  return { type: row.type, id: row.id };
}

/** `idb`'s `openDB`, on the IndexedDB given (it always takes the global one), with this store's schema. */
async function openDatabase(
  factory: IDBFactory,
  name: string,
  label: string,
): Promise<IDBPDatabase<StoreSchema>> {
  let request: IDBOpenDBRequest;
  try {
    request = factory.open(name, SCHEMA_VERSION);
  } catch (error) {
    throw new StoreCorruptError(label, `it cannot be opened: ${errorMessage(error)}`);
  }
  request.addEventListener('upgradeneeded', (event) => {
    const db = wrap(request.result) as unknown as IDBPDatabase<StoreSchema>;
    if (event.oldVersion < 1) {
      db.createObjectStore('records', { keyPath: ['type', 'id'] }).createIndex('order', 'order');
      db.createObjectStore('failures', { keyPath: ['type', 'id'] });
      db.createObjectStore('pull', { keyPath: 'type' });
    }
  });
  let db: IDBPDatabase<StoreSchema>;
  try {
    db = await (wrap(request) as unknown as Promise<IDBPDatabase<StoreSchema>>);
  } catch (error) {
    const reason =
      error instanceof DOMException && error.name === 'VersionError'
        ? `its schema is newer than this version of actorsync reads (${SCHEMA_VERSION})`
        : `it cannot be opened: ${errorMessage(error)}`;
    throw new StoreCorruptError(label, reason);
  }
  const missing = STORE_NAMES.filter((store) => !db.objectStoreNames.contains(store));
  if (missing.length > 0) {
    db.close();
    throw new StoreCorruptError(
      label,
      `it is not an actorsync store (no object store ${missing.join(', ')})`,
    );
  }
  return db;
}
