import { randomBytes } from 'node:crypto';
import type { ItemResult, RepositoryEntity } from '../domain/types.js';
import {
  ChangeFeed,
  type ChangeFeedSnapshot,
  type ChangesPage,
  type FeedChange,
  type FeedItem,
} from './change-feed.js';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint.js';
import { isTombstone, nextStored, planWrites, resetReason } from './version-rules.js';

/** One record as the server holds it. */
export interface StoredItem {
  item: RepositoryEntity;
  /** How many times a version of this record was applied; proves nothing was applied twice. */
  appliedCount: number;
  /** The versions applied, in order: the last `APPLIED_VERSIONS_KEPT` (32) of them. */
  appliedVersions: number[];
}

/** The state as persisted. `epoch` and `feeds` are absent from files written before the change feed. */
export interface SyncServerSnapshot {
  format: 'actorsync-server';
  items: Record<string, Record<string, StoredItem>>;
  replies: Record<string, { digest: string; reply: ItemResult[] }>;
  epoch?: string;
  feeds?: Record<string, ChangeFeedSnapshot>;
}

export interface SyncServerStateOptions {
  /** How long a tombstone is served after it was stored, in ms. Default 7 days. */
  tombstoneRetentionMs?: number;
  /** The clock tombstones are dated and expired by. Default `Date.now`. */
  now?: () => number;
}

/** The default `tombstoneRetentionMs`: 7 days. */
export const DEFAULT_TOMBSTONE_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** What a read of the change feed gives: a page, or why the checkpoint cannot be served. */
export type ChangesRead =
  | { status: 'page'; page: ChangesPage }
  /** Not a checkpoint this server could have written: a 400. */
  | { status: 'malformed'; error: string }
  /** A checkpoint this state can no longer serve: the client must pull again from the beginning (a 410). */
  | { status: 'reset'; error: string };

/** What applying one batch will do (see `SyncServerState.plan`). */
export interface BatchPlan<T extends RepositoryEntity = RepositoryEntity> {
  readonly key: string;
  readonly entityType: string;
  readonly digest: string;
  /** The batch was applied before: `reply` is the stored one and nothing is written. */
  readonly duplicate: boolean;
  readonly writes: ReadonlyMap<string, StoredItem>;
  readonly reply: ItemResult<T>[];
  /** When the plan was made: the time its tombstones are stored at. */
  readonly at: number;
}

/**
 * The server side of the sync protocol, without transport: applies each item once, checks versions, and
 * remembers every batch's reply by its id so a retried batch is answered without being applied again. Every write
 * also moves its record to the end of its type's change feed, which serves pulls page by page.
 */
export class SyncServerState {
  readonly #items = new Map<string, Map<string, StoredItem>>();
  readonly #feeds = new Map<string, ChangeFeed>();
  readonly #replies = new Map<string, { digest: string; reply: ItemResult[] }>();
  readonly #listeners = new Set<(entityType: string) => void>();
  readonly #retentionMs: number;
  readonly #now: () => number;
  #epoch: string;
  #batchesApplied = 0;
  #duplicateBatches = 0;

  constructor(options: SyncServerStateOptions = {}) {
    const retention = options.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
    if (!(retention >= 0)) throw new RangeError(`tombstoneRetentionMs must be at least 0, got ${retention}`);
    this.#retentionMs = retention;
    this.#now = options.now ?? Date.now;
    this.#epoch = randomBytes(12).toString('base64url');
  }

  /** Names this state: checkpoints of any other state (a memory server restarted empty) are answered "reset". */
  get epoch(): string {
    return this.#epoch;
  }

  get batchesApplied(): number {
    return this.#batchesApplied;
  }

  /** Batches answered from the idempotency store instead of being applied. */
  get duplicateBatches(): number {
    return this.#duplicateBatches;
  }

  /** The reply a batch got, if it was applied. */
  replyFor(entityType: string, batchId: string): ItemResult[] | undefined {
    return this.#replies.get(`${entityType}\u0000${batchId}`)?.reply;
  }

  /** Whether `batchId` was applied with a different batch (`digest` of its items): a reused key. */
  isKeyReused(entityType: string, batchId: string, digest: string): boolean {
    const previous = this.#replies.get(`${entityType}\u0000${batchId}`);
    return previous !== undefined && previous.digest !== digest;
  }

  /**
   * Applies a batch all or nothing: `plan` then `commit`. An error while planning (a bug, a throwing `reject`)
   * leaves the state as it was.
   */
  apply<T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject?: (item: T) => { error: string; retryable: boolean } | undefined,
    digest = '',
  ): ItemResult<T>[] {
    return this.commit(this.plan(entityType, batchId, items, reject, digest));
  }

  /**
   * Everything applying a batch would do, computed without changing the state: its reply and its writes, or the
   * stored reply of a batch already applied. Persist `toJSON(plan)` first, then `commit(plan)`, so a write that
   * fails leaves nothing of the batch applied.
   */
  plan<T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject?: (item: T) => { error: string; retryable: boolean } | undefined,
    digest = '',
  ): BatchPlan<T> {
    const key = `${entityType}\u0000${batchId}`;
    const previous = this.#replies.get(key);
    if (previous) {
      return {
        key,
        entityType,
        digest,
        duplicate: true,
        writes: new Map(),
        reply: previous.reply as ItemResult<T>[],
        at: this.#now(),
      };
    }
    // Housekeeping, not part of the batch: an expired tombstone is gone whether or not the batch is applied.
    this.#purgeExpired(entityType);
    const table = this.#items.get(entityType);
    const { writes, reply } = planWrites(items, (id) => table?.get(id), reject);
    return { key, entityType, digest, duplicate: false, writes, reply, at: this.#now() };
  }

  /**
   * Makes a plan the state, and returns the batch's reply (a copy). Only for a plan made against the current
   * state: nothing may be applied between `plan` and `commit`.
   */
  commit<T extends RepositoryEntity>(plan: BatchPlan<T>): ItemResult<T>[] {
    if (plan.duplicate) {
      this.#duplicateBatches += 1;
      return structuredClone(plan.reply);
    }
    const answer = structuredClone(plan.reply);
    // Everything was computed by `plan`; from here on nothing can fail.
    this.#commit(plan.entityType, plan.writes, plan.at);
    this.#replies.set(plan.key, { digest: plan.digest, reply: plan.reply });
    this.#batchesApplied += 1;
    return answer;
  }

  /**
   * Writes a record as another client would, whatever its version (tests use it to cause conflicts and to feed
   * pulls); `deleted: true` stores a tombstone.
   */
  put(entityType: string, item: RepositoryEntity & { deleted?: boolean }): void {
    this.#purgeExpired(entityType);
    const stored = this.#items.get(entityType)?.get(item.id);
    this.#commit(entityType, new Map([[item.id, nextStored(stored, item)]]), this.#now());
  }

  /** The record or tombstone stored under `id`, as it is (expired tombstones included until purged). */
  get(entityType: string, id: string): StoredItem | undefined {
    const stored = this.#items.get(entityType)?.get(id);
    return stored ? structuredClone(stored) : undefined;
  }

  /** The live records of a type: tombstones are left out (they are served by the change feed). */
  list(entityType: string): StoredItem[] {
    this.#purgeExpired(entityType);
    return [...(this.#items.get(entityType)?.values() ?? [])]
      .filter((stored) => !isTombstone(stored.item))
      .map((stored) => structuredClone(stored));
  }

  /** The tombstones of a type still within their retention. */
  tombstones(entityType: string): StoredItem[] {
    this.#purgeExpired(entityType);
    return [...(this.#items.get(entityType)?.values() ?? [])]
      .filter((stored) => isTombstone(stored.item))
      .map((stored) => structuredClone(stored));
  }

  /**
   * The changes of a type after the checkpoint `since` (from the beginning when `undefined` or empty), at most
   * `limit` of them. O(log n + limit): a binary search in the type's feed, then the page.
   */
  changes(entityType: string, since: string | undefined, limit: number): ChangesRead {
    const decoded = since ? decodeCheckpoint(since) : undefined;
    if (since && !decoded) return { status: 'malformed', error: 'since is not a checkpoint of this server' };
    this.#purgeExpired(entityType);
    const feed = this.#feeds.get(entityType) ?? new ChangeFeed();
    // From the beginning, every live record and kept tombstone is served: nothing purged so far was missed.
    const checkpoint = decoded ?? { epoch: this.#epoch, seq: 0, floor: feed.horizon };
    const reset = decoded ? resetReason(decoded, this.#epoch, feed) : undefined;
    if (reset) return { status: 'reset', error: reset };
    const table = this.#items.get(entityType);
    const { entries, hasMore } = feed.after(checkpoint.seq, limit);
    const changes = entries.map(({ id }): FeedChange => {
      // The feed only holds ids of the table: every write records both, every purge removes both.
      const item = structuredClone(table?.get(id)?.item) as FeedItem;
      return { id, version: item.version, deleted: item.deleted === true, item };
    });
    const last = entries.at(-1)?.seq ?? feed.head;
    // Not reset: every purge so far is at or below max(seq, floor), which this client is consistent with.
    const floor = Math.max(checkpoint.floor, feed.horizon);
    return {
      status: 'page',
      page: { changes, checkpoint: encodeCheckpoint({ epoch: this.#epoch, seq: last, floor }), hasMore },
    };
  }

  /** Calls `listener` with the entity type after every committed write; returns the unsubscribe function. */
  watch(listener: (entityType: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The state as persisted; with a plan, the state as it will be once the plan is committed. */
  toJSON(pending?: BatchPlan<RepositoryEntity>): SyncServerSnapshot {
    const items: SyncServerSnapshot['items'] = {};
    for (const [type, table] of this.#items) items[type] = Object.fromEntries(table);
    const replies = Object.fromEntries(this.#replies);
    const feeds: Record<string, ChangeFeedSnapshot> = {};
    for (const [type, feed] of this.#feeds) feeds[type] = feed.toJSON();
    if (pending && !pending.duplicate) {
      items[pending.entityType] = { ...items[pending.entityType], ...Object.fromEntries(pending.writes) };
      replies[pending.key] = { digest: pending.digest, reply: pending.reply };
      const writes = [...pending.writes].map(([id, write]) => ({ id, deleted: isTombstone(write.item) }));
      const feed = this.#feeds.get(pending.entityType) ?? new ChangeFeed();
      feeds[pending.entityType] = feed.toJSON({ writes, at: pending.at });
    }
    return { format: 'actorsync-server', items, replies, epoch: this.#epoch, feeds };
  }

  /**
   * The state a snapshot describes. A snapshot without an epoch (written before the change feed) gets a new one,
   * and its records enter the feed in the order the file lists them.
   */
  static fromJSON(snapshot: SyncServerSnapshot, options: SyncServerStateOptions = {}): SyncServerState {
    const state = new SyncServerState(options);
    if (typeof snapshot.epoch === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(snapshot.epoch)) {
      state.#epoch = snapshot.epoch;
    }
    const now = state.#now();
    for (const [type, table] of Object.entries(snapshot.items)) {
      const records = new Map(Object.entries(table));
      state.#items.set(type, records);
      const tombstoneIds = new Set(
        [...records].filter(([, stored]) => isTombstone(stored.item)).map(([id]) => id),
      );
      state.#feeds.set(type, ChangeFeed.fromJSON(snapshot.feeds?.[type], records.keys(), tombstoneIds, now));
    }
    for (const [key, entry] of Object.entries(snapshot.replies)) state.#replies.set(key, entry);
    return state;
  }

  /** Stores `writes` and moves each to the end of the type's feed, then tells the watchers. */
  #commit(entityType: string, writes: ReadonlyMap<string, StoredItem>, at: number): void {
    if (writes.size === 0) return;
    const table = this.#table(entityType);
    const feed = this.#feed(entityType);
    for (const [id, write] of writes) {
      table.set(id, write);
      feed.record(id, isTombstone(write.item) ? at : undefined);
    }
    for (const listener of this.#listeners) listener(entityType);
  }

  /** Forgets the type's tombstones older than the retention: lazily, whenever the type is read or written. */
  #purgeExpired(entityType: string): void {
    const feed = this.#feeds.get(entityType);
    if (!feed) return;
    const table = this.#items.get(entityType);
    for (const id of feed.purge(this.#now() - this.#retentionMs)) table?.delete(id);
  }

  #feed(entityType: string): ChangeFeed {
    let feed = this.#feeds.get(entityType);
    if (!feed) {
      feed = new ChangeFeed();
      this.#feeds.set(entityType, feed);
    }
    return feed;
  }

  #table(entityType: string): Map<string, StoredItem> {
    let table = this.#items.get(entityType);
    if (!table) {
      table = new Map();
      this.#items.set(entityType, table);
    }
    return table;
  }
}
