import type { SyncProgressSource } from '../core/progress-source.js';
import type { SyncProgress } from '../domain/types.js';

/**
 * An external store in the shape `useSyncExternalStore` takes: `subscribe` and `getSnapshot` keep their identity,
 * and `getSnapshot` returns the same value until the store changes (React compares with `Object.is` and renders
 * again, forever, on a value that is new each time).
 */
export interface ExternalStore<T> {
  readonly subscribe: (onStoreChange: () => void) => () => void;
  readonly getSnapshot: () => T;
}

/**
 * `next`, or `previous` when both hold the same fields with the same values. `SyncProgress` is flat (every field a
 * string, number or boolean), so this is a full comparison; it keeps a snapshot's identity for a source that builds
 * a new object on every read (one that relays progress from another tab, say).
 */
export function sameProgressOr(
  previous: SyncProgress | undefined,
  next: SyncProgress | undefined,
): SyncProgress | undefined {
  if (previous === next || previous === undefined || next === undefined) return next;
  const keys = Object.keys(next) as (keyof SyncProgress)[];
  if (keys.length !== Object.keys(previous).length) return next;
  return keys.every((key) => Object.is(previous[key], next[key])) ? previous : next;
}

/**
 * One entity type's progress from `source` as an external store of `select(progress)`. Only that type's progress
 * wakes React; `select` should return a primitive or a part of the progress (a new object per call would render on
 * every progress event of the type, though never loop: the progress itself is kept by `sameProgressOr`).
 */
export function progressStore<T>(
  source: SyncProgressSource,
  entityType: string,
  select: (progress: SyncProgress | undefined) => T,
): ExternalStore<T> {
  let progress: SyncProgress | undefined;
  let selected: { from: SyncProgress | undefined; value: T } | undefined;
  return {
    subscribe(onStoreChange) {
      const subscription = source.progress.subscribe((published) => {
        if (published.entityType === entityType) onStoreChange();
      });
      return () => subscription.unsubscribe();
    },
    getSnapshot() {
      progress = sameProgressOr(progress, source.getProgress(entityType));
      if (selected === undefined || selected.from !== progress) {
        selected = { from: progress, value: select(progress) };
      }
      return selected.value;
    },
  };
}
