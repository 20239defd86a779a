import { Low } from 'lowdb';
import {
  errorMessage,
  InvalidEntityError,
  StoreCorruptError,
  StoreReadOnlyError,
  StoreWriteError,
} from '../domain/errors.js';
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import { assertRegularOrMissing, DurableJSONFile, type ReadInfo } from './durable-json-file.js';
import { Journal, type JournalContents, type JournalOp } from './journal.js';
import { LockFile } from './lock-file.js';
import { MAX_STORED_DEPTH, type OutboxIndex } from './outbox-index.js';
import { PersistentStore, type PlannedChange, type StoreChange } from './store-collection.js';
import { checkStoredFailure, checkStoredPullState, checkStoredRecord } from './stored-rows.js';

const FORMAT = 'actorsync-store';

/**
 * How many times the snapshot's size (or `compactAfterBytes`, if larger) the journal may reach before a pulled page
 * compacts the store; other writes compact once it passes that size. A pull that fills a store rewrites all of it
 * at every compaction: at 1× pulling 1,000,000 records wrote six snapshots, twice the final store, and stalled the
 * pull for seconds at each; at 3× it writes two, a third of the final store. A store opened after a pull reads a
 * journal of at most three times its snapshot (or `compactAfterBytes`) plus one page; the next write that is not a
 * pulled page compacts it.
 */
export const PULLED_PAGE_JOURNAL_RATIO = 3;
const FORMAT_VERSION = 1;

/** The snapshot file, as lowdb reads and writes it. Records are keyed by id, per entity type. */
export interface StoreDocument {
  format: typeof FORMAT;
  version: typeof FORMAT_VERSION;
  /** Increases with every compaction; the journal names the generation it follows. */
  generation: number;
  collections: Record<string, StoredCollection>;
}

/** One entity type in the snapshot file. */
export interface StoredCollection {
  /** Tombstones included (pending ones, and acknowledged ones kept until a pull covers them). */
  records: Record<string, RepositoryEntity>;
  failures: Record<string, FailureRecord>;
  /** The checkpoint of the last pulled page stored; absent before the first pull (and in stores of earlier versions). */
  checkpoint?: string;
  /** A reset is in progress (absent: none). */
  resetting?: boolean;
}

export interface LowdbLocalStoreOptions {
  /**
   * Compact (rewrite the snapshot, empty the journal) once the journal is larger than this and than the snapshot
   * (three times that after a pulled page: `PULLED_PAGE_JOURNAL_RATIO`), which keeps the amortised cost per write
   * constant. Default 8 MiB.
   */
  compactAfterBytes?: number;
  /** fsync every acknowledged write. Default true; turn off only for throwaway data. */
  fsync?: boolean;
  /**
   * Look without touching: no lock is taken and nothing is created, repaired or removed (a torn journal tail is
   * ignored, not cut off). Every write, `compact()` included, is refused with `StoreReadOnlyError`. A missing store
   * opens empty. Another process may have the store open meanwhile: this is a view of it as of the open.
   */
  readOnly?: boolean;
}

/** Counters for tests and benchmarks. */
export interface StoreStats {
  journalAppends: number;
  journalBytesWritten: number;
  compactions: number;
  snapshotBytesWritten: number;
}

/**
 * The embedded default store: one lowdb JSON snapshot holding every entity type, plus an fsynced append-only
 * journal of changes since that snapshot, so a write costs one small append instead of a whole-file rewrite.
 * Changes are journalled before they are applied in memory, so nothing is visible before it is durable.
 * One process owns a store at a time (a lock file). Open with `LowdbLocalStore.open(file)`.
 */
export class LowdbLocalStore extends PersistentStore {
  readonly file: string;
  readonly stats: StoreStats = {
    journalAppends: 0,
    journalBytesWritten: 0,
    compactions: 0,
    snapshotBytesWritten: 0,
  };
  readonly #db: Low<StoreDocument>;
  readonly #adapter: DurableJSONFile<StoreDocument>;
  readonly #journal: Journal;
  /** Absent when opened read-only. */
  readonly #lock: LockFile | undefined;
  readonly #compactAfterBytes: number;
  readonly readOnly: boolean;
  #generation = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #broken: Error | undefined;
  #closed = false;

  private constructor(
    file: string,
    db: Low<StoreDocument>,
    adapter: DurableJSONFile<StoreDocument>,
    journal: Journal,
    lock: LockFile | undefined,
    options: LowdbLocalStoreOptions,
  ) {
    super();
    this.file = file;
    this.#db = db;
    this.#adapter = adapter;
    this.#journal = journal;
    this.#lock = lock;
    this.#compactAfterBytes = options.compactAfterBytes ?? 8 * 1024 * 1024;
    this.readOnly = lock === undefined;
  }

  /**
   * Opens (or creates) the store at `file`. Refuses, with a `StoreCorruptError` naming the file, anything where a
   * store file belongs that is not exactly what this store writes (not JSON, another format, a damaged record or
   * journal line, a directory or FIFO), and a store another live process has open (`StoreLockedError`); in both
   * cases nothing is written. With `readOnly`, see `LowdbLocalStoreOptions.readOnly`.
   */
  static async open(file: string, options: LowdbLocalStoreOptions = {}): Promise<LowdbLocalStore> {
    // Before anything is created: a directory, FIFO or device where a store file belongs is refused, by name.
    const paths = options.readOnly ? [file, `${file}.journal`] : [file, `${file}.journal`, `${file}.lock`];
    for (const path of paths) await assertRegularOrMissing(path);
    const lock = options.readOnly ? undefined : await LockFile.acquire(`${file}.lock`, file);
    try {
      const adapter = new DurableJSONFile<StoreDocument>(
        file,
        (data, read) => validateDocument(file, data, read),
        options,
      );
      const db = new Low<StoreDocument>(adapter, emptyDocument());
      const journal = new Journal(`${file}.journal`, options);
      const store = new LowdbLocalStore(file, db, adapter, journal, lock, options);
      await store.#load();
      return store;
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  /** Rewrites the snapshot and empties the journal. */
  compact(): Promise<void> {
    if (this.readOnly) return Promise.reject(new StoreReadOnlyError(this.file));
    return this.#enqueue(() => this.#compact());
  }

  /** Waits for pending writes, then releases the file and its lock. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => {});
    await this.#journal.close();
    await this.#lock?.release();
  }

  /** @internal A pulled page is planned on a later turn of the event loop (see `CollectionHost`). */
  beforePulledPage(): Promise<void> {
    return nextTurn();
  }

  /**
   * @internal Journals a change, then applies it. `prepare` runs in the write queue, against the state the change
   * will apply to; what it returns is journalled (if anything) before `apply` makes it visible. A pulled page's
   * change lets the journal grow to `PULLED_PAGE_JOURNAL_RATIO` times the snapshot before it compacts.
   */
  override mutate<P, R>(
    entityType: string,
    prepare: () => PlannedChange<P>,
    apply: (plan: P) => R,
  ): Promise<R> {
    return this.#enqueue(async () => {
      if (this.readOnly) throw new StoreReadOnlyError(this.file);
      if (this.#closed) throw new StoreWriteError(`Store ${this.file} is closed`);
      if (this.#broken) {
        throw new StoreWriteError(
          `Store ${this.file} refused a write after an earlier one failed; reopen it`,
          {
            cause: this.#broken,
          },
        );
      }
      const { change, plan } = prepare();
      if (change) {
        const ops = journalOps(entityType, change);
        try {
          this.stats.journalBytesWritten += await this.#journal.append(ops);
          this.stats.journalAppends += 1;
        } catch (error) {
          // The journal may now end in a partial line: stop writing rather than append after it.
          this.#broken = error as Error;
          throw new StoreWriteError(`Could not write to ${this.#journal.file}: ${errorMessage(error)}`, {
            cause: error,
          });
        }
      }
      const result = apply(plan);
      const ratio = change?.kind === 'page' ? PULLED_PAGE_JOURNAL_RATIO : 1;
      const allowed = ratio * Math.max(this.#compactAfterBytes, this.#adapter.bytes);
      if (this.#journal.bytes > allowed) await this.#compact();
      return result;
    });
  }

  #enqueue<R>(work: () => Promise<R>): Promise<R> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #load(): Promise<void> {
    // A kill during a compaction leaves a full temporary copy behind; we hold the lock, so none is in use.
    if (!this.readOnly) await this.#adapter.removeOrphans();
    const { document, journal } = await this.#readFiles();
    const exists = document !== null;
    this.#generation = document?.generation ?? 0;
    // Checked whole by validateDocument: records, failure records and names.
    for (const [entityType, collection] of Object.entries(document?.collections ?? {})) {
      const index = this.index(entityType);
      index.put(Object.values(collection.records));
      index.applyDelta({ synced: [], stale: [], replaced: [], failures: Object.values(collection.failures) });
      index.restorePullState({ checkpoint: collection.checkpoint, resetting: collection.resetting === true });
    }
    if (journal && journal.generation > this.#generation) {
      throw new StoreCorruptError(this.#journal.file, 'it is newer than the snapshot it belongs to');
    }
    const current = journal && journal.generation === this.#generation ? journal : undefined;
    for (const op of current?.ops ?? []) this.#replay(op);
    // Read-only: a torn tail is left as it is (the ops before it are all that was acknowledged).
    if (this.readOnly) return;
    if (current) {
      await this.#journal.open(this.#generation, current.goodBytes, current.goodBytes + current.tornBytes);
    } else {
      // No journal, or one left from before the last compaction (already in the snapshot).
      await this.#journal.open(this.#generation, 0);
    }
    if (!exists) {
      this.#db.data = emptyDocument();
      await this.#db.write();
    }
  }

  /** The snapshot (`null` if there is none) and the journal, as one consistent pair. */
  async #readFiles(): Promise<{ document: StoreDocument | null; journal: JournalContents | undefined }> {
    for (let attempt = 1; ; attempt += 1) {
      const document = await this.#adapter.read();
      const journal = await this.#journal.read();
      // Without the lock, a writer may compact between the two reads: it writes the snapshot, then empties the
      // journal and starts it again. A journal newer than the snapshot read, or one caught empty (no header yet),
      // means the snapshot changed too: read both again.
      const generation = document?.generation ?? 0;
      const raced = this.readOnly && journal && (journal.generation > generation || journal.generation < 0);
      if (!raced || attempt === 10) return { document, journal };
    }
  }

  #replay(op: JournalOp): void {
    const index = this.index(op.c);
    switch (op.op) {
      case 'put':
        index.put(op.e);
        break;
      case 'del':
        index.delete(op.id);
        break;
      case 'commit':
        index.applyDelta(op.d);
        break;
      case 'requeue':
        index.applyRequeue(op.ids);
        break;
      case 'page':
        index.applyPage(op.d);
        break;
      default:
        throw new StoreCorruptError(
          this.#journal.file,
          `unknown operation ${JSON.stringify(op satisfies never)}`,
        );
    }
  }

  async #compact(): Promise<void> {
    this.#generation += 1;
    // Written as it is serialised, record by record: the snapshot of a large store is never one string in memory
    // (at 1,000,000 records it would be ~400 MB, twice over with its Buffer, on top of the records themselves).
    await this.#adapter.writeText(snapshotText(this.#generation, this.indexes));
    // A crash here leaves a journal of the previous generation, which the next open drops.
    await this.#journal.reset(this.#generation);
    this.stats.compactions += 1;
    this.stats.snapshotBytesWritten += this.#adapter.bytes;
  }
}

/**
 * The snapshot of `collections` as the JSON text of a `StoreDocument`, in pieces: exactly what `JSON.stringify`
 * makes of the document (records keyed by id in change order, then the failure records and the pull state).
 */
export function* snapshotText(
  generation: number,
  collections: ReadonlyMap<string, OutboxIndex<RepositoryEntity>>,
): Generator<string> {
  yield `{"format":${JSON.stringify(FORMAT)},"version":${FORMAT_VERSION},"generation":${generation},"collections":{`;
  let firstCollection = true;
  for (const [entityType, index] of collections) {
    const { records, failures, pull } = index.exportState();
    yield `${firstCollection ? '' : ','}${JSON.stringify(entityType)}:{"records":{`;
    firstCollection = false;
    yield* keyedById(records);
    yield '},"failures":{';
    yield* keyedById(failures);
    yield '}';
    if (pull.checkpoint !== undefined) yield `,"checkpoint":${JSON.stringify(pull.checkpoint)}`;
    if (pull.resetting) yield ',"resetting":true';
    yield '}';
  }
  yield '}}';
}

/** `"id":{…}` of each value, comma-separated (the ids are a Map's keys, so each comes once). */
function* keyedById(values: readonly { id: string }[]): Generator<string> {
  let first = true;
  for (const value of values) {
    yield `${first ? '' : ','}${JSON.stringify(value.id)}:${JSON.stringify(value)}`;
    first = false;
  }
}

/** A change as journal lines: one append, so its lines land together or not at all. */
function journalOps(c: string, change: StoreChange): JournalOp[] {
  switch (change.kind) {
    case 'save': {
      const ops: JournalOp[] = change.plan.removed.map((id) => ({ op: 'del', c, id }));
      if (change.plan.put.length) ops.push({ op: 'put', c, e: change.plan.put });
      return ops;
    }
    case 'delete':
      return [{ op: 'del', c, id: change.id }];
    case 'commit':
      return [{ op: 'commit', c, d: change.delta }];
    case 'requeue':
      return [{ op: 'requeue', c, ids: change.ids }];
    case 'page':
      return [{ op: 'page', c, d: change.delta }];
    default:
      return change satisfies never;
  }
}

/** Resolves after the I/O callbacks and promise chains already queued have run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function emptyDocument(): StoreDocument {
  return { format: FORMAT, version: FORMAT_VERSION, generation: 0, collections: Object.create(null) };
}

function validateDocument(file: string, data: unknown, read?: ReadInfo): StoreDocument {
  // A record sits four levels down (document, collections, collection, records): a document no deeper than that
  // plus MAX_STORED_DEPTH cannot hold a record that is too deep, and its records need no walk of their own.
  const shallow = read !== undefined && read.depth <= MAX_STORED_DEPTH + 4;
  const fail = (reason: string): never => {
    throw new StoreCorruptError(file, reason);
  };
  if (!isPlainObject(data)) return fail('it is not a JSON object');
  const document = data as Partial<StoreDocument>;
  if (document.format !== FORMAT) return fail(`it is not an actorsync store (no "format": "${FORMAT}")`);
  if (document.version !== FORMAT_VERSION)
    return fail(`store format version ${JSON.stringify(document.version)} is not supported`);
  const generation = document.generation;
  if (typeof generation !== 'number' || !Number.isSafeInteger(generation) || generation < 0) {
    return fail('it has no generation number');
  }
  const collections: unknown = document.collections;
  if (!isPlainObject(collections)) return fail('it has no collections');
  // Clean copies, without a prototype: names and ids are any strings (earlier versions checked no collection
  // name), and "__proto__" or "constructor" must be keys like any other. Failure records keep only their fields.
  const clean: StoreDocument['collections'] = Object.create(null);
  for (const [entityType, collection] of Object.entries(collections)) {
    const name = JSON.stringify(entityType);
    if (
      !isPlainObject(collection) ||
      !isPlainObject(collection.records) ||
      !isPlainObject(collection.failures)
    ) {
      return fail(`collection ${name} is damaged`);
    }
    const records: Record<string, RepositoryEntity> = Object.create(null);
    const failures: Record<string, FailureRecord> = Object.create(null);
    const pull: Pick<StoredCollection, 'checkpoint' | 'resetting'> = {};
    try {
      const state = checkStoredPullState(collection.checkpoint, collection.resetting, name);
      if (state.checkpoint !== undefined) pull.checkpoint = state.checkpoint;
      if (state.resetting) pull.resetting = true;
      for (const [id, record] of Object.entries(collection.records)) {
        records[id] = checkStoredRecord(record, id, name, { shallow });
      }
      for (const [id, record] of Object.entries(collection.failures)) {
        failures[id] = checkStoredFailure(record, id, name);
      }
    } catch (error) {
      if (error instanceof InvalidEntityError) return fail(error.message);
      throw error;
    }
    clean[entityType] = { records, failures, ...pull };
  }
  return { format: FORMAT, version: FORMAT_VERSION, generation, collections: clean };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
