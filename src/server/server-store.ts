import { ActorSyncError } from '../domain/errors.js';
import type { ItemResult, RepositoryEntity } from '../domain/types.js';
import type { ChangesRead, StoredItem } from './server-state.js';

/**
 * Whose records a request reads and writes: a principal's own partition, or the shared one (`SHARED_PARTITION`)
 * for types configured as shared. A store keeps partitions apart: nothing of one is visible from another.
 */
export interface Scope {
  partition: string;
  entityType: string;
}

/** The partition of types every principal shares. */
export const SHARED_PARTITION = '';

/** One checked batch to apply (the server checked every item first: `checkBatch`). */
export interface ServerBatch<T extends RepositoryEntity = RepositoryEntity> {
  scope: Scope;
  /** The Idempotency-Key. */
  batchId: string;
  /** Identifies the batch's items (`checkBatch`'s digest): the same key with another digest is a reused key. */
  digest: string;
  items: readonly T[];
  /**
   * Refuses one item on purpose (the reference server's injected `reject` fault); asked only for items that are
   * not the same version again.
   */
  reject?: (item: T) => { error: string; retryable: boolean } | undefined;
}

/** What applying a batch did. */
export type ServerBatchOutcome<T extends RepositoryEntity = RepositoryEntity> =
  /** Applied now, or answered with the stored reply of the same batch applied before (`duplicate`). */
  | { status: 'applied' | 'duplicate'; reply: ItemResult<T>[] }
  /** The key was used for a different batch: nothing applied (a 422). */
  | { status: 'keyReused' };

/**
 * The store cannot serve right now (its database is down or out of connections, or it is closing): nothing of the
 * call was applied. The handler answers 503 with Retry-After, so clients wait and retry without counting the
 * attempt against their changes, as for any server out of reach.
 */
export class StoreUnavailableError extends ActorSyncError {
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Where a sync server keeps records, batch replies and change feeds. Every method may be called concurrently, from
 * any number of server processes sharing the store (PostgreSQL): each batch is applied all or nothing and exactly
 * once per key, and a change feed never skips a change a reader could see later.
 */
export interface ServerStore {
  /**
   * Applies one batch as one unit, with the version rules of `version-rules.ts`. Throws only when it could not
   * (`StoreUnavailableError` when the cause is passing: a database out of reach).
   */
  applyBatch<T extends RepositoryEntity>(batch: ServerBatch<T>): Promise<ServerBatchOutcome<T>>;
  /** Up to `limit` changes of a scope after `since` (from the beginning when absent), or why `since` cannot be served. */
  changes(scope: Scope, since: string | undefined, limit: number): Promise<ChangesRead>;
  /** The live records of a scope (no tombstones). For tests, tools and the demo's agreement check. */
  list(scope: Scope): Promise<StoredItem[]>;
  /**
   * Calls `listener` after every committed write to a scope, including writes by other processes sharing the
   * store (within a moment); returns the unsubscribe function. Held long-polls wait on it.
   */
  watch(listener: (scope: Scope) => void): () => void;
  /** Resolves when the store can serve requests (`GET /healthz`); throws a clear error when it cannot. */
  check(): Promise<void>;
  /** Lets in-flight work finish, then releases connections and files. */
  close(): Promise<void>;
}
