import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SyncCoordinator } from '../../src/index.js';
import { collectProgress, makeCoordinator, makeRepo, seed, terminal } from '../helpers/fixtures.js';

describe('6. auto-sync', () => {
  let coordinator: SyncCoordinator;

  beforeEach(() => {
    // Before any actor exists, so every delayed transition is on the fake clock.
    vi.useFakeTimers();
  });

  afterEach(async () => {
    await coordinator?.stop();
    vi.useRealTimers();
  });

  it('syncs every registered repository on its interval (5 minutes by default) and stops with stop()', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta', a.remote);
    await seed(a.repository, 3);
    await seed(b.repository, 2);
    coordinator = makeCoordinator({ enableAutoSync: true });
    coordinator.register(a.repository);
    coordinator.register(b.repository);
    const events = collectProgress(coordinator);

    await vi.advanceTimersByTimeAsync(299_999);
    expect(a.remote.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(terminal(events).map((p) => [p.entityType, p.state, p.syncedItems])).toEqual([
      ['alpha', 'synced', 3],
      ['beta', 'synced', 2],
    ]);
    expect(await a.repository.pendingCount()).toBe(0);
    expect(await b.repository.pendingCount()).toBe(0);

    // The timer re-arms: the next tick syncs what was saved since.
    await a.repository.save({ id: 'later', text: 'saved after the first tick' });
    await vi.advanceTimersByTimeAsync(300_000);
    expect(a.remote.stored('alpha', 'later')).toBeDefined();
    expect(terminal(events)).toHaveLength(4);

    await coordinator.stop();
    expect(vi.getTimerCount()).toBe(0);
    await a.repository.save({ id: 'after-stop', text: 'not synced' });
    await vi.advanceTimersByTimeAsync(3_000_000);
    expect(a.remote.stored('alpha', 'after-stop')).toBeUndefined();
  });

  it('skips a type that is already syncing', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta', a.remote);
    await seed(a.repository, 1);
    await seed(b.repository, 1);
    coordinator = makeCoordinator({ enableAutoSync: true, autoSyncIntervalMs: 1_000, concurrency: 2 });
    coordinator.register(a.repository);
    coordinator.register(b.repository);
    const events = collectProgress(coordinator);
    const hold = a.remote.holdNext();
    const manual = coordinator.sync('alpha');
    await hold.reached;

    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(1_000);
    // beta synced on both ticks; alpha was syncing throughout, so no alpha run was queued behind it.
    expect(terminal(events).filter((p) => p.entityType === 'beta')).toHaveLength(2);
    hold.release();
    expect(await manual).toMatchObject({ runId: 1, state: 'synced' });
    await vi.advanceTimersByTimeAsync(0);
    expect(coordinator.isSyncing('alpha')).toBe(false);
    expect(
      terminal(events)
        .filter((p) => p.entityType === 'alpha')
        .map((p) => p.runId),
    ).toEqual([1]);
  });

  it('is off unless enabled', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    coordinator = makeCoordinator();
    coordinator.register(repository);
    await vi.advanceTimersByTimeAsync(3_000_000);
    expect(remote.calls).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
