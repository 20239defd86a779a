import { ActorSyncError } from '../domain/errors.js';

/**
 * A sync asked of the leader tab got no answer: no leader took it, or the one that did went silent and no other
 * appeared, within `requestTimeoutMs`. Nothing is lost: the changes stay pending in the store and the next run
 * pushes them.
 */
export class LeaderUnavailableError extends ActorSyncError {
  readonly entityType: string | undefined;
  constructor(entityType: string | undefined, timeoutMs: number) {
    super(
      'LEADER_UNAVAILABLE',
      `No syncing tab answered the sync of ${entityType === undefined ? 'every type' : `"${entityType}"`} within ${timeoutMs} ms`,
    );
    this.entityType = entityType;
  }
}

/** The `TabSync` was closed: it takes no more requests, and the ones it had are rejected with this. */
export class TabSyncClosedError extends ActorSyncError {
  constructor() {
    super('TAB_SYNC_CLOSED', 'This tab has stopped taking part in sync (TabSync.close())');
  }
}
