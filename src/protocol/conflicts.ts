import { errorMessage } from '../domain/errors.js';
import type { ConflictPolicy, RepositoryEntity } from '../domain/types.js';

/** What resolving one conflict asks of the outbox. */
export type ConflictResolution<T extends RepositoryEntity> =
  /** Take the server copy as the local record; it is already on the server, so it is synced. */
  | { kind: 'accept-remote'; entity: T }
  /** Push this record (the local one or a merge) on top of the server's version. */
  | { kind: 'push'; entity: T }
  | { kind: 'failed'; error: string };

export function resolveConflict<T extends RepositoryEntity>(
  policy: ConflictPolicy<T>,
  local: T,
  remote: T,
  now: number,
): ConflictResolution<T> {
  if (policy === 'server-wins') {
    return { kind: 'accept-remote', entity: { ...remote, syncPending: false } };
  }
  let chosen: T;
  if (policy === 'client-wins') {
    chosen = local;
  } else {
    try {
      chosen = policy(local, remote);
    } catch (error) {
      return { kind: 'failed', error: `Conflict resolver threw: ${errorMessage(error)}` };
    }
    if (typeof chosen !== 'object' || chosen === null) {
      return { kind: 'failed', error: 'Conflict resolver returned no record' };
    }
  }
  // The pushed version must be above the server's, or the server would report the same conflict again.
  return {
    kind: 'push',
    entity: {
      ...chosen,
      id: local.id,
      createdAt: local.createdAt,
      version: Math.max(local.version, remote.version) + 1,
      updatedAt: now,
      syncPending: true,
    },
  };
}
