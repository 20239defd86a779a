import {
  assertEntity,
  isTombstone,
  jsonProblem,
  MAX_CHECKPOINT_CHARS,
  MAX_OWN_VERSIONS,
  markSynced,
  storableCopy,
} from '../domain/entity.js';
import { InvalidEntityError, StalePageError } from '../domain/errors.js';
import type {
  FailureRecord,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  OwnVersion,
  PendingPage,
  PendingQuery,
  PulledPage,
  PulledPageOptions,
  PulledPageResult,
  ReadOptions,
  RepositoryEntity,
  SyncAck,
} from '../domain/types.js';
import { isDue, nextFailureRecord } from '../protocol/failures.js';
import { isHandedOver, planPulledPage } from '../protocol/pull-page.js';
import { recordDigest } from '../protocol/record-digest.js';
import { PendingQueue } from './pending-queue.js';

/** The changes of one commit, as stores persist them. */
export interface CommitDelta<T extends RepositoryEntity> {
  /** Acks whose version is the stored one: their pending flag is cleared. */
  synced: SyncAck[];
  stale: string[];
  /**
   * Stale acks of a version the pending record was edited on top of while it was in flight: the server holds that
   * version, so the pending change is built on it now (its `baseVersion`). Absent in journals written before bases.
   */
  rebased?: SyncAck[];
  /** Conflict resolutions to write. */
  replaced: T[];
  /** Failure records to store. */
  failures: FailureRecord[];
}

/** What a commit reports, from the delta it applied. */
export function commitResult<T extends RepositoryEntity>(delta: CommitDelta<T>): OutboxCommitResult {
  return {
    syncedIds: delta.synced.map((ack) => ack.id),
    stale: delta.stale,
    replaced: delta.replaced.map((entity) => entity.id),
    failures: delta.failures.map((record) => ({ ...record })),
  };
}

/**
 * What a pulled page changes, as stores persist it (one journal line): the records to write and remove, and the
 * pull state the collection has afterwards. Applying one twice changes nothing.
 */
export interface PageDelta<T extends RepositoryEntity> {
  put: T[];
  removed: string[];
  /** The stored checkpoint after the page; absent while a reset is still paging. */
  checkpoint?: string;
  /** A reset is in progress: the next pull starts from the beginning and drops what it does not mention. */
  resetting: boolean;
}

/** A save as stores persist it: records to write, and tombstones of records no push ever saw, removed instead. */
export interface SavePlan<T extends RepositoryEntity> {
  put: T[];
  removed: string[];
}

/** A planned page: its delta, its result, and the ids a reset in progress has now seen. */
export interface PlannedPage<T extends RepositoryEntity> {
  delta: PageDelta<T>;
  result: PulledPageResult;
  /**
   * For a reset page that is not its last: the ids it mentions, whether it starts the pull from the beginning, and
   * its checkpoint (where the reset's next page must be pulled from).
   */
  reset: { ids: string[]; start: boolean; cursor: string } | undefined;
}

/** The pull state of a collection, as a snapshot keeps it. */
export interface PullState {
  checkpoint: string | undefined;
  resetting: boolean;
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
  /**
   * Ids first saved in this process that no `pending()` page has handed out: no push can have sent any version of
   * them, so the server has none and a delete removes them at once. Not persisted: after a restart every record is
   * taken as possibly pushed.
   */
  readonly #localOnly = new Set<string>();
  /**
   * Versions of acknowledged tombstones removed before the collection's first pulled page, oldest first, at most
   * `MAX_PURGED_TOMBSTONES`: a page fetched before the delete reached the server (or a lagging server) may still
   * carry the record's older live version, which must not bring it back. In memory only, forgotten once a page is
   * applied (from then on acknowledged tombstones are kept until a pulled change covers them).
   */
  readonly #purged = new Map<string, number>();
  #seq = 0;
  #checkpoint: string | undefined;
  #resetting = false;
  /** Ids the reset pull in progress has mentioned (in memory: a reset interrupted by a restart starts over). */
  #resetSeen: Set<string> | undefined;
  /** The checkpoint of the reset pull's last page applied in this process: its next page's `since`. */
  #resetCursor: string | undefined;

  /**
   * Whether other writers share the stored records (tabs on one IndexedDB database). Any of them may have pushed a
   * record, and this index cannot know which were, so no record is taken as local only: a delete always writes a
   * tombstone for the push to send (for a record the server never had, it stores the tombstone and nothing is lost).
   */
  readonly #shared: boolean;

  constructor(options: { shared?: boolean } = {}) {
    this.#shared = options.shared ?? false;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** The record; a tombstone only with `includeDeleted`. */
  get(id: string, options?: ReadOptions): T | undefined {
    const row = this.#rows.get(id);
    if (!row || (isTombstone(row.entity) && !options?.includeDeleted)) return undefined;
    return this.#copy(row);
  }

  /** Every record; tombstones only with `includeDeleted`. */
  getAll(options?: ReadOptions): T[] {
    const all: T[] = [];
    for (const row of this.#rows.values()) {
      if (!isTombstone(row.entity) || options?.includeDeleted) all.push(this.#copy(row));
    }
    return all;
  }

  /** The stored checkpoint and whether a reset is in progress. */
  pullState(): PullState {
    return { checkpoint: this.#checkpoint, resetting: this.#resetting };
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

  /**
   * What saving prepared entities does: each is written, except a pending tombstone of a record no push has seen
   * (first saved in this process, never handed out by `pending()`), which removes the record instead: there is
   * nothing to delete on the server.
   */
  planSave(entities: readonly T[]): SavePlan<T> {
    const final = new Map<string, T | null>();
    const fresh = new Set<string>();
    for (const entity of entities) {
      const id = entity.id;
      const known = final.has(id) ? final.get(id) !== null : this.#rows.has(id);
      if (!known && !isTombstone(entity)) fresh.add(id);
      const localOnly = !this.#shared && (fresh.has(id) || this.#localOnly.has(id));
      const earlier = final.get(id);
      // Re-inserted so the last write of an id decides its place, as consecutive saves would.
      final.delete(id);
      final.set(
        id,
        isTombstone(entity) && entity.syncPending && localOnly
          ? null
          : this.#withStoredHistory(entity, earlier),
      );
    }
    const plan: SavePlan<T> = { put: [], removed: [] };
    for (const [id, entity] of final) {
      if (entity) plan.put.push(entity);
      else if (this.#rows.has(id)) plan.removed.push(id);
    }
    return plan;
  }

  /** Applies a `planSave` plan, remembering which new records no push has seen yet. */
  applySave(plan: SavePlan<T>): void {
    for (const id of plan.removed) this.delete(id);
    for (const entity of plan.put) {
      const isNew = !this.#rows.has(entity.id);
      this.#write(entity);
      if (isNew && entity.syncPending && !isTombstone(entity) && !this.#shared)
        this.#localOnly.add(entity.id);
    }
  }

  delete(id: string): boolean {
    this.#pending.delete(id);
    this.#failures.delete(id);
    this.#localOnly.delete(id);
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
      // Handed to a push from now on: the server may hold it, so a delete must reach the server.
      this.#localOnly.delete(id);
      if (items.length < query.limit) return true;
      next = seq;
      return false;
    });
    return { items, next };
  }

  /**
   * What a commit would change, without changing anything: stores persist the delta first and apply it after,
   * so nothing is visible before it is durable. Acks and failures count only for the version stored.
   */
  planCommit(commit: OutboxCommit<T>): CommitDelta<T> {
    const delta: CommitDelta<T> = { synced: [], stale: [], rebased: [], replaced: [], failures: [] };
    for (const [i, ack] of (commit.acks ?? []).entries()) {
      // Acks reach the journal (stale ones too): only what a reopen accepts may be written.
      if (typeof ack?.id !== 'string' || typeof ack.version !== 'number') {
        throw new InvalidEntityError(`ack ${i} must be { id: string, version: number }`);
      }
      const stored = this.#rows.get(ack.id)?.entity;
      if (stored?.version === ack.version) {
        delta.synced.push({ id: ack.id, version: ack.version });
        continue;
      }
      delta.stale.push(ack.id);
      if (stored && this.#rebases(stored, ack)) delta.rebased?.push({ id: ack.id, version: ack.version });
    }
    for (const write of commit.replace ?? []) {
      // Replacements come from remotes and conflict resolvers: checked here too, so no caller can write a record
      // the store could not read back, or move a version down. A bad one refuses the whole commit.
      assertEntity(write.entity, 'replacement');
      const entity = storableCopy(write.entity, `replacement "${write.entity.id}"`);
      const stored = this.#rows.get(entity.id)?.entity.version;
      if (stored !== write.expectedVersion) continue;
      // The server's copy taken as synced (server-wins) is stored at its version, which may be below the local one
      // (versions are per-writer counters); a change of ours never goes down.
      if (entity.syncPending && entity.version < stored) {
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
      // An acknowledged tombstone has done its work: removed at once (its version remembered until the first
      // pulled page), or, in a collection that pulls, kept (hidden, not pending, for good), so
      // a page pulled before the delete reached the server cannot bring the record back at an older version.
      if (isTombstone(row.entity) && !this.#pulls()) {
        this.delete(ack.id);
        this.#rememberPurged(ack.id, ack.version);
        continue;
      }
      // The pending set is the truth about syncPending; the stored object is not rewritten per ack.
      this.#pending.delete(ack.id);
      this.#failures.delete(ack.id);
      this.#localOnly.delete(ack.id);
    }
    for (const ack of delta.rebased ?? []) {
      const row = this.#rows.get(ack.id);
      if (!row || !this.#rebases(row.entity, ack)) continue;
      // Same place in the outbox, same failure record: only the server version the change builds on moves up.
      this.#rows.set(ack.id, { entity: { ...row.entity, baseVersion: ack.version }, seq: row.seq });
    }
    for (const entity of delta.replaced) {
      // The server's tombstone taken in a conflict (server-wins): the record is gone on both sides. A collection that
      // pulls keeps it as a synced tombstone, as it keeps a pulled delete (a record saved again is built on it).
      if (isTombstone(entity) && !entity.syncPending && !this.#pulls()) {
        this.delete(entity.id);
        continue;
      }
      this.#write(entity);
      this.#failures.delete(entity.id);
      this.#localOnly.delete(entity.id);
    }
    for (const record of delta.failures) this.#failures.set(record.id, { ...record });
  }

  /**
   * Plans a pulled page against the stored records (`planPulledPage`) and the pull state: a normal page stores its
   * checkpoint; a reset page (or any page from the beginning while a reset is in progress) stores none until its
   * last page, which also drops every record the reset pull did not mention and that has nothing pending. Costs
   * O(page), except a reset's last page, which walks every record once.
   *
   * Compare-and-set on the checkpoint: a page must have been pulled from where the store is. Its `since` must be
   * the stored checkpoint (`undefined` before the first pull), or, during a reset, the checkpoint of the reset's
   * last page; a reset page from the beginning is always taken (it starts the reset over). Any other page is late
   * (a slow long-poll, a retry answered late, another puller): a `StalePageError`, and nothing is written.
   */
  planPage(page: PulledPage, options: PulledPageOptions<T>): PlannedPage<T> {
    checkPage(page);
    // A collection's first pull, when it already holds records the server acknowledged, is a reset: a record the
    // server deleted and has since purged is mentioned by no page, and only a reset's end drops what was not.
    const firstPullOverSynced =
      this.#checkpoint === undefined && page.since === undefined && this.#rows.size > this.#pending.size;
    const resetting = page.reset === true || this.#resetting || firstPullOverSynced;
    const start = resetting && page.since === undefined;
    if (resetting && !start && !this.#resetSeen) {
      throw new InvalidEntityError(
        'A reset is in progress: pull again from the beginning (since undefined) to continue it',
      );
    }
    if (!start) {
      const expected = resetting ? this.#resetCursor : this.#checkpoint;
      if (page.since !== expected) throw new StalePageError(page.since, expected);
    }
    const plan = planPulledPage<T>({
      changes: page.changes,
      local: (id) => {
        const row = this.#rows.get(id);
        return row ? { record: this.#current(row), pending: this.#pending.has(id) } : undefined;
      },
      conflicts: options.conflicts,
      now: options.now,
      purged: (id) => this.#purged.get(id),
      reset: resetting,
      adoptInPlace: isHandedOver(page.changes),
    });
    const mentioned = resetting ? page.changes.map((change) => String(change.id)) : [];
    const removed = [...plan.removed];
    let dropped = 0;
    if (resetting && !page.hasMore) {
      const seen = start ? new Set<string>() : (this.#resetSeen as Set<string>);
      const here = new Set(mentioned);
      for (const id of this.#rows.keys()) {
        if (seen.has(id) || here.has(id) || this.#pending.has(id) || plan.writes.has(id)) continue;
        removed.push(id);
        dropped += 1;
      }
    }
    const finished = !resetting || !page.hasMore;
    const delta: PageDelta<T> = {
      put: [...plan.writes.values()],
      removed,
      ...(finished ? { checkpoint: page.checkpoint } : {}),
      resetting: !finished,
    };
    return {
      delta,
      result: { ...plan.counts, dropped, checkpoint: delta.checkpoint },
      reset: resetting && !finished ? { ids: mentioned, start, cursor: page.checkpoint } : undefined,
    };
  }

  /** Applies a planned page: its delta, then the reset bookkeeping kept in memory. */
  applyPlannedPage(planned: PlannedPage<T>): PulledPageResult {
    this.applyPage(planned.delta);
    if (planned.reset) {
      const seen = planned.reset.start || !this.#resetSeen ? new Set<string>() : this.#resetSeen;
      for (const id of planned.reset.ids) seen.add(id);
      this.#resetSeen = seen;
      this.#resetCursor = planned.reset.cursor;
    }
    return planned.result;
  }

  /** Applies a page delta (or replays one from a journal). */
  applyPage(delta: PageDelta<T>): void {
    for (const id of delta.removed) this.delete(id);
    for (const entity of delta.put) {
      this.#write(entity);
      this.#failures.delete(entity.id);
      this.#localOnly.delete(entity.id);
    }
    this.#checkpoint = delta.checkpoint;
    this.#resetting = delta.resetting;
    // The collection pulls from now on: acknowledged tombstones are kept until a pulled change covers them.
    this.#purged.clear();
    if (!delta.resetting) {
      this.#resetSeen = undefined;
      this.#resetCursor = undefined;
    }
  }

  /** Sets the pull state read back from a snapshot. */
  restorePullState(state: PullState): void {
    this.#checkpoint = state.checkpoint;
    this.#resetting = state.resetting;
  }

  /** Whether a failure record is held for `id`, current or not: a store deletes a failure row only where there is one. */
  hasFailureRecord(id: string): boolean {
    return this.#failures.has(id);
  }

  /** Failure records of the stored versions: scheduled ones first, then the dead letters. */
  failures(): FailureRecord[] {
    return this.#currentFailures()
      .map((record) => ({ ...record }))
      .sort((a, b) => Number(a.deadLettered) - Number(b.deadLettered) || a.failedAt - b.failedAt);
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

  /** Everything held, for a snapshot: records in change order (tombstones too), failure records, pull state. */
  exportState(): { records: T[]; failures: FailureRecord[]; pull: PullState } {
    return {
      records: Array.from(this.#rows.values(), (row) => this.#current(row)),
      failures: [...this.#failures.values()],
      pull: this.pullState(),
    };
  }

  /**
   * The bookkeeping a pending change gets from the record it replaces, whatever the caller worked out:
   * - its base is never below what the store knows the remote holds: the version of a record it has acknowledged
   *   (or that was pulled), or the base of the pending change it replaces. A caller reads the record, then writes;
   *   an ack committed in between would otherwise leave the change on an older base (or none), and the server's
   *   copy of the client's own version would later meet it as a conflict;
   * - a pending version it replaces may have been pushed with its reply lost (the server may hold it): it joins the
   *   change's `ownVersions` with its fingerprint, so the server and the pull know it for the client's own write.
   */
  #withStoredHistory(entity: T, earlierInBatch: T | null | undefined): T {
    if (!entity.syncPending) return entity;
    let previous: T | undefined;
    let previousPending = false;
    if (earlierInBatch !== undefined) {
      previous = earlierInBatch ?? undefined;
      previousPending = previous?.syncPending === true;
    } else {
      previous = this.#rows.get(entity.id)?.entity;
      // The pending set is the truth about a stored record (an ack does not rewrite the object).
      previousPending = this.#pending.has(entity.id);
    }
    if (!previous || previous.version >= entity.version) return entity;
    const floor = previousPending ? previous.baseVersion : previous.version;
    let next = entity;
    if (floor !== undefined && floor < entity.version && (entity.baseVersion ?? -1) < floor) {
      next = { ...next, baseVersion: floor };
    }
    if (previousPending) {
      const base = next.baseVersion ?? -1;
      const known = new Map<number, OwnVersion>();
      for (const own of [...(previous.ownVersions ?? []), ...(entity.ownVersions ?? [])])
        known.set(own.version, own);
      known.set(previous.version, { version: previous.version, digest: recordDigest(previous) });
      const ownVersions = [...known.values()]
        .filter((own) => own.version > base && own.version < entity.version)
        .sort((x, y) => x.version - y.version)
        .slice(-MAX_OWN_VERSIONS);
      next = { ...next, ownVersions };
    }
    return next;
  }

  /**
   * Whether a stale ack of `ack.version` makes it the base of the pending `stored`: a later local version, built on
   * an older base (or none). The acknowledged version was this record's own, so its later versions build on it.
   */
  #rebases(stored: T, ack: SyncAck): boolean {
    return (
      this.#pending.has(stored.id) && stored.version > ack.version && (stored.baseVersion ?? -1) < ack.version
    );
  }

  #rememberPurged(id: string, version: number): void {
    this.#purged.delete(id);
    if (this.#purged.size >= MAX_PURGED_TOMBSTONES) {
      const oldest = this.#purged.keys().next();
      if (!oldest.done) this.#purged.delete(oldest.value);
    }
    this.#purged.set(id, version);
  }

  /** Whether this collection pulls: it has stored a checkpoint, or a reset is in progress. */
  #pulls(): boolean {
    return this.#checkpoint !== undefined || this.#resetting;
  }

  #currentFailures(): FailureRecord[] {
    return [...this.#failures.values()].filter((r) => this.#rows.get(r.id)?.entity.version === r.version);
  }

  /**
   * The stored record with `syncPending` as the pending set has it (acks do not rewrite the object), and no
   * `baseVersion` once synced.
   */
  #current(row: Row<T>): T {
    // Only a pending record is in the pending set (`#write`), so the two differ only once its version was acked.
    const { entity } = row;
    if (this.#pending.has(entity.id)) return entity;
    return entity.syncPending || entity.baseVersion !== undefined || entity.ownVersions !== undefined
      ? markSynced(entity)
      : entity;
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

/** The most tombstone versions a collection remembers between their removal and its first pulled page. */
export const MAX_PURGED_TOMBSTONES = 10_000;

/** A page must carry what the store will persist: refused whole (nothing applied) otherwise. */
function checkPage(page: PulledPage): void {
  if (typeof page !== 'object' || page === null)
    throw new InvalidEntityError('A pulled page must be an object');
  if (!Array.isArray(page.changes)) throw new InvalidEntityError('A pulled page needs an array of changes');
  if (typeof page.hasMore !== 'boolean')
    throw new InvalidEntityError('A pulled page needs a boolean hasMore');
  checkCheckpoint(page.checkpoint, 'A pulled page');
  if (page.since !== undefined) checkCheckpoint(page.since, "A pulled page's since");
}

/** Throws `InvalidEntityError` unless `value` is a checkpoint a store keeps: a non-empty string, not too long. */
export function checkCheckpoint(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CHECKPOINT_CHARS) {
    throw new InvalidEntityError(
      `${where} needs a checkpoint of 1 to ${MAX_CHECKPOINT_CHARS} characters, got ${typeof value === 'string' ? `${value.length} characters` : typeof value}`,
    );
  }
  return value;
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
export function assertStoredEntity(
  value: unknown,
  where: string,
  options: { shallow?: boolean } = {},
): asserts value is RepositoryEntity {
  assertEntity(value, where);
  // Parsed JSON holds only what JSON carries, so once its text is known to be shallow nothing is left to walk.
  if (options.shallow) return;
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

/** A page delta read back from a journal, checked whole; throws `InvalidEntityError` saying what is wrong. */
export function validatePageDelta(value: unknown): PageDelta<RepositoryEntity> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidEntityError('its page delta must be an object');
  }
  const d = value as Record<string, unknown>;
  if (!Array.isArray(d.put)) throw new InvalidEntityError("its page delta's put must be an array");
  d.put.forEach((entity, i) => {
    assertStoredEntity(entity, `its page delta's put[${i}]`);
  });
  if (!Array.isArray(d.removed) || !d.removed.every((id) => typeof id === 'string')) {
    throw new InvalidEntityError("its page delta's removed must be an array of string ids");
  }
  if (typeof d.resetting !== 'boolean')
    throw new InvalidEntityError("its page delta's resetting must be a boolean");
  const checkpoint =
    d.checkpoint === undefined ? undefined : checkCheckpoint(d.checkpoint, "its page delta's checkpoint");
  if (checkpoint === undefined && !d.resetting) {
    throw new InvalidEntityError('its page delta has no checkpoint, and no reset is in progress');
  }
  return {
    put: d.put as RepositoryEntity[],
    removed: d.removed as string[],
    ...(checkpoint === undefined ? {} : { checkpoint }),
    resetting: d.resetting,
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
  // Absent in lines written before bases existed.
  const rebased = (d.rebased === undefined ? [] : list('rebased')).map((ack, i): SyncAck => {
    const a = (typeof ack === 'object' && ack !== null ? ack : {}) as Record<string, unknown>;
    if (typeof a.id !== 'string' || !isVersion(a.version)) {
      throw new InvalidEntityError(`its delta's rebased[${i}] must be an { id, version } ack`);
    }
    return { id: a.id, version: a.version };
  });
  return { synced, stale, rebased, replaced: replaced as RepositoryEntity[], failures };
}
