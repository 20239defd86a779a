import type { SyncProgress } from '../domain/types.js';
import type { ProgressListener, Subscription } from './progress-stream.js';

/**
 * The read side of sync progress: what a view needs to show each entity type's progress, and no way to start or
 * stop anything. A `SyncCoordinator` is one; so is any object that relays another's progress (a tab that follows
 * the syncing tab over a BroadcastChannel), which lets a view show progress without knowing which it has.
 *
 * `progress.subscribe` calls its listener with every new progress (a `ProgressStream` first replays the latest of
 * each type: harmless here). `getProgress` returns the latest progress of a type, `undefined` before its first.
 */
export interface SyncProgressSource {
  readonly progress: {
    subscribe(listener: ProgressListener): Subscription;
  };
  getProgress(entityType: string): SyncProgress | undefined;
}
