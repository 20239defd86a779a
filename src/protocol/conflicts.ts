import { isTombstone } from '../domain/entity.js';
import { errorMessage } from '../domain/errors.js';
import type { ConflictPolicy, RepositoryEntity } from '../domain/types.js';
import { adoptRemoteRecord, storableRecord } from './remote-record.js';

/** What resolving one conflict asks of the outbox. */
export type ConflictResolution<T extends RepositoryEntity> =
  /** Take the server copy as the local record; it is already on the server, so it is synced. */
  | { kind: 'accept-remote'; entity: T }
  /** Push this record (the local one or a merge) on top of the server's version. */
  | { kind: 'push'; entity: T }
  /** The conflict cannot be resolved (an unusable server copy, a resolver that threw): the item fails for good. */
  | { kind: 'failed'; error: string };

/**
 * The lowest server version a push conflict over `local` can carry: a change without a base conflicts only with the
 * version sent (other content) or a newer one; a change with a base (`baseVersion`) with any version the server
 * holds other than its base, a lower one included (another client's counter, a server restored from a copy).
 */
export function conflictFloor(local: RepositoryEntity): number {
  return local.baseVersion === undefined ? local.version : 0;
}

/**
 * Resolves a conflict between the local record (sent in a push, or pending when a pull brought the server's copy)
 * and the server's copy. The copy is untrusted and goes through `adoptRemoteRecord` whatever the policy; a merge
 * function's output is user code's and is checked the same way, so every record this returns can be stored.
 *
 * Deletes (either side a tombstone, `deleted: true`), the same in both directions:
 * - both sides deleted: they agree; the server's tombstone is taken, whatever the policy (nothing to push);
 * - `server-wins`: the server's side, deleted or not;
 * - `client-wins`: the local side, deleted or not, pushed on top of the server's version;
 * - a merge function is only given two live records: against a tombstone the live record wins (an edit beats a
 *   delete, so no one's edit is lost; deleting again is always possible). A merge that returns `deleted: true`
 *   pushes a tombstone.
 *
 * A resolution that pushes is made on the server's version: `baseVersion` is the copy's version and `version` is
 * above both sides'. One that takes the server's copy stores it at the copy's version, which may be below the local
 * one (versions are per-writer counters): the server holds exactly that version. `minVersion` is the lowest copy
 * version accepted (default `conflictFloor(local)`, a push's rule).
 */
export function resolveConflict<T extends RepositoryEntity>(
  policy: ConflictPolicy<T>,
  local: T,
  remote: unknown,
  now: number,
  minVersion: number = conflictFloor(local),
): ConflictResolution<T> {
  const adopted = adoptRemoteRecord<T>(local, remote, { minVersion, syncPending: false, now });
  if (!adopted.ok) return { kind: 'failed', error: adopted.error };
  const remoteDeleted = isTombstone(adopted.record);
  if (policy === 'server-wins' || (remoteDeleted && isTombstone(local))) {
    return { kind: 'accept-remote', entity: adopted.record };
  }
  let chosen: unknown;
  if (policy === 'client-wins' || (typeof policy === 'function' && remoteDeleted)) {
    chosen = local;
  } else if (isTombstone(local)) {
    // A merge function against a local delete: the server's live record wins.
    return { kind: 'accept-remote', entity: adopted.record };
  } else {
    try {
      chosen = policy(local, adopted.record);
    } catch (error) {
      return { kind: 'failed', error: `Conflict resolver threw: ${errorMessage(error)}` };
    }
    if (typeof chosen !== 'object' || chosen === null || Array.isArray(chosen)) {
      return { kind: 'failed', error: 'Conflict resolver returned no record' };
    }
  }
  let candidate: Record<string, unknown>;
  try {
    // Made on the server's version: built on it (its base), and above both it and the local one, so the server
    // takes it while it still holds that version and the local version never goes down for a change of ours.
    candidate = {
      ...(chosen as Record<string, unknown>),
      id: local.id,
      createdAt: local.createdAt,
      version: Math.max(local.version, adopted.record.version) + 1,
      updatedAt: now,
      syncPending: true,
      baseVersion: adopted.record.version,
    };
  } catch (error) {
    return {
      kind: 'failed',
      error: `Conflict resolver returned a record that cannot be read: ${errorMessage(error)}`,
    };
  }
  const pushed = storableRecord<T>(candidate, `The resolved record "${local.id}"`);
  return pushed.ok ? { kind: 'push', entity: pushed.record } : { kind: 'failed', error: pushed.error };
}
