/** The four states every entity type's sync actor moves through. */
export type SyncState = 'idle' | 'syncing' | 'synced' | 'error';

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
  | { id: string; status: 'ok' }
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
  /** Clear `syncPending` where the stored version still equals the acknowledged one. */
  synced?: readonly SyncAck[];
  /** Conflict resolutions. */
  replace?: readonly ConditionalWrite<T>[];
  failures?: readonly ItemFailure[];
  /** Required with `failures`. */
  failurePolicy?: FailurePolicy;
  now: number;
}

export interface OutboxCommitResult {
  /** Ids whose pending flag was cleared. */
  synced: string[];
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

/** Local storage for one entity type. */
export interface LocalDataSource<T extends RepositoryEntity> {
  get(id: string): Promise<T | undefined>;
  getAll(): Promise<T[]>;
  save(entity: T): Promise<void>;
  /** One write for the whole set. */
  saveMany(entities: readonly T[]): Promise<void>;
  delete(id: string): Promise<boolean>;
  outbox(now: number): Promise<OutboxSnapshot>;
  /**
   * Pending items due at `now`, in a stable order (oldest change first). The items may be the stored records
   * themselves (frozen): read them, never change them.
   */
  pending(query: PendingQuery): Promise<PendingPage<T>>;
  /** Clears only items whose stored version still equals the one acknowledged. */
  markSynced(acks: readonly SyncAck[]): Promise<OutboxCommitResult>;
  /** Applies everything one batch changed as one write. */
  commit(commit: OutboxCommit<T>): Promise<OutboxCommitResult>;
  /** Failure records, scheduled and dead-lettered. */
  failures(): Promise<FailureRecord[]>;
  /** Clears failure records (all, or the given ids) so the items are due at once. Returns how many. */
  requeueFailures(ids?: readonly string[]): Promise<number>;
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
  totalItems: number;
  syncedItems: number;
  failedItems: number;
  conflicts: number;
  /** Batch attempts that failed and were retried in this run. */
  retries: number;
  errorMessage?: string;
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
  conflicts: number;
  retries: number;
  /**
   * The run's failed items, the first 1,000 of them (`MAX_LISTED_FAILURES` in `actorsync/machines`); `failedItems`
   * counts them all, and the store's failure records (`LocalDataSource.failures()`) hold every one.
   */
  failed: FailedItem[];
  cancelled: boolean;
  errorMessage?: string;
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
