import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FatalSyncError, type SyncCoordinator, TransientSyncError } from '../../src/index.js';
import { collectProgress, makeCoordinator, makeRepo, seed, terminal } from '../helpers/fixtures.js';

describe('the automatic retry schedule (stuck-queue watchdog)', () => {
  let coordinator: SyncCoordinator;

  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(async () => {
    await coordinator?.stop();
    vi.useRealTimers();
  });

  it('survives a manual sync during the wait: items waiting for a retry are still retried when due', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    remote.failNext(1, () => new TransientSyncError('boom'));
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 1_000, maxDelayMs: 30_000, maxAttempts: 1, maxItemAttempts: 5 },
      random: () => 1,
    });
    const first = await coordinator.sync(repository);
    expect(first).toMatchObject({ state: 'error', failedItems: 1 });
    expect(first.nextRetryAt).toBe(Date.now() + 1_000);

    // Nothing is due yet, so this run covers no items; it must not forget the item that waits.
    const manual = await coordinator.sync(repository);
    expect(manual).toMatchObject({ state: 'synced', totalItems: 0, nextRetryAt: first.nextRetryAt });
    expect(coordinator.getProgress('note')?.nextRetryAt).toBe(first.nextRetryAt);

    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(10);
    expect(remote.calls).toHaveLength(2);
    expect(await repository.pendingCount()).toBe(0);
    expect(coordinator.getProgress('note')).toMatchObject({ state: 'synced', runId: 3, syncedItems: 1 });
    expect(coordinator.getProgress('note')?.nextRetryAt).toBeUndefined();
  });

  it('retries a run stopped by a fatal error with backoff, never sooner than a second', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    remote.failNext(3, () => new FatalSyncError('401 Unauthorized'));
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 3, maxItemAttempts: 3 },
      random: () => 1,
    });
    const events = collectProgress(coordinator, 'note');
    const first = await coordinator.sync(repository);
    expect(first).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 0 });
    expect(first.errorMessage).toBe('Sync run stopped after 0 of 1 items: 401 Unauthorized');
    expect(first.nextRetryAt).toBe(Date.now() + 1_000);
    // Stopped runs do not count against the items: no failure records.
    expect(await coordinator.failures('note')).toEqual([]);

    await vi.advanceTimersByTimeAsync(999);
    expect(remote.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(remote.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(remote.calls).toHaveLength(3);
    // The third fatal error, then the credentials work again.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(remote.calls).toHaveLength(4);
    expect(terminal(events).map((p) => p.state)).toEqual(['error', 'error', 'error', 'synced']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(remote.calls).toHaveLength(4);
  });
});
