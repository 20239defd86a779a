import type { RepositoryEntity } from '../domain/types.js';
import { PendingQueue } from '../store/pending-queue.js';

/** A record as the change feed serves it: a tombstone carries `deleted: true` and only its bookkeeping fields. */
export type FeedItem = RepositoryEntity & { deleted?: true; [field: string]: unknown };

/** One change of `GET /v1/changes/{entityType}`: the latest version of one record (docs/protocol.md). */
export interface FeedChange {
  id: string;
  version: number;
  deleted: boolean;
  item: FeedItem;
}

/** The body of a `200` from `GET /v1/changes/{entityType}`. */
export interface ChangesPage {
  changes: FeedChange[];
  /** Opaque: where the next request starts (`since`). Just past the last change, or the head on an empty page. */
  checkpoint: string;
  /** More changes follow this page right now. */
  hasMore: boolean;
}

/** The body of the `410` that tells a client its checkpoint cannot be served: pull again from the beginning. */
export interface ChangesResetBody {
  error: string;
  reset: true;
}

/** One type's feed as persisted. */
export interface ChangeFeedSnapshot {
  /** The last sequence number given out. */
  head: number;
  /** The highest sequence number of a purged tombstone (0: none purged). */
  horizon: number;
  /** `[id, seq]` of every record's latest change, ascending by seq. */
  order: [string, number][];
  /** id → when its tombstone was stored (epoch ms), for tombstones only. */
  deletedAt: Record<string, number>;
}

/**
 * The order of one entity type's changes: every write gives its id the next sequence number and moves it to the end,
 * so the feed holds at most the latest change per id, in commit order. Lookups after a checkpoint are a binary search
 * plus the page (`PendingQueue`), whatever the number of records. Tombstones are also kept in their own queue, oldest
 * first, so purging the expired ones costs only what is purged.
 */
export class ChangeFeed {
  #head = 0;
  #horizon = 0;
  readonly #order = new PendingQueue();
  readonly #tombstones = new PendingQueue();
  readonly #deletedAt = new Map<string, number>();
  /** Purging stops at the first tombstone not yet expired, so delete times must never go down. */
  #lastDeletedAt = 0;

  get head(): number {
    return this.#head;
  }

  /** A checkpoint below this missed a delete that is no longer served. */
  get horizon(): number {
    return this.#horizon;
  }

  /** Records a write of `id` (a tombstone when `deletedAt` is given) and returns its sequence number. */
  record(id: string, deletedAt?: number): number {
    this.#head += 1;
    const seq = this.#head;
    this.#order.add(id, seq);
    if (deletedAt === undefined) {
      this.#tombstones.delete(id);
      this.#deletedAt.delete(id);
    } else {
      this.#lastDeletedAt = Math.max(this.#lastDeletedAt, deletedAt);
      this.#tombstones.add(id, seq);
      this.#deletedAt.set(id, this.#lastDeletedAt);
    }
    return seq;
  }

  /** Up to `limit` ids whose latest change comes after `after`, in order, and whether more follow. */
  after(after: number, limit: number): { entries: { id: string; seq: number }[]; hasMore: boolean } {
    const entries: { id: string; seq: number }[] = [];
    let hasMore = false;
    this.#order.forEachAfter(after, (id, seq) => {
      if (entries.length === limit) {
        hasMore = true;
        return false;
      }
      entries.push({ id, seq });
      return true;
    });
    return { entries, hasMore };
  }

  /** Forgets the tombstones stored at or before `cutoff`, oldest first, and returns their ids. */
  purge(cutoff: number): string[] {
    const purged: { id: string; seq: number }[] = [];
    this.#tombstones.forEachAfter(this.#horizon, (id, seq) => {
      if ((this.#deletedAt.get(id) as number) > cutoff) return false;
      purged.push({ id, seq });
      return true;
    });
    for (const { id, seq } of purged) {
      this.#order.delete(id);
      this.#tombstones.delete(id);
      this.#deletedAt.delete(id);
      this.#horizon = seq;
    }
    return purged.map(({ id }) => id);
  }

  /** The feed as persisted; with `pending` writes, as it will be once they are recorded (in their order). */
  toJSON(pending?: { writes: readonly { id: string; deleted: boolean }[]; at: number }): ChangeFeedSnapshot {
    const moved = new Set(pending?.writes.map(({ id }) => id));
    const order: [string, number][] = [];
    this.#order.forEachAfter(0, (id, seq) => {
      if (!moved.has(id)) order.push([id, seq]);
      return true;
    });
    const deletedAt = Object.fromEntries(this.#deletedAt);
    let head = this.#head;
    for (const { id, deleted } of pending?.writes ?? []) {
      head += 1;
      order.push([id, head]);
      if (deleted) deletedAt[id] = Math.max(this.#lastDeletedAt, pending?.at ?? 0);
      else delete deletedAt[id];
    }
    return { head, horizon: this.#horizon, order, deletedAt };
  }

  /**
   * The feed of `ids` (the records a file holds) from its snapshot. An id the snapshot does not place (a file
   * written before the feed existed) is appended after the head, as if written now; a tombstone without a delete
   * time is dated `now`.
   */
  static fromJSON(
    snapshot: ChangeFeedSnapshot | undefined,
    ids: Iterable<string>,
    tombstoneIds: ReadonlySet<string>,
    now: number,
  ): ChangeFeed {
    const feed = new ChangeFeed();
    const known = new Set(ids);
    const placed = (snapshot?.order ?? [])
      .filter(([id, seq]) => known.has(id) && Number.isSafeInteger(seq) && seq > 0)
      .sort((a, b) => a[1] - b[1]);
    const seen = new Set<string>();
    let last = 0;
    for (const [id, seq] of placed) {
      if (seen.has(id) || seq === last) continue;
      seen.add(id);
      last = seq;
      feed.#place(id, seq, tombstoneIds.has(id) ? (snapshot?.deletedAt[id] ?? now) : undefined);
    }
    feed.#head = Math.max(last, Number.isSafeInteger(snapshot?.head) ? (snapshot?.head as number) : 0);
    feed.#horizon = Number.isSafeInteger(snapshot?.horizon) ? (snapshot?.horizon as number) : 0;
    for (const id of known) {
      if (!seen.has(id)) feed.record(id, tombstoneIds.has(id) ? now : undefined);
    }
    return feed;
  }

  #place(id: string, seq: number, deletedAt: number | undefined): void {
    this.#order.add(id, seq);
    if (deletedAt === undefined) return;
    this.#lastDeletedAt = Math.max(this.#lastDeletedAt, deletedAt);
    this.#tombstones.add(id, seq);
    this.#deletedAt.set(id, this.#lastDeletedAt);
  }
}
