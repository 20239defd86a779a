import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Low } from 'lowdb';
import {
  errorMessage,
  InvalidEntityError,
  StoreCorruptError,
  StoreReadOnlyError,
  StoreWriteError,
} from '../domain/errors.js';
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import {
  assertRegularOrMissing,
  DurableJSONFile,
  type ReadInfo,
  syncDirectory,
} from './durable-json-file.js';
import { Journal, type JournalContents, type JournalOp } from './journal.js';
import { LockFile } from './lock-file.js';
import { MAX_STORED_DEPTH, type OutboxIndex, type PullState } from './outbox-index.js';
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
   * Compact (rewrite the snapshot, start the journal again) once the journal is larger than this and than the
   * snapshot (three times that after a pulled page: `PULLED_PAGE_JOURNAL_RATIO`), which keeps the amortised cost per
   * write constant. The compaction runs beside later writes (they go to a second journal meanwhile). Default 8 MiB.
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
  /** Snapshots written (a compaction in the background counts once its snapshot is in place). */
  compactions: number;
  snapshotBytesWritten: number;
  /** Compactions in the background that failed (each is retried by the next write; nothing is lost meanwhile). */
  compactionFailures: number;
  /** Why the last of them failed; cleared when a compaction completes. */
  lastCompactionError?: string;
}

/** A collection's state as a snapshot holds it, captured by reference (stored records are frozen). */
export interface CollectionState {
  records: RepositoryEntity[];
  failures: FailureRecord[];
  pull: PullState;
}

/**
 * A compaction that runs beside later writes: the state was captured when the journal was rotated, and later
 * writes go to the journal that follows `generation` while the snapshot of `generation` is written from the capture.
 */
interface BackgroundCompaction {
  generation: number;
  /** Released once the snapshot is in place. */
  capture: Map<string, CollectionState> | undefined;
  /** The write in progress; absent once it failed (the next write retries it). */
  running: Promise<void> | undefined;
  error: Error | undefined;
}

/**
 * The embedded default store: one lowdb JSON snapshot holding every entity type, plus an fsynced append-only
 * journal of changes since that snapshot, so a write costs one small append instead of a whole-file rewrite.
 * Changes are journalled before they are applied in memory, so nothing is visible before it is durable.
 * A compaction writes the snapshot in the background while later writes go to `<file>.journal.next`, which then
 * takes the journal's name; an open after a crash in between replays both journals in order.
 * One process owns a store at a time (a lock file). Open with `LowdbLocalStore.open(file)`.
 */
export class LowdbLocalStore extends PersistentStore {
  readonly file: string;
  readonly stats: StoreStats = {
    journalAppends: 0,
    journalBytesWritten: 0,
    compactions: 0,
    snapshotBytesWritten: 0,
    compactionFailures: 0,
  };
  readonly #db: Low<StoreDocument>;
  readonly #adapter: DurableJSONFile<StoreDocument>;
  /** Where writes are appended: `<file>.journal`, or `<file>.journal.next` while a compaction runs. */
  #journal: Journal;
  readonly #options: LowdbLocalStoreOptions;
  #compaction: BackgroundCompaction | undefined;
  /** Absent when opened read-only. */
  readonly #lock: LockFile | undefined;
  readonly #compactAfterBytes: number;
  readonly readOnly: boolean;
  #generation = 0;
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
    this.#options = options;
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
    const stored = [file, journalPath(file), nextJournalPath(file)];
    const paths = options.readOnly ? stored : [...stored, `${file}.lock`];
    for (const path of paths) await assertRegularOrMissing(path);
    const lock = options.readOnly ? undefined : await LockFile.acquire(`${file}.lock`, file);
    try {
      const adapter = new DurableJSONFile<StoreDocument>(
        file,
        (data, read) => validateDocument(file, data, read),
        options,
      );
      const db = new Low<StoreDocument>(adapter, emptyDocument());
      const journal = new Journal(journalPath(file), options);
      const store = new LowdbLocalStore(file, db, adapter, journal, lock, options);
      await store.#load();
      return store;
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  /**
   * Rewrites the snapshot and empties the journal: when it resolves, the snapshot holds every write acknowledged
   * before it was called (a compaction in the background is finished first, retried if it had failed).
   */
  compact(): Promise<void> {
    if (this.readOnly) return Promise.reject(new StoreReadOnlyError(this.file));
    return this.enqueue(async () => {
      await this.#finishCompaction();
      await this.#compact();
    });
  }

  /**
   * @internal Resolves once no compaction runs in the background (rejects with its error if it failed; the next
   * write retries it). For tests and benchmarks.
   */
  async whenCompacted(): Promise<void> {
    await this.#compaction?.running;
    if (this.#compaction?.error) throw this.#compaction.error;
  }

  /**
   * Waits for pending writes and a compaction in the background, then releases the file and its lock. Safe to call
   * twice. A compaction that failed is left as it is on disk: the next open replays both journals.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.writesSettled();
    await this.#compaction?.running;
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
    return this.enqueue(async () => {
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
      if (this.#compaction) {
        // One at a time; one that failed is retried by the next write.
        if (!this.#compaction.running) this.#startCompaction(this.#compaction);
        return result;
      }
      const ratio = change?.kind === 'page' ? PULLED_PAGE_JOURNAL_RATIO : 1;
      const allowed = ratio * Math.max(this.#compactAfterBytes, this.#adapter.bytes);
      if (this.#journal.bytes > allowed) await this.#rotate();
      return result;
    });
  }

  async #load(): Promise<void> {
    // A kill during a compaction leaves a full temporary copy behind; we hold the lock, so none is in use.
    if (!this.readOnly) await this.#adapter.removeOrphans();
    const { document, journal, next } = await this.#readFiles();
    const exists = document !== null;
    this.#generation = document?.generation ?? 0;
    // Checked before anything is applied or touched: a refused store is left as it is.
    const plan = planJournals(this.file, this.#generation, journal, next);
    // Checked whole by validateDocument: records, failure records and names.
    for (const [entityType, collection] of Object.entries(document?.collections ?? {})) {
      const index = this.index(entityType);
      index.put(Object.values(collection.records));
      index.applyDelta({ synced: [], stale: [], replaced: [], failures: Object.values(collection.failures) });
      index.restorePullState({ checkpoint: collection.checkpoint, resetting: collection.resetting === true });
    }
    for (const contents of plan.replay) for (const op of contents.ops) this.#replay(op);
    // Read-only: a torn tail is left as it is (the ops before it are all that was acknowledged).
    if (this.readOnly) return;
    if (plan.kind === 'next') {
      // A compaction's snapshot is in place but the journal that follows it kept its temporary name: finish that.
      const following = new Journal(nextJournalPath(this.file), this.#options);
      await openAt(following, this.#generation, plan.next);
      await following.moveTo(journalPath(this.file));
      this.#journal = following;
      if (!exists) await this.#writeEmpty();
      return;
    }
    await openAt(this.#journal, this.#generation, plan.kind === 'both' ? plan.journal : plan.current);
    if (plan.kind === 'both') {
      // A compaction was cut short before its snapshot was in place: both journals were replayed, and a snapshot
      // of everything (a generation after both) makes them stale.
      this.#generation += 1;
      await this.#compact();
      return;
    }
    // A journal that follows no snapshot any more (or whose header never got written) holds nothing to keep.
    if (plan.staleNext) await removeFile(nextJournalPath(this.file));
    if (!exists) await this.#writeEmpty();
  }

  async #writeEmpty(): Promise<void> {
    this.#db.data = emptyDocument();
    await this.#db.write();
  }

  /**
   * The snapshot (`null` if there is none) and the journals, as one consistent set: the journal that follows the
   * snapshot and, while a compaction runs (or after a crash in one), the journal that follows the next snapshot.
   */
  async #readFiles(): Promise<{
    document: StoreDocument | null;
    journal: JournalContents | undefined;
    next: JournalContents | undefined;
  }> {
    const nextJournal = new Journal(nextJournalPath(this.file));
    for (let attempt = 1; ; attempt += 1) {
      const document = await this.#adapter.read();
      // The journal that follows is read before the one it follows: a compaction ends by renaming the first over
      // the second, so read in this order a moved journal is always seen (here, or under the other name).
      const next = await nextJournal.read();
      const journal = await this.#journal.read();
      // Without the lock, a writer may compact between the reads. A set that does not fit together (a journal
      // newer than the snapshot read, one caught empty, two that do not follow one another) means the snapshot
      // changed too: read them all again.
      const generation = document?.generation ?? 0;
      const raced =
        this.readOnly &&
        ((journal && (journal.generation > generation || journal.generation < 0)) ||
          (next &&
            (next.generation > generation + 1 ||
              (next.generation === generation + 1 && journal?.generation !== generation) ||
              (next.generation === generation && journal?.generation === generation))));
      if (!raced || attempt === 10) return { document, journal, next };
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

  /** Rewrites the snapshot from the state now and starts the journal again, in the write queue. */
  async #compact(): Promise<void> {
    const generation = this.#generation + 1;
    // Written as it is serialised, record by record: the snapshot of a large store is never one string in memory
    // (at 1,000,000 records it would be ~400 MB, twice over with its Buffer, on top of the records themselves).
    await this.#adapter.writeText(snapshotText(generation, captureState(this.indexes)));
    this.#generation = generation;
    this.stats.compactions += 1;
    this.stats.snapshotBytesWritten += this.#adapter.bytes;
    try {
      // A journal that followed the previous snapshot (left by an interrupted compaction) is stale now too; it goes
      // before this one starts again, so two journals never follow one snapshot. A crash in between leaves the
      // journals of earlier generations, which the next open drops.
      await removeFile(nextJournalPath(this.file));
      await this.#journal.reset(generation);
    } catch (error) {
      // The journal still follows the previous snapshot: what went on being appended would be dropped on open.
      this.#broken = error as Error;
      throw new StoreWriteError(`Could not restart ${this.#journal.file}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Starts a compaction beside later writes (in the write queue, so no write comes between the capture and the
   * switch): later writes go to a new journal that follows the next generation, and the snapshot of the state
   * captured now is written in the background. A crash before that snapshot is in place leaves the old snapshot and
   * both journals, which the next open replays in order.
   */
  async #rotate(): Promise<void> {
    const generation = this.#generation + 1;
    const capture = captureState(this.indexes);
    const next = new Journal(nextJournalPath(this.file), this.#options);
    try {
      await next.open(generation, 0);
      if (this.#options.fsync !== false) await syncDirectory(dirname(this.file));
    } catch (error) {
      // Writes go on to the current journal; the next write tries again. A header left behind holds no write.
      await next.close().catch(() => {});
      await removeFile(next.file).catch(() => {});
      this.#reportCompactionFailure(error);
      return;
    }
    const previous = this.#journal;
    this.#journal = next;
    this.#generation = generation;
    // Every append to it is durable already; nothing more goes there.
    await previous.close().catch(() => {});
    const compaction: BackgroundCompaction = { generation, capture, running: undefined, error: undefined };
    this.#compaction = compaction;
    this.#startCompaction(compaction);
  }

  #startCompaction(compaction: BackgroundCompaction): void {
    compaction.error = undefined;
    compaction.running = this.#runCompaction(compaction).then(
      () => {
        this.#compaction = undefined;
        this.stats.lastCompactionError = undefined;
      },
      (error: unknown) => {
        compaction.error = error as Error;
        compaction.running = undefined;
        this.#reportCompactionFailure(error);
      },
    );
  }

  async #runCompaction(compaction: BackgroundCompaction): Promise<void> {
    if (compaction.capture) {
      // Yields to the event loop between chunks: pages go on being planned and journalled meanwhile.
      await this.#adapter.writeText(snapshotText(compaction.generation, compaction.capture));
      compaction.capture = undefined;
      this.stats.compactions += 1;
      this.stats.snapshotBytesWritten += this.#adapter.bytes;
    }
    // The journal before is stale now: the one that follows the new snapshot takes its name, replacing it.
    await this.#journal.moveTo(journalPath(this.file));
  }

  /** Finishes (retrying, if it failed) a compaction in the background; throws if it fails again. */
  async #finishCompaction(): Promise<void> {
    const compaction = this.#compaction;
    if (!compaction) return;
    if (!compaction.running) this.#startCompaction(compaction);
    await compaction.running;
    if (compaction.error) {
      throw new StoreWriteError(`Could not compact ${this.file}: ${errorMessage(compaction.error)}`, {
        cause: compaction.error,
      });
    }
  }

  #reportCompactionFailure(error: unknown): void {
    this.stats.compactionFailures += 1;
    this.stats.lastCompactionError = errorMessage(error);
  }
}

/** A snapshot's worth of every collection's state, by reference: cheap, and unchanged by later writes. */
export function captureState(
  indexes: ReadonlyMap<string, OutboxIndex<RepositoryEntity>>,
): Map<string, CollectionState> {
  const capture = new Map<string, CollectionState>();
  for (const [entityType, index] of indexes) capture.set(entityType, index.exportState());
  return capture;
}

const journalPath = (file: string) => `${file}.journal`;
/** The journal that follows the snapshot a compaction is writing, until that snapshot is in place. */
const nextJournalPath = (file: string) => `${file}.journal.next`;

/** Which journals to replay, in order, on top of snapshot `generation`, and what an open must then repair. */
type JournalPlan =
  | {
      /** The usual case: the journal that follows the snapshot, if any. */
      kind: 'one';
      current: JournalContents | undefined;
      replay: JournalContents[];
      /** A next journal is there that holds nothing to keep. */
      staleNext: boolean;
    }
  | { kind: 'both'; journal: JournalContents; next: JournalContents; replay: JournalContents[] }
  | { kind: 'next'; next: JournalContents; replay: JournalContents[] };

/**
 * Sorts the journals found beside snapshot `generation` (`-1`: a header torn by a crash, nothing after it):
 * - the journal following the snapshot, no next journal (or a stale one, or a torn one): replay the journal;
 * - the journal following the snapshot and a next one following the generation after it (a crash before a
 *   compaction's snapshot was in place): replay both, in that order;
 * - a next journal following the snapshot, the journal older (a crash after the snapshot was in place, before the
 *   next journal took the journal's name): replay the next one.
 * Anything else cannot come from a crash and is refused (`StoreCorruptError`, naming the journal).
 */
function planJournals(
  file: string,
  generation: number,
  journal: JournalContents | undefined,
  next: JournalContents | undefined,
): JournalPlan {
  if (journal && journal.generation > generation) {
    throw new StoreCorruptError(journalPath(file), 'it is newer than the snapshot it belongs to');
  }
  const current = journal && journal.generation === generation ? journal : undefined;
  if (!next || next.generation < generation) {
    return { kind: 'one', current, replay: current ? [current] : [], staleNext: next !== undefined };
  }
  const nextFile = nextJournalPath(file);
  if (next.generation > generation + 1) {
    throw new StoreCorruptError(nextFile, 'it is newer than the snapshot it belongs to');
  }
  if (next.generation === generation + 1) {
    if (!current) {
      throw new StoreCorruptError(
        nextFile,
        `it follows generation ${next.generation}, but no journal follows the snapshot (${generation}) before it`,
      );
    }
    return { kind: 'both', journal: current, next, replay: [current, next] };
  }
  if (current) {
    throw new StoreCorruptError(nextFile, `it and ${journalPath(file)} both follow generation ${generation}`);
  }
  return { kind: 'next', next, replay: [next] };
}

/** Opens `journal` for appending after snapshot `generation`: as read (a torn tail cut off), or started afresh. */
function openAt(journal: Journal, generation: number, contents: JournalContents | undefined): Promise<void> {
  return contents
    ? journal.open(generation, contents.goodBytes, contents.goodBytes + contents.tornBytes)
    : journal.open(generation, 0);
}

async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

/**
 * The snapshot of `collections` (see `captureState`) as the JSON text of a `StoreDocument`, in pieces: exactly what
 * `JSON.stringify` makes of the document (records keyed by id in change order, then the failure records and the
 * pull state).
 */
export function* snapshotText(
  generation: number,
  collections: ReadonlyMap<string, CollectionState>,
): Generator<string> {
  yield `{"format":${JSON.stringify(FORMAT)},"version":${FORMAT_VERSION},"generation":${generation},"collections":{`;
  let firstCollection = true;
  for (const [entityType, { records, failures, pull }] of collections) {
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
