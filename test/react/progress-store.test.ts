import { describe, expect, expectTypeOf, it } from 'vitest';
import type { TabSync } from '../../src/browser.js';
import type { SyncProgressSource } from '../../src/core/progress-source.js';
import { ProgressStream } from '../../src/core/progress-stream.js';
import type { SyncCoordinator, SyncProgress } from '../../src/index.js';
import { progressStore, sameProgressOr } from '../../src/react/progress-store.js';
import { syncProgress } from '../helpers/sync-progress.js';

/** A push run of `notes` with 10 items: the store under test follows `notes`. */
const progress = (fields: Partial<SyncProgress> = {}): SyncProgress =>
  syncProgress({ entityType: 'notes', totalItems: 10, phase: 'push', ...fields });

/** A source like a follower tab's: each read builds a new object from what it last heard. */
function copyingSource(): SyncProgressSource & { stream: ProgressStream } {
  const stream = new ProgressStream();
  return {
    stream,
    progress: stream,
    getProgress: (entityType) => {
      const latest = stream.latest(entityType);
      return latest && { ...latest };
    },
  };
}

describe('SyncProgressSource', () => {
  it('is what a SyncCoordinator and a TabSync (leader or follower) both are: the hooks take either', () => {
    // Checked by the compiler (npm run typecheck); nothing to run.
    expectTypeOf<SyncCoordinator>().toMatchTypeOf<SyncProgressSource>();
    expectTypeOf<TabSync>().toMatchTypeOf<SyncProgressSource>();
  });
});

describe('sameProgressOr', () => {
  it('keeps the previous object while every field is the same, and takes the new one on any difference', () => {
    const first = progress();
    expect(sameProgressOr(first, { ...first })).toBe(first);
    const moved = { ...first, syncedItems: 1 };
    expect(sameProgressOr(first, moved)).toBe(moved);
    const withError = { ...first, errorMessage: 'Retrying after: 500' };
    expect(sameProgressOr(first, withError)).toBe(withError);
    expect(sameProgressOr(withError, first)).toBe(first);
    expect(sameProgressOr(first, undefined)).toBeUndefined();
    expect(sameProgressOr(undefined, first)).toBe(first);
  });
});

describe('progressStore', () => {
  it('returns the same snapshot until progress changes, even from a source that copies on every read', () => {
    const source = copyingSource();
    const store = progressStore(source, 'notes', (p) => p);
    expect(store.getSnapshot()).toBeUndefined();
    source.stream.publish(progress());
    const first = store.getSnapshot();
    expect(first).toMatchObject({ state: 'syncing' });
    expect(store.getSnapshot()).toBe(first);
    source.stream.publish(progress());
    expect(store.getSnapshot()).toBe(first);
    source.stream.publish(progress({ syncedItems: 5, percent: 50 }));
    expect(store.getSnapshot()).not.toBe(first);
    expect(store.getSnapshot()).toMatchObject({ syncedItems: 5 });
  });

  it('wakes its subscriber only for its own type, and stops with the unsubscribe', () => {
    const source = copyingSource();
    const store = progressStore(source, 'notes', (p) => p?.state ?? 'idle');
    let wakes = 0;
    const unsubscribe = store.subscribe(() => wakes++);
    source.stream.publish(progress({ entityType: 'tags' }));
    expect(wakes).toBe(0);
    source.stream.publish(progress());
    expect(wakes).toBe(1);
    expect(store.getSnapshot()).toBe('syncing');
    unsubscribe();
    source.stream.publish(progress({ state: 'synced' }));
    expect(wakes).toBe(1);
    expect(source.stream.listenerCount).toBe(0);
  });

  it('selects once per progress: a selection that builds objects keeps its identity between events', () => {
    const source = copyingSource();
    let selections = 0;
    const store = progressStore(source, 'notes', (p) => {
      selections++;
      return { done: p?.syncedItems ?? 0 };
    });
    source.stream.publish(progress({ syncedItems: 3 }));
    const snapshot = store.getSnapshot();
    expect(store.getSnapshot()).toBe(snapshot);
    expect(selections).toBe(1);
  });
});
