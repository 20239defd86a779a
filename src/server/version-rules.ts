/**
 * The server's rules for writes and checkpoints (docs/protocol.md, "Versions and conflicts" and "Pulling changes"),
 * as pure functions: every server store (memory, PostgreSQL) decides with these, so they answer alike.
 */
import type { ItemResult, RepositoryEntity } from '../domain/types.js';
import { recordDigest } from '../protocol/record-digest.js';
import type { Checkpoint } from './checkpoint.js';
import type { StoredItem } from './server-state.js';

/** Where a type's change feed stands: the last sequence number given out and the highest one purged. */
export interface FeedPosition {
  head: number;
  horizon: number;
}

/** Why a checkpoint cannot be served from `feed` (so the client must pull from the beginning), if it cannot. */
export function resetReason(checkpoint: Checkpoint, epoch: string, feed: FeedPosition): string | undefined {
  if (checkpoint.epoch !== epoch) {
    return 'The checkpoint belongs to another state of this server; pull again from the beginning';
  }
  if (checkpoint.seq > feed.head || checkpoint.floor > feed.head) {
    return 'The checkpoint is ahead of the changes this server holds (its state was restored from an older copy); pull again from the beginning';
  }
  // A purge past both the client's position and the horizon it started from removed a delete it may need.
  if (feed.horizon > Math.max(checkpoint.seq, checkpoint.floor)) {
    return 'Deletes after the checkpoint are no longer kept (their retention passed); pull again from the beginning';
  }
  return undefined;
}

export function isTombstone(item: RepositoryEntity): boolean {
  return (item as { deleted?: unknown }).deleted === true;
}

/** What a write of `item` over `stored` (absent: a new record) answers, before any store-specific check. */
export type WriteDecision = 'same' | 'conflict' | 'write';

/**
 * The same version again (a lost reply, then a new batch) is already applied: `same`, acknowledged and never
 * rejected. Otherwise `conflict` when `item` may not replace `stored`, else `write`.
 */
export function decideWrite(stored: RepositoryEntity | undefined, item: RepositoryEntity): WriteDecision {
  if (stored && stored.version === item.version && sameContent(stored, item)) return 'same';
  if (stored && conflicts(stored, item)) return 'conflict';
  return 'write';
}

/**
 * Whether `item` may not replace `stored`. A change that names the server version it was made on (`baseVersion`)
 * replaces only that version: any other was written by someone else since, whatever its number (versions are
 * per-writer counters). One without a base (a create, an older client) must be above the stored version.
 */
export function conflicts(stored: RepositoryEntity, item: RepositoryEntity): boolean {
  if (item.baseVersion === undefined && !item.ownVersions) return stored.version >= item.version;
  if (stored.version === item.baseVersion) return false;
  // The writer's own push whose reply it never got: its new change is made on top of it.
  const own = item.ownVersions?.find((entry) => entry.version === stored.version);
  if (own && stored.version < item.version && own.digest === recordDigest(stored)) return false;
  return item.baseVersion !== undefined || stored.version >= item.version;
}

/**
 * What the server keeps of a written item: a tombstone keeps only its bookkeeping (a delete has no content), a
 * record its fields with `deleted: false` dropped (the same record as one without the field). Never the writer's
 * `baseVersion`: it is the writer's bookkeeping, and a pulled record carries none.
 */
export function storedCopy(item: RepositoryEntity): RepositoryEntity {
  if (isTombstone(item)) {
    const { id, version, createdAt, updatedAt } = item;
    return { id, version, createdAt, updatedAt, syncPending: false, deleted: true } as RepositoryEntity;
  }
  const {
    deleted: _deleted,
    baseVersion: _base,
    ownVersions: _own,
    ...rest
  } = structuredClone(item) as RepositoryEntity & { deleted?: unknown };
  return { ...rest, syncPending: false };
}

/** How many applied versions a stored record remembers: enough to prove nothing was applied twice lately. */
export const APPLIED_VERSIONS_KEPT = 32;

export function nextStored(stored: StoredItem | undefined, item: RepositoryEntity): StoredItem {
  return {
    item: storedCopy(item),
    appliedCount: (stored?.appliedCount ?? 0) + 1,
    appliedVersions: [...(stored?.appliedVersions ?? []), item.version].slice(-APPLIED_VERSIONS_KEPT),
  };
}

/** The same version twice: two deletes are the same; otherwise every field but `syncPending` must match. */
export function sameContent(stored: RepositoryEntity, item: RepositoryEntity): boolean {
  if (isTombstone(stored) || isTombstone(item)) return isTombstone(stored) && isTombstone(item);
  const strip = ({ syncPending: _, ...rest }: RepositoryEntity) => rest;
  return JSON.stringify(strip(stored)) === JSON.stringify(strip(storedCopy(item)));
}

/**
 * What a batch does, item by item, over the stored records (`stored`, by key): its reply and its writes, by key.
 * Later items see earlier items' writes. `keyOf` names a record as the store keys it (default: its id).
 */
export function planWrites<T extends RepositoryEntity>(
  items: readonly T[],
  stored: (key: string) => StoredItem | undefined,
  reject: ((item: T) => { error: string; retryable: boolean } | undefined) | undefined,
  keyOf: (id: string) => string = (id) => id,
): { writes: Map<string, StoredItem>; reply: ItemResult<T>[] } {
  const writes = new Map<string, StoredItem>();
  const reply = items.map((item): ItemResult<T> => {
    const key = keyOf(item.id);
    const current = writes.get(key) ?? stored(key);
    const decision = decideWrite(current?.item, item);
    // The same version again (a lost reply, then a new batch) is already applied: acknowledge it, never reject.
    if (decision === 'same') return { id: item.id, status: 'ok' };
    const rejection = reject?.(item);
    if (rejection) return { id: item.id, status: 'failed', ...rejection };
    if (decision === 'conflict') {
      return { id: item.id, status: 'conflict', remote: structuredClone(current?.item) as T };
    }
    writes.set(key, nextStored(current, item));
    return { id: item.id, status: 'ok' };
  });
  return { writes, reply };
}
