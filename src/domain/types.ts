import type { Subscription } from '../core/progress-stream.js';

/** The four states every entity type's sync actor moves through. */
export type SyncState = 'idle' | 'syncing' | 'synced' | 'error';

/**
 * What a run of an entity type does: push its outbox, pull the server's changes, or push then pull (`'both'`).
 * `'both'` is the default for a repository whose store and remote can pull; `'push'` for the others (telemetry).
 */
export type SyncDirection = 'push' | 'pull' | 'both';

/** The part of a run under way: pushing the outbox, or pulling the server's changes. */
export type SyncPhase = 'push' | 'pull';

/**
 * The bookkeeping fields every synced record carries. Records are plain objects: user fields sit beside these.
 * `version` increments on every local change; the remote acknowledges a specific version.
 */
export interface RepositoryEntity {
  id: string;
  /** Epoch milliseconds of the first save. */
  createdAt: number;
  /** Epoch milliseconds of the last local change. */
  updatedAt: number;
  /** True while the local version has not been acknowledged by the remote. */
  syncPending: boolean;
  version: number;
  /**
   * True for a tombstone: the record was deleted (`Repository.delete`) and the deletion is a change like any other,
   * pushed at its own version and pulled by other clients. A tombstone keeps only the bookkeeping fields (the
   * user's fields are dropped when it is written, as the server's tombstones carry none). Stores hide tombstones
   * from `get` and `getAll` (unless `includeDeleted` is asked for) and remove them once the remote acknowledged them
   * (see `LocalDataSource`). Absent (or false) on every live record. The name is reserved: an app's own field called
   * `deleted` would mark its records deleted.
   */
  deleted?: boolean;
  /**
   * The version the remote held when the first local change not yet acknowledged was made: the server's version
   * this pending change is built on. The server takes the change only while it still holds that version, and a
   * pulled version is an echo only up to it, so a change another client made meanwhile is a conflict, never
   * silently overwritten (docs/protocol.md, "Versions and conflicts"). Absent on a record the remote never had (a
   * create) and on every synced record: acknowledging, pulling or adopting the server's copy clears it. Set by
   * `markUpdated` and `markDeleted`; the name is reserved (`Repository.save` drops an app's own field of that name).
   * Records written before it existed have none and keep the rules they had.
   */
  baseVersion?: number;
  /**
   * The versions of this pending record the client pushed (or may have pushed) without hearing back, with the
   * fingerprint of each (`recordDigest`): when a reply is lost, the server may hold one of them, and a later change
   * made on top of it must not meet the client's own write as another client's. The server takes a change whose
   * base it no longer holds when it holds one of these (same version, same fingerprint), and a pulled one is an
   * echo. Kept by the store when a pending record is changed again (at most `MAX_OWN_VERSIONS`); cleared with
   * `baseVersion`. The name is reserved.
   */
  ownVersions?: OwnVersion[];
}

/** A version of a record this client pushed without hearing back, and its content's fingerprint. */
export interface OwnVersion {
  version: number;
  digest: string;
}

/** The user's fields of an entity: everything but the bookkeeping, with `id` optional for new records. */
export type EntityFields<T extends RepositoryEntity> = Omit<T, keyof RepositoryEntity> & { id?: string };

/** One version of one item, as the remote acknowledged it. */
export interface SyncAck {
  id: string;
  version: number;
}

/** What the remote said about one item of a batch. */
export type ItemResult<T extends RepositoryEntity = RepositoryEntity> =
  /** `version`, when the remote names it, must be the version sent: only that exact version is marked synced. */
  | { id: string; status: 'ok'; version?: number }
  | { id: string; status: 'failed'; error: string; retryable: boolean }
  | { id: string; status: 'conflict'; remote: T };

export interface SyncBatchContext {
  /** Aborts the request when the run is cancelled or the coordinator stops. */
  signal: AbortSignal;
  /** Stable across retries of the same batch: servers use it as an idempotency key. */
  batchId: string;
  entityType: string;
}

/** The remote end of one entity type. A throw fails the whole batch (retryable unless a `PermanentSyncError`). */
export interface RemoteDataSource<T extends RepositoryEntity = RepositoryEntity> {
  syncBatch(items: readonly T[], context: SyncBatchContext): Promise<ItemResult<T>[]>;
  /**
   * One page of the changes other clients (and this one) wrote since `since`, in the server's commit order; absent
   * on a push-only remote. Resolves `{ reset: true }` when the server can no longer serve `since` (the client pulls
   * again from the beginning, `since` absent); throws like `syncBatch` for everything else (a
   * `TransientSyncError` is worth retrying, a `FatalSyncError` ends the run). Nothing in the page is trusted: the
   * store checks every change (`planPulledPage`) before anything is written.
   */
  pullChanges?(request: PullRequest): Promise<PullReply>;
}

/** What `RemoteDataSource.pullChanges` is asked for. */
export interface PullRequest {
  entityType: string;
  /** The checkpoint of the previous page, as the server sent it; absent (or `undefined`) from the beginning. */
  since?: string | undefined;
  /** The most changes wanted in the page; a server may send fewer, never more. */
  limit: number;
  /** Seconds the server may hold the request while there is nothing new (long-poll); 0 or absent answers at once. */
  wait?: number;
  /** Aborts the request when the run is cancelled or the coordinator stops. */
  signal: AbortSignal;
}

/**
 * One change of a pulled page: the record's latest version on the server. `version` and `deleted` repeat the
 * item's, so a page can be checked without trusting `item`; a change where they disagree is refused.
 */
export interface PulledChange {
  id: string;
  version: number;
  /** True when the change is a deletion (`item` is then the server's tombstone). */
  deleted: boolean;
  /** The server's whole record (for a tombstone, its bookkeeping and `deleted: true`): untrusted. */
  item: unknown;
}

/** A page of changes, as a remote returns it. */
export interface PulledChanges {
  reset?: false;
  changes: PulledChange[];
  /** Opaque: stored with the page's changes and sent back as `since` for the next page. */
  checkpoint: string;
  /** More changes are waiting right now: pull again from `checkpoint`. */
  hasMore: boolean;
}

/** The server cannot serve the checkpoint sent (tombstones after it are gone, or its state was replaced). */
export interface PullResetRequired {
  reset: true;
}

export type PullReply = PulledChanges | PullResetRequired;

/** A page to apply to a store (`LocalDataSource.applyPulledPage`): the remote's page plus where it was pulled from. */
export interface PulledPage extends Omit<PulledChanges, 'reset'> {
  /**
   * The checkpoint the page was pulled from; `undefined` for a pull from the beginning. The store applies the page
   * only if this is where it is (its checkpoint, or during a reset the reset's last page's): a late page is refused
   * with `StalePageError` and nothing is written.
   */
  since: string | undefined;
  /**
   * The page belongs to a pull from the beginning after the server asked for a reset: once its last page
   * (`hasMore: false`) is applied, records the pull did not mention are dropped unless they have pending local
   * changes. The store remembers a reset in progress across restarts, so a page pulled from the beginning after
   * one continues it even without this flag.
   */
  reset?: boolean;
}

/** How a store applies a pulled page. */
export interface PulledPageOptions<T extends RepositoryEntity> {
  /** Resolves a pulled change that meets a pending local change (docs/protocol.md, "Client side of a pull"). */
  conflicts: ConflictPolicy<T>;
  /** Epoch ms: `updatedAt` of resolved conflicts, and of pulled records without a usable one. */
  now: number;
}

/**
 * A pulled change the client could not take; the pull reports it as failed. `invalid`: not a valid record (never
 * stored). `unresolved`: a conflict the policy could not resolve (a merge function threw): the pending local
 * record stays as it was and meets the server's again when pushed.
 */
export interface RefusedChange {
  id: string;
  error: string;
  kind: 'invalid' | 'unresolved';
}

/** What applying one pulled page did; the counts add up to the page's number of changes. */
export interface PulledPageResult {
  /** Changes written as the local record (new or newer versions, no pending local change). */
  pulled: number;
  /** Local records removed by a pulled tombstone (without a pending local change). */
  deleted: number;
  /** Changes that met a pending local change and were resolved by the conflict policy. */
  conflicts: number;
  /** Changes that changed nothing: a version the client already holds (its own writes coming back), an older one,
   * or a tombstone of a record it does not hold. */
  echoes: number;
  /** Changes refused: not a valid record, or `version`/`deleted` disagreeing with the item. See `refused`. */
  invalid: number;
  refused: RefusedChange[];
  /** Ids of conflicts whose resolution is now pending (pushed on the next push). */
  repush: string[];
  /** Records dropped by a finished reset (not mentioned by the pull from the beginning, nothing pending). */
  dropped: number;
  /** The checkpoint stored with the page: `undefined` while a reset is still paging. */
  checkpoint: string | undefined;
}

/** A failure that outlived its run: retried on a later run once `nextAttemptAt` has passed, unless dead-lettered. */
export interface FailureRecord {
  id: string;
  /** The version that failed; a newer local edit makes the item eligible again at once. */
  version: number;
  /** Runs in which this version failed. */
  attempts: number;
  lastError: string;
  retryable: boolean;
  /** Epoch ms after which a run may try again; `undefined` once dead-lettered. */
  nextAttemptAt: number | undefined;
  deadLettered: boolean;
  /** Epoch ms of the last failure. */
  failedAt: number;
}

/** A failure to record at the end of a batch. */
export interface ItemFailure {
  id: string;
  version: number;
  error: string;
  retryable: boolean;
}

/** How a store turns failures into records: attempts before dead letter and the delay before the next attempt. */
export interface FailurePolicy {
  maxItemAttempts: number;
  retryDelayMs(attempts: number): number;
}

/** A compare-and-set write: the entity replaces the stored one only if the stored version is still `expectedVersion`. */
export interface ConditionalWrite<T extends RepositoryEntity> {
  expectedVersion: number;
  entity: T;
}

/** Everything one batch changes locally, applied as one write. */
export interface OutboxCommit<T extends RepositoryEntity> {
  /** Acknowledged versions: clear `syncPending` where the stored version still equals the acknowledged one. */
  acks?: readonly SyncAck[];
  /** Conflict resolutions. */
  replace?: readonly ConditionalWrite<T>[];
  failures?: readonly ItemFailure[];
  /** Required with `failures`. */
  failurePolicy?: FailurePolicy;
  now: number;
}

export interface OutboxCommitResult {
  /** Ids whose pending flag was cleared. */
  syncedIds: string[];
  /** Acknowledged ids that changed locally meanwhile: they stay pending for a later run. */
  stale: string[];
  /** Conflict resolutions that were written (the others had changed locally meanwhile). */
  replaced: string[];
  /** Failure records as stored by this commit (failures of versions no longer stored are dropped). */
  failures: FailureRecord[];
}

/** A view of the outbox at the start of a run: items changed later belong to the next run. */
export interface OutboxSnapshot {
  /** Items due now (pending, not dead-lettered, not waiting for their next attempt). */
  total: number;
  /** All pending items, including those waiting for a retry and dead letters. */
  pending: number;
  /** Epoch ms when the first item now waiting for a retry becomes due; `undefined` if none waits. */
  nextDueAt: number | undefined;
  /** Opaque high-water mark: pass it to `pending()` as `upTo`. */
  highWater: number;
}

export interface PendingQuery {
  limit: number;
  /** Opaque cursor from the previous page. */
  after?: number;
  /** The run's high-water mark from `outbox()`. */
  upTo?: number;
  /** Epoch ms used to decide which failed items are due again. */
  now: number;
}

export interface PendingPage<T> {
  items: T[];
  /** Cursor for the next page; `undefined` when this was the last one. */
  next: number | undefined;
}

/** Options of the reads apps use. */
export interface ReadOptions {
  /** Return tombstones (records marked `deleted`) too; they are hidden by default. */
  includeDeleted?: boolean;
}

/**
 * A write to a local store, as views see it (`LocalDataSource.subscribe`): the records it wrote or removed (an
 * acknowledgement counts: it clears `syncPending`; so does a failure record), and where it came from: `'local'`
 * (the app's saves and deletes, a requeue), `'sync'` (a push's acknowledgements, conflicts and failures),
 * `'pull'` (a pulled page), `'external'` (another connection to the same database, such as another tab).
 */
export interface LocalChange {
  entityType: string;
  ids: readonly string[];
  source: 'local' | 'sync' | 'pull' | 'external';
}

export type LocalChangeListener = (change: LocalChange) => void;

/**
 * Local storage for one entity type.
 *
 * Tombstones (`deleted: true`) are stored like any record until the remote acknowledges them, hidden from `get` and
 * `getAll`. An acknowledged tombstone is removed in the same write as its ack, except in a collection that pulls,
 * which keeps it (and pulled ones) synced and hidden, so a record saved again is built on it (docs/architecture.md,
 * "Deletes"); a pending tombstone of a record no push ever saw is removed at once when it is saved.
 */
export interface LocalDataSource<T extends RepositoryEntity> {
  /** The record, or `undefined`; a tombstone only with `includeDeleted`. */
  get(id: string, options?: ReadOptions): Promise<T | undefined>;
  /** Every record; tombstones only with `includeDeleted`. */
  getAll(options?: ReadOptions): Promise<T[]>;
  save(entity: T): Promise<void>;
  /**
   * One write for the whole set. May resolve with the records as stored (read them, never change them): a store
   * that other writers share (tabs on one IndexedDB database) stores a save planned from a stale read as the next
   * version on top of the stored one, and the caller learns that version from here.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a store that resolves with nothing (`Promise<void>`) must still fit.
  saveMany(entities: readonly T[]): Promise<void | readonly T[]>;
  /** Removes the record outright, tombstone or not, with nothing to push: for local data only. */
  delete(id: string): Promise<boolean>;
  outbox(now: number): Promise<OutboxSnapshot>;
  /**
   * Pending items due at `now`, in a stable order (oldest change first). The items may be the stored records
   * themselves (frozen): read them, never change them.
   */
  pending(query: PendingQuery): Promise<PendingPage<T>>;
  /**
   * Applies everything one batch changed as one write. Acknowledgements go through here too (`{ acks, now }`):
   * the sync path has no other way to clear a pending flag, and the caller's clock dates the write.
   */
  commit(commit: OutboxCommit<T>): Promise<OutboxCommitResult>;
  /** Failure records, scheduled and dead-lettered. */
  failures(): Promise<FailureRecord[]>;
  /** Clears failure records (all, or the given ids) so the items are due at once. Returns how many. */
  requeueFailures(ids?: readonly string[]): Promise<number>;
  /**
   * The checkpoint of the last pulled page stored, where the next pull starts; `undefined` before the first page
   * and while a reset pulls from the beginning. Absent on a store that cannot take pulled pages (push only).
   */
  checkpoint?(): Promise<string | undefined>;
  /**
   * Applies a pulled page and stores its checkpoint in one write, so the checkpoint never points past changes not
   * stored. Every change is decided by `planPulledPage` (src/protocol/pull-page.ts) against the stored records.
   * A page whose `since` is not where the store is (a late one) is refused whole with `StalePageError`.
   */
  applyPulledPage?(page: PulledPage, options: PulledPageOptions<T>): Promise<PulledPageResult>;
  /**
   * Calls `listener` after each write to this type is durable and applied (a read inside it sees the write), with
   * the ids it touched. Every store actorsync ships implements it; views (`actorsync/react`) need it.
   */
  subscribe?(listener: LocalChangeListener): Subscription;
}

/**
 * Merges the local record with the server's copy; the result is saved and pushed on top of the server's version.
 * Declared as a method so a resolver for a specific entity type fits the coordinator-wide option.
 */
export type ConflictResolver<T extends RepositoryEntity = RepositoryEntity> = {
  merge(local: T, remote: T): T;
}['merge'];

/** How a conflict reported by the remote is resolved. */
export type ConflictPolicy<T extends RepositoryEntity = RepositoryEntity> =
  | 'server-wins'
  | 'client-wins'
  | ConflictResolver<T>;

/** Progress of one entity type's current or last run. */
export interface SyncProgress {
  entityType: string;
  state: SyncState;
  /** Identifies the run; increases per entity type. */
  runId: number;
  /** Items the push covers: the outbox at the run's start. */
  totalItems: number;
  /** Items pushed and acknowledged by the server at the version sent. */
  syncedItems: number;
  failedItems: number;
  /** Conflicts resolved in both directions: reported by the server on push, and met by pulled changes. */
  conflicts: number;
  /** Batch pushes and page pulls that failed and were retried in this run. */
  retries: number;
  /** Pulled changes stored as the local record (new records and newer versions). */
  pulledItems: number;
  /** Local records removed by the pull: by the server's tombstones, and by a reset (records it no longer has). */
  deletedItems: number;
  /** Pulled changes refused (not a valid record, or a conflict the policy could not resolve); see `SyncResult.refused`. */
  refusedItems: number;
  /** Pulls from the beginning the server asked for in this run (capped; see `SyncCoordinatorOptions.pull`). */
  resets: number;
  /** What the run is doing (`push`, then `pull`), and once it ended the last part it reached. */
  phase?: SyncPhase;
  /** A sentence for people: why the run is waiting to retry, stopped early or left failed items. */
  errorMessage?: string;
  /** The `ActorSyncError` code behind `errorMessage` (`ITEM_FAILED` for items the remote refused): for programs. */
  errorCode?: string;
  /** The last error seen, kept until a run succeeds, even when the run recovered from it. */
  lastError?: string;
  /** Epoch ms of the next automatic retry, while one is scheduled. */
  nextRetryAt?: number;
  /** 0-100: (synced + failed) / total; 100 for an empty finished run. */
  percent: number;
  /** True only for a run that finished (synced or error), not for a cancelled or running one. */
  isComplete: boolean;
  cancelled: boolean;
}

export interface FailedItem {
  id: string;
  error: string;
  /** Attempts at this item (pushes in this run for in-run failures, runs for recorded ones). */
  attempts: number;
  deadLettered: boolean;
}

/** The outcome of one run of one entity type. */
export interface SyncResult {
  entityType: string;
  state: SyncState;
  runId: number;
  totalItems: number;
  syncedItems: number;
  failedItems: number;
  /** Conflicts resolved in both directions: reported by the server on push, and met by pulled changes. */
  conflicts: number;
  retries: number;
  /** See `SyncProgress`. */
  pulledItems: number;
  deletedItems: number;
  refusedItems: number;
  resets: number;
  phase?: SyncPhase;
  /**
   * The run's failed items, the first 1,000 of them (`MAX_LISTED_FAILURES` in `actorsync/machines`); `failedItems`
   * counts them all, and the store's failure records (`LocalDataSource.failures()`) hold every one.
   */
  failures: FailedItem[];
  /** Pulled changes the run refused, the first 1,000 (`refusedItems` counts them all); they were not stored. */
  refused: RefusedChange[];
  cancelled: boolean;
  /** Why the run ended in error, for people (see `SyncProgress.errorMessage`). */
  errorMessage?: string;
  /** The code behind `errorMessage`, for programs. */
  errorCode?: string;
  lastError?: string;
  nextRetryAt?: number;
  durationMs: number;
}

/** The logger actorsync writes to; `console` fits. Messages never contain tokens. */
export interface SyncLogger {
  debug(message: string, details?: Record<string, unknown>): void;
  info(message: string, details?: Record<string, unknown>): void;
  warn(message: string, details?: Record<string, unknown>): void;
  error(message: string, details?: Record<string, unknown>): void;
}

export interface RetryOptions {
  /** First backoff delay; doubles per attempt (full jitter). Default 500. */
  baseDelayMs?: number;
  /** Backoff cap. Default 30,000. */
  maxDelayMs?: number;
  /** Pushes of one batch within a run before its items are recorded as failed. Default 5. */
  maxAttempts?: number;
  /** Runs in which an item may fail before it is dead-lettered. Default 8. */
  maxItemAttempts?: number;
}

/** Retry settings with defaults applied. */
export type RetryPolicy = Required<RetryOptions>;
