import { assertEntity, jsonProblem, markSynced, storableCopy } from '../domain/entity.js';
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
      return storableCopy(entity, `entity "${entity.id}"`);
    });
  }

  /**
   * Validates records read back from a store's own file, without the copy `prepare` makes: they were JSON a
   * moment ago, so nothing else holds them.
   */
  adopt(entities: readonly T[]): T[] {
    entities.forEach((entity, index) => {
      assertStoredEntity(entity, entities.length > 1 ? `entity ${index}` : 'entity');
    });
    return entities as T[];
  }

  /** Stores entities already passed through `prepare` or `adopt` (or checked with `assertStoredEntity`). */
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
    for (const [i, ack] of (commit.synced ?? []).entries()) {
      // Acks reach the journal (stale ones too): only what a reopen accepts may be written.
      if (typeof ack?.id !== 'string' || typeof ack.version !== 'number') {
        throw new InvalidEntityError(`ack ${i} must be { id: string, version: number }`);
      }
      if (this.#rows.get(ack.id)?.entity.version === ack.version)
        delta.synced.push({ id: ack.id, version: ack.version });
      else delta.stale.push(ack.id);
    }
    for (const write of commit.replace ?? []) {
      // Replacements come from remotes and conflict resolvers: checked here too, so no caller can write a record
      // the store could not read back, or move a version down. A bad one refuses the whole commit.
      assertEntity(write.entity, 'replacement');
      const entity = storableCopy(write.entity, `replacement "${write.entity.id}"`);
      const stored = this.#rows.get(entity.id)?.entity.version;
      if (stored !== write.expectedVersion) continue;
      if (entity.version < stored) {
        throw new InvalidEntityError(
          `replacement "${entity.id}" has version ${entity.version}, below the stored ${stored}`,
        );
      }
      delta.replaced.push(entity);
    }
    if (commit.failures?.length) {
      const policy = commit.failurePolicy;
      if (!policy) throw new TypeError('OutboxCommit.failurePolicy is required with failures');
      for (const failure of commit.failures) {
        if (this.#rows.get(failure.id)?.entity.version !== failure.version) continue;
        const record = nextFailureRecord(this.#failures.get(failure.id), failure, commit.now, policy);
        // Checked as a reopen will check it: a bad policy or clock fails this commit, not the next open.
        delta.failures.push(validateFailureRecord(record, 'failure record'));
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
    // Only a pending record is in the pending set (`#write`), so the two differ only once its version was acked.
    return row.entity.syncPending && !this.#pending.has(row.entity.id) ? markSynced(row.entity) : row.entity;
  }

  #copy(row: Row<T>): T {
    return clone(this.#current(row));
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

/**
 * The deepest nesting accepted in what a store reads back. Above `MAX_ENTITY_DEPTH` (what new writes may have),
 * so records an earlier version wrote still load, and well below what `structuredClone` and `JSON.stringify`
 * overflow on (about 2,000 levels), so whatever loads can also be read and compacted.
 */
export const MAX_STORED_DEPTH = 512;

/** `assertEntity` for stored data: also refuses what JSON cannot carry back and nesting past `MAX_STORED_DEPTH`. */
export function assertStoredEntity(value: unknown, where: string): asserts value is RepositoryEntity {
  assertEntity(value, where);
  const problem = jsonProblem(value, MAX_STORED_DEPTH);
  if (problem) throw new InvalidEntityError(`${where} "${value.id}" cannot be kept: ${problem}`);
}

/** Fields of a stored failure record, for the messages that refuse one. */
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * A failure record read back from a store file, checked field by field and copied without anything else it
 * carried; throws `InvalidEntityError` saying what is wrong. A record is trusted whole or not at all: one with a
 * wrong field could hold an item back forever, or let it go before its time. Every shape an earlier version wrote
 * is accepted: it stored a non-finite next attempt or clock (a policy or clock returning `Infinity` or `NaN`) as
 * `null`. A missing or `null` next attempt is none, so the item is due (as that version read it back, and as the
 * record is written again after that); a `null` clock is 0.
 */
export function validateFailureRecord(value: unknown, where: string): FailureRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEntityError(`${where} must be an object, got ${value === null ? 'null' : typeof value}`);
  }
  const r = value as Record<string, unknown>;
  const fail = (reason: string): never => {
    throw new InvalidEntityError(`${where} ${typeof r.id === 'string' ? `"${r.id}" ` : ''}${reason}`);
  };
  if (typeof r.id !== 'string' || r.id.length === 0) return fail('needs a non-empty string id');
  if (!isVersion(r.version)) return fail('needs a non-negative number version');
  if (!isCount(r.attempts) || r.attempts < 1) return fail('needs a whole number of attempts, at least 1');
  if (typeof r.lastError !== 'string') return fail('needs a string lastError');
  if (typeof r.retryable !== 'boolean') return fail('needs a boolean retryable');
  if (typeof r.deadLettered !== 'boolean') return fail('needs a boolean deadLettered');
  if (!isTime(r.failedAt) && r.failedAt !== null) return fail('needs a number failedAt');
  // A dead letter has no next attempt (JSON drops an undefined field); anything else may have one.
  const next = r.nextAttemptAt;
  if (r.deadLettered && next !== undefined) return fail('is dead-lettered but has a nextAttemptAt');
  if (!isTime(next) && next !== undefined && next !== null)
    return fail('needs a number nextAttemptAt, or none');
  return {
    id: r.id,
    version: r.version,
    attempts: r.attempts,
    lastError: r.lastError,
    retryable: r.retryable,
    nextAttemptAt: isTime(next) ? next : undefined,
    deadLettered: r.deadLettered,
    failedAt: isTime(r.failedAt) ? r.failedAt : 0,
  };
}

/** A commit delta read back from a journal, checked whole; throws `InvalidEntityError` saying what is wrong. */
export function validateCommitDelta(value: unknown): CommitDelta<RepositoryEntity> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEntityError('its delta must be an object');
  }
  const d = value as Record<string, unknown>;
  const list = (field: string): unknown[] => {
    const items = d[field];
    if (!Array.isArray(items)) throw new InvalidEntityError(`its delta's ${field} must be an array`);
    return items;
  };
  const synced = list('synced').map((ack, i): SyncAck => {
    const a = (typeof ack === 'object' && ack !== null ? ack : {}) as Record<string, unknown>;
    if (typeof a.id !== 'string' || !isVersion(a.version)) {
      throw new InvalidEntityError(`its delta's synced[${i}] must be an { id, version } ack`);
    }
    return { id: a.id, version: a.version };
  });
  const stale = list('stale').map((id, i) => {
    if (typeof id !== 'string') throw new InvalidEntityError(`its delta's stale[${i}] must be a string id`);
    return id;
  });
  const replaced = list('replaced');
  replaced.forEach((entity, i) => {
    assertStoredEntity(entity, `its delta's replaced[${i}]`);
  });
  const failures = list('failures').map((record, i) =>
    validateFailureRecord(record, `its delta's failures[${i}]`),
  );
  return { synced, stale, replaced: replaced as RepositoryEntity[], failures };
}
