import { assertEntity } from '../domain/entity.js';
import { InvalidEntityError } from '../domain/errors.js';
import type {
  FailureRecord,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  PendingQuery,
  RepositoryEntity,
} from '../domain/types.js';
import { isDue, nextFailureRecord } from '../protocol/failures.js';

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
  /** Pending ids in change order: a Map keeps insertion order, and every change re-inserts. */
  readonly #pending = new Map<string, number>();
  readonly #failures = new Map<string, FailureRecord>();
  #seq = 0;

  get size(): number {
    return this.#rows.size;
  }

  get(id: string): T | undefined {
    const row = this.#rows.get(id);
    return row ? clone(row.entity) : undefined;
  }

  getAll(): T[] {
    return Array.from(this.#rows.values(), (row) => clone(row.entity));
  }

  /** Validates and copies first, so a bad entity in a set leaves the store untouched. */
  prepare(entities: readonly T[]): T[] {
    return entities.map((entity, index) => {
      assertEntity(entity, entities.length > 1 ? `entity ${index}` : 'entity');
      return cloneForStorage(entity);
    });
  }

  /** Stores entities already passed through `prepare`. */
  put(entities: readonly T[]): void {
    for (const entity of entities) this.#write(entity);
  }

  delete(id: string): boolean {
    this.#pending.delete(id);
    this.#failures.delete(id);
    return this.#rows.delete(id);
  }

  outbox(now: number): OutboxSnapshot {
    let total = 0;
    for (const id of this.#pending.keys()) {
      const row = this.#rows.get(id);
      if (row && isDue(row.entity, this.#failures.get(id), now)) total += 1;
    }
    return { total, pending: this.#pending.size, highWater: this.#seq };
  }

  pending(query: PendingQuery): PendingPage<T> {
    const items: T[] = [];
    const after = query.after ?? 0;
    const upTo = query.upTo ?? Number.POSITIVE_INFINITY;
    for (const [id, seq] of this.#pending) {
      if (seq <= after) continue;
      if (seq > upTo) break;
      const row = this.#rows.get(id);
      if (!row || !isDue(row.entity, this.#failures.get(id), query.now)) continue;
      items.push(clone(row.entity));
      if (items.length >= query.limit) return { items, next: seq };
    }
    return { items, next: undefined };
  }

  commit(commit: OutboxCommit<T>): OutboxCommitResult {
    const result: OutboxCommitResult = { synced: [], stale: [], replaced: [], failures: [] };
    for (const ack of commit.synced ?? []) {
      const row = this.#rows.get(ack.id);
      if (row && row.entity.version === ack.version) {
        if (row.entity.syncPending) row.entity = { ...row.entity, syncPending: false };
        this.#pending.delete(ack.id);
        this.#failures.delete(ack.id);
        result.synced.push(ack.id);
      } else {
        result.stale.push(ack.id);
      }
    }
    for (const write of commit.replace ?? []) {
      const row = this.#rows.get(write.entity.id);
      if (row && row.entity.version === write.expectedVersion) {
        this.#write(cloneForStorage(write.entity));
        this.#failures.delete(write.entity.id);
        result.replaced.push(write.entity.id);
      }
    }
    if (commit.failures?.length) {
      const policy = commit.failurePolicy;
      if (!policy) throw new TypeError('OutboxCommit.failurePolicy is required with failures');
      for (const failure of commit.failures) {
        const record = nextFailureRecord(this.#failures.get(failure.id), failure, commit.now, policy);
        // Only a failure of the stored version matters; an item edited meanwhile gets a fresh start.
        if (this.#rows.get(failure.id)?.entity.version === failure.version)
          this.#failures.set(failure.id, record);
        result.failures.push({ ...record });
      }
    }
    return result;
  }

  /** Failure records of the stored versions: scheduled ones first, then the dead letters. */
  failures(): FailureRecord[] {
    return this.#currentFailures()
      .map((record) => ({ ...record }))
      .sort((a, b) => Number(a.deadLettered) - Number(b.deadLettered) || a.failedAt - b.failedAt);
  }

  requeueFailures(ids?: readonly string[]): number {
    const wanted = ids ? new Set(ids) : undefined;
    let count = 0;
    for (const record of this.#currentFailures()) {
      if (wanted && !wanted.has(record.id)) continue;
      this.#failures.delete(record.id);
      count += 1;
    }
    return count;
  }

  /** Restores a failure record as persisted (stores only). */
  restoreFailure(record: FailureRecord): void {
    this.#failures.set(record.id, { ...record });
  }

  #currentFailures(): FailureRecord[] {
    return [...this.#failures.values()].filter((r) => this.#rows.get(r.id)?.entity.version === r.version);
  }

  #write(entity: T): void {
    const seq = ++this.#seq;
    this.#rows.set(entity.id, { entity, seq });
    this.#pending.delete(entity.id);
    if (entity.syncPending) this.#pending.set(entity.id, seq);
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
