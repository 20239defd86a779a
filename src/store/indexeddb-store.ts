import { type DBSchema, type IDBPDatabase, type IDBPTransaction, unwrap, wrap } from 'idb';
import { reportError } from '../core/report-error.js';
import { isTombstone, markSynced } from '../domain/entity.js';
import { errorMessage, InvalidEntityError, StoreCorruptError, StoreWriteError } from '../domain/errors.js';
import type { FailureRecord, LocalChange, RepositoryEntity } from '../domain/types.js';
import { OutboxIndex, type PullState, type SavePlan } from './outbox-index.js';
import { PersistentStore, type PlannedChange, type StoreChange } from './store-collection.js';
import { checkStoredFailure, checkStoredPullState, checkStoredRecord } from './stored-rows.js';

/**
 * The schema this version writes; `upgrade` brings an older database up to it. Version 2 added the `meta` row (the
 * database's generation and last order number) and the change log, so several connections can share a database.
 */
const SCHEMA_VERSION = 2;

/** How many generations the change log keeps by default: a connection further behind reloads every type whole. */
const DEFAULT_CHANGE_LOG_LENGTH = 10_000;

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

/**
 * The database's clock, one row: `generation` counts its write transactions (each connection's memory reflects one
 * generation), `lastOrder` is the last change order number given out, by any connection.
 */
interface MetaRow {
  key: 'meta';
  generation: number;
  lastOrder: number;
}

/** What the write of one generation touched (ids only: a connection behind reads the rows themselves). */
interface LogRow {
  generation: number;
  type: string;
  records: string[];
  failures: string[];
  /** Whether the type's pull state was written. */
  pull: boolean;
}

interface StoreSchema extends DBSchema {
  records: { key: [string, string]; value: RecordRow; indexes: { order: number } };
  failures: { key: [string, string]; value: FailureRow };
  pull: { key: string; value: PullRow };
  meta: { key: string; value: MetaRow };
  log: { key: number; value: LogRow };
}

const DATA_STORES = ['records', 'failures', 'pull'] as const;
const STORE_NAMES = ['records', 'failures', 'pull', 'meta', 'log'] as const;
type Transaction = IDBPTransaction<StoreSchema, typeof STORE_NAMES, 'readonly' | 'readwrite'>;

/** What a connection tells the others after each write it committed: the database's generation, nothing else. */
export interface StoreAnnouncement {
  v: 1;
  generation: number;
}

/**
 * How the connections to one database hear of each other's writes. Default: a `BroadcastChannel` named
 * `actorsync:indexeddb:<name>` where the global exists (every browser tab, worker and Node 18+). A message lost or
 * never sent only delays what a connection shows: every write catches up with the database first, and `refresh()`
 * does on demand.
 */
export interface StoreAnnouncements {
  /** Tells the other connections (never this one) of a committed write. */
  post(message: StoreAnnouncement): void;
  /** Calls `listener` with each message another connection posted; returns what stops it. */
  subscribe(listener: (message: unknown) => void): () => void;
  /** Called once the store is closed. */
  close?(): void;
}

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
  /**
   * How this connection hears of other connections' (tabs') writes and tells them of its own. Default: a
   * `BroadcastChannel` where there is one; `null`: none (other connections' writes show at this one's next write
   * or `refresh()`).
   */
  announcements?: StoreAnnouncements | null;
  /**
   * How many generations (write transactions) the change log keeps (default 10,000): a connection that fell
   * further behind reloads every type whole when it catches up.
   */
  changeLogLength?: number;
  /**
   * Where the page says it is running again: on each of their `visibilitychange`, `resume` and `pageshow` events
   * this connection catches up (`refresh()`), since a page that was frozen, hidden or kept in the back/forward cache
   * may have missed announcements. Default `document` and `window` where they exist; `null`: none.
   */
  wakeEvents?: readonly WakeEventTarget[] | null;
}

/** Something page lifecycle events come from (`document`, `window`). */
export interface WakeEventTarget {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

const WAKE_EVENTS = ['visibilitychange', 'resume', 'pageshow'] as const;

/** A change as the rows it touches: each record afterwards (`null`: removed), and whether it moves to the end. */
interface RowWrites {
  records: Map<string, { entity: RepositoryEntity; moved: boolean } | null>;
  failures: Map<string, FailureRecord | null>;
  pull: PullState | undefined;
}

/** A record row read back and checked. */
interface CheckedRecord {
  type: string;
  id: string;
  order: number;
  entity: RepositoryEntity;
}

/** Every row of the database, read back and checked (at open, or when a connection is too far behind). */
interface WholeDatabase {
  meta: MetaRow;
  /** In change order. */
  records: CheckedRecord[];
  failures: { type: string; record: FailureRecord }[];
  pulls: { type: string; state: PullState }[];
}

/** What other connections wrote to one type since this connection's generation, read back and checked. */
interface TypeCatchUp {
  /** Each record the log names as it is stored now (`null`: removed). */
  records: Map<string, CheckedRecord | null>;
  /** The records rewritten in place (their order kept), and how: memory takes them without moving them. */
  inPlace: Map<string, InPlaceChange>;
  failures: Map<string, FailureRecord | null>;
  pull: PullState | undefined;
}

/** How a row another connection rewrote in place differs from the version memory holds. */
type InPlaceChange = 'acknowledged' | 'rebased' | 'same';

/** What a catch-up read: the rows the log names since this connection's generation, or the whole database. */
type CatchUp =
  | { kind: 'current'; meta: MetaRow }
  | { kind: 'rows'; meta: MetaRow; types: Map<string, TypeCatchUp> }
  | { kind: 'whole'; whole: WholeDatabase };

/**
 * The browser store: every entity type's records, outbox order, failure records and pull checkpoints in one
 * IndexedDB database. Each write (a save, a commit, a pulled page with its checkpoint) is one readwrite transaction
 * holding exactly the rows it changes, applied in memory only once that transaction has completed: nothing is
 * visible before it is durable, and a failed write changes nothing. Open with `IndexedDbLocalStore.open({ name })`.
 *
 * Several connections (tabs) may share a database: the database is the truth, and each write first brings this
 * connection's memory up to it inside its own transaction (IndexedDB runs readwrite transactions one at a time
 * across connections), so it is planned against every other connection's writes: versions, order numbers, acks,
 * pulled pages and checkpoints are never written back stale. Other connections' writes reach this one's memory
 * when they announce them (`announcements`), at its next write, or on `refresh()`; each is told to the type's
 * subscribers as a change with `source: 'external'`. Another connection asking for a newer schema, or the browser
 * closing the database (storage cleared), closes this one: every later write fails with `StoreWriteError`, and
 * the app reopens it.
 */
export class IndexedDbLocalStore extends PersistentStore {
  /** The database's name. */
  readonly name: string;
  readonly #db: IDBPDatabase<StoreSchema>;
  readonly #durability: 'strict' | 'relaxed';
  readonly #changeLogLength: number;
  #announcements: StoreAnnouncements | undefined;
  #stopListening: (() => void) | undefined;
  #stopWatchingWake: (() => void) | undefined;
  /** Each stored record's place in the change order, per entity type. */
  readonly #orders = new Map<string, Map<string, number>>();
  /** The database generation this connection's memory reflects. */
  #generation = 0;
  #lastOrder = 0;
  #refreshing = false;
  #refreshQueued = false;
  #closed = false;
  /** Why the connection was closed under the store, if it was. */
  #lost: string | undefined;

  private constructor(name: string, db: IDBPDatabase<StoreSchema>, options: IndexedDbLocalStoreOptions) {
    super();
    this.name = name;
    this.#db = db;
    this.#durability = options.durability ?? 'strict';
    this.#changeLogLength = Math.max(1, Math.floor(options.changeLogLength ?? DEFAULT_CHANGE_LOG_LENGTH));
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
   * Opens (or creates) the database `name`, upgrading one an earlier version wrote (every row kept). Refuses, with a
   * `StoreCorruptError` naming the database, one that is not exactly what this store writes (another schema, a
   * damaged record, failure record or pull state); nothing is written then, and the connection is closed.
   */
  static async open(options: IndexedDbLocalStoreOptions): Promise<IndexedDbLocalStore> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    const label = databaseLabel(options.name);
    if (!factory) throw new StoreCorruptError(label, 'there is no IndexedDB here (pass options.indexedDB)');
    const db = await openDatabase(factory, options.name, label);
    try {
      const store = new IndexedDbLocalStore(options.name, db, options);
      const tx = db.transaction(STORE_NAMES, 'readonly');
      const [whole] = await Promise.all([store.#readWhole(tx), tx.done]);
      store.#install(whole);
      store.#listen(
        options.announcements === undefined
          ? broadcastAnnouncements(options.name)
          : (options.announcements ?? undefined),
      );
      store.#watchWake(options.wakeEvents === undefined ? defaultWakeTargets() : (options.wakeEvents ?? []));
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
    this.#stopListening?.();
    this.#stopWatchingWake?.();
    this.#announcements?.close?.();
    await this.writesSettled();
    this.#db.close();
  }

  /**
   * Brings this connection's memory up to the database: applies what other connections wrote since (told to the
   * types' subscribers as `source: 'external'` changes). Runs by itself when another connection announces a write;
   * call it where announcements may not reach (no `BroadcastChannel`). Throws `StoreWriteError` once the store is
   * closed or lost, `StoreCorruptError` if another connection wrote a damaged row (memory is left as it was).
   */
  refresh(): Promise<void> {
    return this.enqueue(async () => {
      this.#assertOpen();
      try {
        const tx = this.#db.transaction(STORE_NAMES, 'readonly');
        const done = tx.done;
        // Heard either way: a failed read below rejects it too.
        done.catch(() => {});
        const catchUp = await this.#readSince(tx);
        await done;
        this.#applyCatchUp(catchUp);
      } catch (error) {
        throw this.#failure(error, 'read');
      }
    });
  }

  /** Other tabs share these records, and one of them may have pushed any: a delete always writes a tombstone. */
  protected override newIndex(): OutboxIndex<RepositoryEntity> {
    return new OutboxIndex({ shared: true });
  }

  /** @internal Writes a change's rows in one transaction, then applies it (see `CollectionHost.mutate`). */
  override mutate<P, R>(
    entityType: string,
    prepare: () => PlannedChange<P>,
    apply: (plan: P) => R,
  ): Promise<R> {
    return this.enqueue(async () => {
      this.#assertOpen();
      const plan = await this.#transact(entityType, prepare);
      return apply(plan);
    });
  }

  #assertOpen(): void {
    const label = databaseLabel(this.name);
    if (this.#closed) throw new StoreWriteError(`Store ${label} is closed`);
    if (this.#lost) throw new StoreWriteError(`Store ${label} can no longer write: ${this.#lost}; reopen it`);
  }

  /** Our own errors as they are; anything IndexedDB threw as a `StoreWriteError` naming the database. */
  #failure(error: unknown, doing: 'read' | 'write'): unknown {
    if (error instanceof StoreCorruptError || error instanceof StoreWriteError) return error;
    const verb = doing === 'read' ? 'read' : 'write to';
    return new StoreWriteError(`Could not ${verb} ${databaseLabel(this.name)}: ${errorMessage(error)}`, {
      cause: error,
    });
  }

  /**
   * One readwrite transaction: catches up with the database, plans the change against the now-current memory,
   * writes its rows, its log entry and the new generation. Between the first read and the last write it awaits only
   * this transaction's requests (anything else would let IndexedDB commit it early). Resolves with the plan once the
   * transaction has completed; the catch-up is applied either way (it is what other connections committed).
   */
  async #transact<P>(type: string, prepare: () => PlannedChange<P>): Promise<P> {
    let tx: IDBPTransaction<StoreSchema, typeof STORE_NAMES, 'readwrite'> | undefined;
    const requests: Promise<unknown>[] = [];
    /** The first request IndexedDB failed, which aborted the transaction: the cause to report. */
    let refused: DOMException | undefined;
    const fail = (error: unknown, doing: 'read' | 'write' | 'plan'): never => {
      // Nothing of the transaction may commit, and no promise of it may reject unheard.
      void Promise.allSettled(requests);
      try {
        tx?.abort();
      } catch {
        // Already aborted, finished, or never started.
      }
      throw doing === 'plan' ? error : this.#failure(refused ?? error, doing);
    };
    let meta: MetaRow;
    try {
      tx = this.#db.transaction(STORE_NAMES, 'readwrite', { durability: this.#durability });
      // In the capture phase, so before `tx.done`'s listener (idb's, added with the transaction): that one rejects
      // with a bare AbortError (the transaction's own error is not set yet), handled before a later listener runs.
      unwrap(tx).addEventListener(
        'error',
        (event) => {
          if (event.target instanceof IDBRequest) refused ??= event.target.error ?? undefined;
        },
        { capture: true },
      );
      requests.push(tx.done);
      const catchUp = await this.#readSince(tx);
      this.#applyCatchUp(catchUp);
      meta = catchUp.kind === 'whole' ? catchUp.whole.meta : catchUp.meta;
    } catch (error) {
      return fail(error, 'write');
    }
    let planned: PlannedChange<P>;
    try {
      planned = prepare();
      if (planned.change?.kind === 'save' && (planned.change.plan as unknown) === planned.plan) {
        this.#onTopOfStored(type, planned.change.plan);
      }
    } catch (error) {
      // The caller's own error (a stale page, a bad ack), as it is.
      return fail(error, 'plan');
    }
    const { change } = planned;
    if (!change) {
      try {
        await tx.done;
      } catch (error) {
        return fail(error, 'write');
      }
      return planned.plan;
    }
    const writes = rowWrites(this.index(type), change);
    const orders = this.#ordersOf(type);
    let lastOrder = meta.lastOrder;
    const placed = new Map<string, number | null>();
    for (const [id, row] of writes.records) {
      const kept = orders.get(id);
      placed.set(id, row === null ? null : row.moved || kept === undefined ? ++lastOrder : kept);
    }
    const generation = meta.generation + 1;
    try {
      // The rows go through the native transaction: a failed request aborts it, and `tx.done` rejects (`refused`
      // keeps why). idb's promise per request (a promise and two listeners per row, awaited together) was about
      // 5 ms of script per pulled page of 1,000 records.
      const native = unwrap(tx);
      const records = native.objectStore('records');
      const failures = native.objectStore('failures');
      for (const [id, row] of writes.records) {
        const order = placed.get(id);
        if (row === null || order == null) records.delete([type, id]);
        else records.put({ type, id, order, entity: row.entity } satisfies RecordRow);
      }
      for (const [id, record] of writes.failures) {
        if (record === null) failures.delete([type, id]);
        else failures.put({ type, id, record } satisfies FailureRow);
      }
      if (writes.pull) {
        const { checkpoint, resetting } = writes.pull;
        native
          .objectStore('pull')
          .put({ type, resetting, ...(checkpoint === undefined ? {} : { checkpoint }) } satisfies PullRow);
      }
      const log = native.objectStore('log');
      log.put({
        generation,
        type,
        records: [...writes.records.keys()],
        failures: [...writes.failures.keys()],
        pull: writes.pull !== undefined,
      } satisfies LogRow);
      // The log keeps a bounded tail: each write drops what fell out of it (one entry, once the log is full).
      if (generation > this.#changeLogLength) {
        log.delete(IDBKeyRange.upperBound(generation - this.#changeLogLength));
      }
      native.objectStore('meta').put({ key: 'meta', generation, lastOrder } satisfies MetaRow);
      await tx.done;
    } catch (error) {
      return fail(error, 'write');
    }
    for (const [id, order] of placed) {
      if (order === null) orders.delete(id);
      else orders.set(id, order);
    }
    this.#lastOrder = lastOrder;
    this.#generation = generation;
    this.#announce(generation);
    return planned.plan;
  }

  /**
   * A save planned from what this connection showed before another write reached it (another tab's, or a pulled
   * page: the repository reads, then writes, a version bump) names a version at or below the stored one. Written as
   * planned it would store a second, different record under a version already stored (a lost update: an ack of one
   * would mark the other synced); it goes on top instead, as the next version, built on the stored one. Checked
   * against memory after this transaction's catch-up, whoever wrote the stored row (not only other tabs: this
   * tab's own ack or rebase of a row another tab wrote must not hide it). Changes the plan in place: the collection
   * applies the same object once the write is durable.
   */
  #onTopOfStored(type: string, plan: SavePlan<RepositoryEntity>): void {
    const index = this.index(type);
    for (const [i, entity] of plan.put.entries()) {
      const stored = index.get(entity.id, { includeDeleted: true })?.version;
      if (!entity.syncPending || stored === undefined || entity.version > stored) continue;
      const replanned = index.planSave([{ ...entity, version: stored + 1 }]);
      const [next] = replanned.put;
      if (next) plan.put[i] = next;
    }
  }

  /**
   * Reads what other connections wrote since this connection's generation, in `tx`, and checks every row as an open
   * does (`StoreCorruptError`, nothing applied). The log names the rows; a connection behind the log's oldest
   * entry, or one whose memory could not take a row in place, reads the whole database instead.
   */
  async #readSince(tx: Transaction): Promise<CatchUp> {
    const meta = checkMeta(await tx.objectStore('meta').get('meta'), databaseLabel(this.name));
    const since = this.#generation;
    if (meta.generation === since) return { kind: 'current', meta };
    const entries =
      meta.generation > since
        ? await tx.objectStore('log').getAll(IDBKeyRange.bound(since + 1, meta.generation))
        : [];
    // Anything but every generation since ours, in order, means the log no longer reaches back to us.
    const complete =
      entries.length === meta.generation - since &&
      entries.every((entry, i) => isLogRow(entry) && entry.generation === since + 1 + i);
    if (!complete) return { kind: 'whole', whole: await this.#readWhole(tx) };
    const named = new Map<string, { records: Set<string>; failures: Set<string>; pull: boolean }>();
    for (const entry of entries) {
      let type = named.get(entry.type);
      if (!type) {
        type = { records: new Set(), failures: new Set(), pull: false };
        named.set(entry.type, type);
      }
      for (const id of entry.records) type.records.add(id);
      for (const id of entry.failures) type.failures.add(id);
      type.pull ||= entry.pull;
    }
    const records = tx.objectStore('records');
    const failures = tx.objectStore('failures');
    const pull = tx.objectStore('pull');
    const reads = [...named].map(async ([type, ids]) => {
      const [recordRows, failureRows, pullRow] = await Promise.all([
        Promise.all([...ids.records].map((id) => records.get([type, id]))),
        Promise.all([...ids.failures].map((id) => failures.get([type, id]))),
        ids.pull ? pull.get(type) : undefined,
      ]);
      return { type, ids, recordRows, failureRows, pullRow };
    });
    const read = await Promise.all(reads);
    const types = new Map<string, TypeCatchUp>();
    try {
      for (const { type, ids, recordRows, failureRows, pullRow } of read) {
        const caught: TypeCatchUp = {
          records: new Map(),
          inPlace: new Map(),
          failures: new Map(),
          pull: undefined,
        };
        [...ids.records].forEach((id, i) => {
          const row = recordRows[i];
          caught.records.set(id, row === undefined ? null : checkRecordRow(row));
        });
        [...ids.failures].forEach((id, i) => {
          const row = failureRows[i];
          caught.failures.set(id, row === undefined ? null : checkFailureRow(row).record);
        });
        if (ids.pull) caught.pull = pullRow === undefined ? idlePull() : checkPullRow(pullRow).state;
        types.set(type, caught);
      }
    } catch (error) {
      throw corrupt(error, this.name);
    }
    // A row rewritten in place (its order kept) is an ack or a rebase of the version memory holds; anything else
    // means memory and the database disagree, and the whole database is read instead.
    for (const [type, caught] of types) {
      const orders = this.#orders.get(type);
      for (const row of caught.records.values()) {
        if (!row || orders?.get(row.id) !== row.order) continue;
        const kind = inPlaceChange(this.index(type), row.entity);
        if (kind === undefined) return { kind: 'whole', whole: await this.#readWhole(tx) };
        caught.inPlace.set(row.id, kind);
      }
    }
    return { kind: 'rows', meta, types };
  }

  /** Every row, checked whole before anything is applied: a bad row leaves no half-loaded store behind. */
  async #readWhole(tx: Transaction): Promise<WholeDatabase> {
    const [meta, records, failures, pulls] = await Promise.all([
      tx.objectStore('meta').get('meta'),
      // The whole store, not the order index: a row without a valid order would be missing from that, unchecked.
      tx.objectStore('records').getAll(),
      tx.objectStore('failures').getAll(),
      tx.objectStore('pull').getAll(),
    ]);
    try {
      const checkedMeta = checkMeta(meta, databaseLabel(this.name));
      const checked = records.map(checkRecordRow).sort((a, b) => a.order - b.order);
      const lastOrder = checked.at(-1)?.order ?? 0;
      return {
        meta: { ...checkedMeta, lastOrder: Math.max(checkedMeta.lastOrder, lastOrder) },
        records: checked,
        failures: failures.map(checkFailureRow),
        pulls: pulls.map(checkPullRow),
      };
    } catch (error) {
      throw corrupt(error, this.name);
    }
  }

  /** Replaces memory with the whole database (as read at open). */
  #install(whole: WholeDatabase): void {
    this.indexes.clear();
    this.#orders.clear();
    for (const { type, id, order, entity } of whole.records) {
      this.index(type).put([entity]);
      this.#ordersOf(type).set(id, order);
    }
    for (const { type, record } of whole.failures) {
      this.index(type).applyDelta({ synced: [], stale: [], replaced: [], failures: [record] });
    }
    for (const { type, state } of whole.pulls) this.index(type).restorePullState(state);
    this.#generation = whole.meta.generation;
    this.#lastOrder = whole.meta.lastOrder;
  }

  /** Applies a catch-up to memory (synchronously) and tells each type's subscribers what changed. */
  #applyCatchUp(catchUp: CatchUp): void {
    if (catchUp.kind === 'current') return;
    const changes: LocalChange[] = [];
    if (catchUp.kind === 'whole') {
      // Every id before and after, per type: a view re-reads what it shows.
      const before = new Map<string, Set<string>>();
      for (const [type, index] of this.indexes) {
        before.set(type, new Set(index.exportState().records.map((record) => record.id)));
      }
      this.#install(catchUp.whole);
      for (const { type, id } of catchUp.whole.records) {
        let ids = before.get(type);
        if (!ids) {
          ids = new Set();
          before.set(type, ids);
        }
        ids.add(id);
      }
      for (const [type, ids] of before) {
        this.index(type);
        if (ids.size > 0) changes.push({ entityType: type, ids: [...ids], source: 'external' });
      }
    } else {
      for (const [type, caught] of catchUp.types) {
        this.#applyRows(type, caught);
        const ids = new Set([...caught.records.keys(), ...caught.failures.keys()]);
        if (ids.size > 0) changes.push({ entityType: type, ids: [...ids], source: 'external' });
      }
      this.#generation = catchUp.meta.generation;
      this.#lastOrder = Math.max(this.#lastOrder, catchUp.meta.lastOrder);
    }
    for (const change of changes) this.changeFeed(change.entityType).emit(change);
  }

  /**
   * One type's rows as another connection left them: the pull state first (whether an acknowledged tombstone is
   * kept depends on it), then removals, rows changed in place (acks, rebases: their order kept), rows written anew
   * in their change order (each after every row memory holds), and failure records.
   */
  #applyRows(type: string, caught: TypeCatchUp): void {
    const index = this.index(type);
    const orders = this.#ordersOf(type);
    if (caught.pull) index.restorePullState(caught.pull);
    const moved: CheckedRecord[] = [];
    for (const [id, row] of caught.records) {
      if (row === null) {
        index.delete(id);
        orders.delete(id);
        continue;
      }
      const inPlace = caught.inPlace.get(id);
      if (inPlace === undefined) moved.push(row);
      else applyInPlace(index, row.entity, inPlace);
    }
    moved.sort((a, b) => a.order - b.order);
    for (const row of moved) {
      index.put([row.entity]);
      orders.set(row.id, row.order);
    }
    for (const [id, record] of caught.failures) {
      if (record) index.applyDelta({ synced: [], stale: [], replaced: [], failures: [record] });
      else index.applyRequeue([id]);
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

  #watchWake(targets: readonly WakeEventTarget[]): void {
    if (targets.length === 0) return;
    const wake = () => this.#refreshSoon();
    for (const target of targets) for (const type of WAKE_EVENTS) target.addEventListener(type, wake);
    this.#stopWatchingWake = () => {
      for (const target of targets) for (const type of WAKE_EVENTS) target.removeEventListener(type, wake);
    };
  }

  #listen(announcements: StoreAnnouncements | undefined): void {
    this.#announcements = announcements;
    this.#stopListening = this.#announcements?.subscribe((message) => {
      if (!isAnnouncement(message) || message.generation <= this.#generation) return;
      this.#refreshSoon();
    });
  }

  #announce(generation: number): void {
    try {
      this.#announcements?.post({ v: 1, generation });
    } catch {
      // A channel that cannot post only delays the other connections: their next write or refresh catches up.
    }
  }

  /** A refresh for an announcement: at most one in flight and one queued, however many arrive. */
  #refreshSoon(): void {
    if (this.#closed || this.#lost) return;
    if (this.#refreshing) {
      this.#refreshQueued = true;
      return;
    }
    this.#refreshing = true;
    this.refresh()
      .catch((error: unknown) => {
        // Closed or lost since: nothing to show. Anything else (a damaged row) is reported; the next write throws it.
        if (!this.#closed && !this.#lost) reportError(error);
      })
      .finally(() => {
        this.#refreshing = false;
        if (this.#refreshQueued) {
          this.#refreshQueued = false;
          this.#refreshSoon();
        }
      });
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
  // Most records have no failure row: a delete of nothing is one more request per record (a pulled page of 1,000
  // queued 1,000 of them, as many as its puts) and one more id in the change log.
  const clearFailure = (id: string) => {
    if (index.hasFailureRecord(id)) writes.failures.set(id, null);
  };
  const remove = (id: string) => {
    writes.records.set(id, null);
    clearFailure(id);
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
        clearFailure(ack.id);
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
        clearFailure(entity.id);
      }
      for (const record of delta.failures) writes.failures.set(record.id, record);
      break;
    }
    case 'page': {
      const { delta } = change;
      for (const id of delta.removed) remove(id);
      for (const entity of delta.put) {
        write(entity);
        clearFailure(entity.id);
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

/** A row that failed its checks as the `StoreCorruptError` naming the database; anything else as it is. */
function corrupt(error: unknown, name: string): unknown {
  return error instanceof InvalidEntityError
    ? new StoreCorruptError(databaseLabel(name), error.message)
    : error;
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

function checkRecordRow(row: RecordRow): CheckedRecord {
  const { type, id } = checkRow(row, 'record');
  if (typeof row.order !== 'number' || !Number.isFinite(row.order)) {
    throw new InvalidEntityError(`record ${JSON.stringify(type)}/${JSON.stringify(id)} has no order`);
  }
  return { type, id, order: row.order, entity: checkStoredRecord(row.entity, id, JSON.stringify(type)) };
}

function checkFailureRow(row: FailureRow): { type: string; record: FailureRecord } {
  const { type, id } = checkRow(row, 'failure record');
  return { type, record: checkStoredFailure(row.record, id, JSON.stringify(type)) };
}

function checkPullRow(row: PullRow): { type: string; state: PullState } {
  if (typeof row?.type !== 'string') throw new InvalidEntityError('a pull state has no entity type');
  return {
    type: row.type,
    state: checkStoredPullState(row.checkpoint, row.resetting, JSON.stringify(row.type)),
  };
}

function idlePull(): PullState {
  return { checkpoint: undefined, resetting: false };
}

function checkMeta(row: MetaRow | undefined, label: string): MetaRow {
  const whole = (value: unknown): value is number =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
  if (!whole(row?.generation) || typeof row.lastOrder !== 'number' || !Number.isFinite(row.lastOrder)) {
    throw new StoreCorruptError(label, 'its generation row (meta) is missing or damaged');
  }
  return { key: 'meta', generation: row.generation, lastOrder: row.lastOrder };
}

/** A log entry as this store writes it; any other reads as a gap in the log (the whole database is read). */
function isLogRow(row: LogRow | undefined): row is LogRow {
  const ids = (value: unknown) => Array.isArray(value) && value.every((id) => typeof id === 'string');
  return (
    typeof row?.generation === 'number' &&
    typeof row.type === 'string' &&
    ids(row.records) &&
    ids(row.failures) &&
    typeof row.pull === 'boolean'
  );
}

/**
 * How `stored`, rewritten in place by another connection, differs from the record memory holds: the same version,
 * acknowledged since, or rebased on a later server version. `undefined`: no such change (memory cannot take it).
 */
function inPlaceChange(
  index: OutboxIndex<RepositoryEntity>,
  stored: RepositoryEntity,
): InPlaceChange | undefined {
  const held = index.get(stored.id, { includeDeleted: true });
  if (!held || held.version !== stored.version) return undefined;
  if (held.syncPending && !stored.syncPending) return 'acknowledged';
  if (!held.syncPending && stored.syncPending) return undefined;
  if (stored.syncPending && (stored.baseVersion ?? -1) > (held.baseVersion ?? -1)) return 'rebased';
  return 'same';
}

/** Applies an in-place change as the commit that made it applied it (`rowWrites` wrote what this undoes). */
function applyInPlace(
  index: OutboxIndex<RepositoryEntity>,
  stored: RepositoryEntity,
  change: InPlaceChange,
): void {
  const ack = { id: stored.id, version: change === 'rebased' ? (stored.baseVersion ?? -1) : stored.version };
  if (change === 'acknowledged') {
    index.applyDelta({ synced: [ack], stale: [], replaced: [], failures: [] });
  } else if (change === 'rebased') {
    index.applyDelta({ synced: [], stale: [], rebased: [ack], replaced: [], failures: [] });
  }
}

function isAnnouncement(message: unknown): message is StoreAnnouncement {
  const m = message as Partial<StoreAnnouncement> | null;
  return typeof m === 'object' && m !== null && m.v === 1 && Number.isSafeInteger(m.generation);
}

/** The default announcements: a `BroadcastChannel` named after the database, where there is one. */
function broadcastAnnouncements(name: string): StoreAnnouncements | undefined {
  const Channel = (globalThis as { BroadcastChannel?: typeof BroadcastChannel }).BroadcastChannel;
  if (typeof Channel !== 'function') return undefined;
  const channel = new Channel(`actorsync:indexeddb:${name}`);
  // Node keeps a process alive while a channel is open; a store left open must not.
  (channel as { unref?: () => void }).unref?.();
  return {
    post: (message) => channel.postMessage(message),
    subscribe: (listener) => {
      const onMessage = (event: MessageEvent) => listener(event.data);
      channel.addEventListener('message', onMessage);
      return () => channel.removeEventListener('message', onMessage);
    },
    close: () => channel.close(),
  };
}

/**
 * `idb`'s `openDB`, on the IndexedDB given (it always takes the global one), with this store's schema. A version-1
 * database (one connection, no log) gets the generation row and the log, every row kept; one of another app with
 * this name is left as it was.
 */
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
  let foreign: string[] = [];
  request.addEventListener('upgradeneeded', (event) => {
    const db = request.result;
    const tx = request.transaction;
    if (!tx) return;
    if (event.oldVersion < 1) {
      db.createObjectStore('records', { keyPath: ['type', 'id'] }).createIndex('order', 'order');
      db.createObjectStore('failures', { keyPath: ['type', 'id'] });
      db.createObjectStore('pull', { keyPath: 'type' });
    }
    foreign = DATA_STORES.filter((store) => !db.objectStoreNames.contains(store));
    if (foreign.length > 0) {
      // Not ours: the upgrade is undone, and the database keeps its version and rows.
      tx.abort();
      return;
    }
    if (event.oldVersion < 2) {
      db.createObjectStore('meta', { keyPath: 'key' });
      db.createObjectStore('log', { keyPath: 'generation' });
      // Order numbers go on from the last one version 1 gave out (the order index's last key).
      const last = tx.objectStore('records').index('order').openCursor(null, 'prev');
      last.addEventListener('success', () => {
        const lastOrder = typeof last.result?.key === 'number' ? last.result.key : 0;
        tx.objectStore('meta').put({ key: 'meta', generation: 0, lastOrder } satisfies MetaRow);
      });
    }
  });
  let db: IDBPDatabase<StoreSchema>;
  try {
    db = await (wrap(request) as unknown as Promise<IDBPDatabase<StoreSchema>>);
  } catch (error) {
    if (foreign.length > 0) {
      throw new StoreCorruptError(
        label,
        `it is not an actorsync store (no object store ${foreign.join(', ')})`,
      );
    }
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

/** The page's `document` and `window`, where there are (browsers); none in Node. */
function defaultWakeTargets(): WakeEventTarget[] {
  const page = globalThis as { document?: WakeEventTarget; window?: WakeEventTarget };
  return [page.document, page.window].filter((target): target is WakeEventTarget => target !== undefined);
}
