import { useMemo, useSyncExternalStore } from 'react';
import type { SyncProgressSource } from '../core/progress-source.js';
import type { SyncProgress, SyncState } from '../domain/types.js';
import { progressStore } from './progress-store.js';

const progressOf = (progress: SyncProgress | undefined) => progress;
const stateOf = (progress: SyncProgress | undefined): SyncState => progress?.state ?? 'idle';

/**
 * The latest progress of `entityType`, `undefined` before its first run; renders again on each new progress of that
 * type. `source` is a `SyncCoordinator`, or any `SyncProgressSource` (a tab following the syncing tab). It only
 * subscribes: mounting never starts, registers or stops anything.
 */
export function useSyncProgress(source: SyncProgressSource, entityType: string): SyncProgress | undefined {
  const store = useMemo(() => progressStore(source, entityType, progressOf), [source, entityType]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * The state of `entityType` (`idle` before its first run, then `syncing`, `synced` or `error`); renders again only
 * when the state changes, not on every batch of a run. A failed sync is the state `error`, never a thrown error.
 */
export function useSyncState(source: SyncProgressSource, entityType: string): SyncState {
  const store = useMemo(() => progressStore(source, entityType, stateOf), [source, entityType]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}
