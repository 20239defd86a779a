import { assertEntity, jsonProblem } from '../domain/entity.js';
import { InvalidEntityError } from '../domain/errors.js';
import type {
  FailureRecord,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  PendingQuery,
  RepositoryEntity,
  SyncAck,
} from '../domain/types.js';
import { isDue, nextFailureRecord } from '../protocol/failures.js';
import { PendingQueue } from './pending-queue.js';

/** The changes of one commit, as stores persist them. */
export interface CommitDelta<T extends RepositoryEntity> {
  /** Acks whose version is the stored one: their pending flag is cleared. */
  synced: SyncAck[];
  stale: string[];
  /** Conflict resolutions to write. */
  replaced: T[];
  /** Failure records to store. */
  failures: FailureRecord[];
}

/** What a commit reports, from the delta it applied. */
export function commitResult<T extends RepositoryEntity>(delta: CommitDelta<T>): OutboxCommitResult {
  return {
    synced: delta.synced.map((ack) => ack.id),
    stale: delta.stale,
    replaced: delta.replaced.map((entity) => entity.id),
    failures: delta.failures.map((record) => ({ ...record })),
  };
}

interface Row<T> {
  entity: T;
  /** Local change sequence: orders the outbox and bounds a run (its high-water mark). */
  seq: number;
}

/**
 * The in-memory state of one entity type's records, outbox and failure records, with every rule of the
 * `LocalDataSource` contract. Stores keep one and add persistence around it. Synchronous and copy-on-write:
 * callers never hold a reference to stored objects.
 */
export class OutboxIndex<T extends RepositoryEntity> {
  readonly #rows = new Map<string, Row<T>>();
  /** Pending ids in change order: every change re-adds its id under a new sequence number. */
  readonly #pending = new PendingQueue();
  readonly #failures = new Map<string, FailureRecord>();
  #seq = 0;

  get size(): number {
    return this.#rows.size;
  }

  get(id: string): T | undefined {
    const row = this.#rows.get(id);
    return row ? this.#copy(row) : undefined;
  }

  getAll(): T[] {
    return Array.from(this.#rows.values(), (row) => this.#copy(row));
  }

  /** Validates and copies first, so a bad entity in a set leaves the store untouched. */
  prepare(entities: readonly T[]): T[] {
    return entities.map((entity, index) => {
      assertEntity(entity, entities.length > 1 ? `entity ${index}` : 'entity');
      return cloneForStorage(entity);
    });
  }

  /**
   * Validates records read back from a store's own file, without the copy `prepare` makes: they were JSON a
   * moment ago, so nothing else holds them.
   */
  adopt(entities: readonly T[]): T[] {
    entities.forEach((entity, index) => {
      assertEntity(entity, entities.length > 1 ? `entity ${index}` : 'entity');
    });
    return entities as T[];
  }

  /** Stores entities already passed through `prepare` or `adopt`. */
  put(entities: readonly T[]): void {
    for (const entity of entities) this.#write(entity);
  }

  delete(id: string): boolean {
    this.#pending.delete(id);
    this.#failures.delete(id);
    return this.#rows.delete(id);
  }

  /** O(failure records), not O(backlog): every pending item is due unless a failure record holds it back. */
  outbox(now: number): OutboxSnapshot {
    let held = 0;
    let nextDueAt = Number.POSITIVE_INFINITY;
    for (const [id, failure] of this.#failures) {
      const row = this.#pending.has(id) ? this.#rows.get(id) : undefined;
      if (!row || isDue(row.entity, failure, now)) continue;
      held += 1;
      if (failure.nextAttemptAt !== undefined) nextDueAt = Math.min(nextDueAt, failure.nextAttemptAt);
    }
    return {
      total: this.#pending.size - held,
      pending: this.#pending.size,
      highWater: this.#seq,
      nextDueAt: Number.isFinite(nextDueAt) ? nextDueAt : undefined,
    };
  }

  pending(query: PendingQuery): PendingPage<T> {
    const items: T[] = [];
    const after = query.after ?? 0;
    const upTo = query.upTo ?? Number.POSITIVE_INFINITY;
    let next: number | undefined;
    this.#pending.forEachAfter(after, (id, seq) => {
      if (seq > upTo) return false;
      const row = this.#rows.get(id);
      if (!row || !isDue(row.entity, this.#failures.get(id), query.now)) return true;
      // A page shares the stored records instead of copying every item of every batch; freezing them keeps a
      // consumer from changing the store behind its back.
      items.push(Object.isFrozen(row.entity) ? row.entity : Object.freeze(row.entity));
      if (items.length < query.limit) return true;
      next = seq;
      return false;
    });
    return { items, next };
  }

  /** Applies a commit and says what it changed. */
  commit(commit: OutboxCommit<T>): OutboxCommitResult {
    const delta = this.planCommit(commit);
    this.applyDelta(delta);
    return commitResult(delta);
  }

  /**
   * What a commit would change, without changing anything: stores persist the delta first and apply it after,
   * so nothing is visible before it is durable. Acks and failures count only for the version stored.
   */
  planCommit(commit: OutboxCommit<T>): CommitDelta<T> {
    const delta: CommitDelta<T> = { synced: [], stale: [], replaced: [], failures: [] };
    for (const ack of commit.synced ?? []) {
      if (this.#rows.get(ack.id)?.entity.version === ack.version)
        delta.synced.push({ id: ack.id, version: ack.version });
      else delta.stale.push(ack.id);
    }
    for (const write of commit.replace ?? []) {
      // Replacements come from remotes and conflict resolvers: checked here too, so no caller can write a record
      // the store could not read back, or move a version down. A bad one refuses the whole commit.
      assertEntity(write.entity, 'replacement');
      const problem = jsonProblem(write.entity);
      if (problem)
        throw new InvalidEntityError(`replacement "${write.entity.id}" cannot be stored: ${problem}`);
      const stored = this.#rows.get(write.entity.id)?.entity.version;
      if (stored !== write.expectedVersion) continue;
      if (write.entity.version < stored) {
        throw new InvalidEntityError(
          `replacement "${write.entity.id}" has version ${write.entity.version}, below the stored ${stored}`,
        );
      }
      delta.replaced.push(cloneForStorage(write.entity));
    }
    if (commit.failures?.length) {
      const policy = commit.failurePolicy;
      if (!policy) throw new TypeError('OutboxCommit.failurePolicy is required with failures');
      for (const failure of commit.failures) {
        if (this.#rows.get(failure.id)?.entity.version !== failure.version) continue;
        delta.failures.push(nextFailureRecord(this.#failures.get(failure.id), failure, commit.now, policy));
      }
    }
    return delta;
  }

  /** Applies a delta from `planCommit` (or replayed from a journal: applying one twice changes nothing). */
  applyDelta(delta: CommitDelta<T>): void {
    for (const ack of delta.synced) {
      const row = this.#rows.get(ack.id);
      if (!row || row.entity.version !== ack.version) continue;
      // The pending set is the truth about syncPending; the stored object is not rewritten per ack.
      this.#pending.delete(ack.id);
      this.#failures.delete(ack.id);
    }
    for (const entity of delta.replaced) {
      this.#write(entity);
      this.#failures.delete(entity.id);
    }
    for (const record of delta.failures) this.#failures.set(record.id, { ...record });
  }

  /** Failure records of the stored versions: scheduled ones first, then the dead letters. */
  failures(): FailureRecord[] {
    return this.#currentFailures()
      .map((record) => ({ ...record }))
      .sort((a, b) => Number(a.deadLettered) - Number(b.deadLettered) || a.failedAt - b.failedAt);
  }

  requeueFailures(ids?: readonly string[]): number {
    const requeued = this.planRequeue(ids);
    this.applyRequeue(requeued);
    return requeued.length;
  }

  /** The ids `requeueFailures(ids)` would clear. */
  planRequeue(ids?: readonly string[]): string[] {
    const wanted = ids ? new Set(ids) : undefined;
    return this.#currentFailures()
      .map((record) => record.id)
      .filter((id) => !wanted || wanted.has(id));
  }

  applyRequeue(ids: readonly string[]): void {
    for (const id of ids) this.#failures.delete(id);
  }

  /** Everything held, for a snapshot: records in change order and the failure records. */
  exportState(): { records: T[]; failures: FailureRecord[] } {
    return {
      records: Array.from(this.#rows.values(), (row) => this.#current(row)),
      failures: [...this.#failures.values()],
    };
  }

  #currentFailures(): FailureRecord[] {
    return [...this.#failures.values()].filter((r) => this.#rows.get(r.id)?.entity.version === r.version);
  }

  /** The stored record with `syncPending` as the pending set has it (acks do not rewrite the object). */
  #current(row: Row<T>): T {
    const pending = this.#pending.has(row.entity.id);
    return row.entity.syncPending === pending ? row.entity : { ...row.entity, syncPending: pending };
  }

  #copy(row: Row<T>): T {
    const copy = clone(row.entity);
    copy.syncPending = this.#pending.has(copy.id);
    return copy;
  }

  #write(entity: T): void {
    const seq = ++this.#seq;
    const id = entity.id;
    // Re-inserted so the rows, too, stay in change order (snapshots keep the outbox order across restarts).
    if (this.#rows.has(id)) {
      this.#rows.delete(id);
      this.#pending.delete(id);
    }
    this.#rows.set(id, { entity, seq });
    if (entity.syncPending) this.#pending.add(id, seq);
  }
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/** A deep copy that only holds what JSON can carry, so memory and file stores accept the same records. */
function cloneForStorage<T extends RepositoryEntity>(entity: T): T {
  let text: string | undefined;
  try {
    text = JSON.stringify(entity, (_key, value: unknown) => {
      if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
        throw new InvalidEntityError(`entity "${entity.id}" holds a ${typeof value}, which cannot be stored`);
      }
      return value;
    });
  } catch (error) {
    if (error instanceof InvalidEntityError) throw error;
    throw new InvalidEntityError(`entity "${entity.id}" cannot be serialised: ${(error as Error).message}`);
  }
  return JSON.parse(text as string) as T;
}
