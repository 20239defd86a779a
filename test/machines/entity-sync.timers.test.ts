/**
 * The entity sync machine's delayed behaviour under fake timers: the backoff inside a run (`syncing` throughout, the
 * same batch id sent again) and the automatic run that `error` asks for once failed items are due again.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ActorRefFrom } from 'xstate';
import { entityActorId } from '../../machines/coordinator.machine.js';
import { type entitySyncMachine, syncStateOf } from '../../machines/entity-sync.machine.js';
import type { RunReport } from '../../machines/entity-sync.types.js';
import { SyncCoordinator } from '../../src/coordinator/sync-coordinator.js';
import type { RepositoryEntity, RetryOptions } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
import { MemoryLocalDataSource } from '../../src/store/memory-store.js';
import { TestRemote } from '../helpers/test-remote.js';

interface Note extends RepositoryEntity {
  title: string;
}

const TYPE = 'note';
const BASE_DELAY_MS = 1_000;

let coordinator: SyncCoordinator | undefined;

afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
  vi.useRealTimers();
});

/** A facade over a memory store and a test remote. `random: () => 1` makes every backoff its ceiling. */
function createSystem(retry: RetryOptions) {
  const local = new MemoryLocalDataSource<Note>();
  const remote = new TestRemote<Note>();
  const repo = new Repository<Note>({ entityType: TYPE, local, remote });
  const sync = new SyncCoordinator({ batchSize: 10, retry, random: () => 1 });
  coordinator = sync;
  sync.register(repo);
  const reports: RunReport[] = [];
  sync.actor.on('runFinished', ({ report }) => reports.push(report));
  const entity = () => {
    const child = sync.actor.getSnapshot().children[entityActorId(TYPE)];
    if (!child) throw new Error('no entity actor');
    return (child as ActorRefFrom<typeof entitySyncMachine>).getSnapshot();
  };
  return { local, remote, repo, sync, reports, entity };
}

describe('entity sync machine: timers', () => {
  it('stays syncing while a batch backs off after a transient error, then re-sends the same batch id', async () => {
    vi.useFakeTimers();
    const { local, remote, repo, sync, reports, entity } = createSystem({
      baseDelayMs: BASE_DELAY_MS,
      maxDelayMs: 30_000,
      maxAttempts: 3,
    });
    const saved = await repo.save({ id: 'a', title: 'first' });
    remote.failNext(1, () => new Error('boom'));

    const result = sync.sync(TYPE);
    await vi.advanceTimersByTimeAsync(0);

    // The first push threw; the batch now waits out its backoff (attempt 1: the full base delay).
    expect(remote.calls).toHaveLength(1);
    expect(syncStateOf(entity())).toBe('syncing');
    expect(sync.isSyncing(TYPE)).toBe(true);
    expect(entity().context.nextRetryAt).toBe(Date.now() + BASE_DELAY_MS);
    expect(entity().context.error).toEqual({
      code: 'UNEXPECTED',
      message: 'boom',
      retryable: true,
      outcome: 'retrying',
      phase: 'push',
    });
    expect(sync.getProgress(TYPE)?.errorMessage).toBe('Retrying after: boom');
    expect(entity().context.counts.retries).toBe(1);
    expect(sync.getProgress(TYPE)).toMatchObject({
      state: 'syncing',
      retries: 1,
      nextRetryAt: Date.now() + BASE_DELAY_MS,
    });
    expect(reports).toEqual([]);

    await vi.advanceTimersByTimeAsync(BASE_DELAY_MS - 1);
    expect(remote.calls).toHaveLength(1);
    expect(sync.isSyncing(TYPE)).toBe(true);

    await vi.advanceTimersByTimeAsync(1);
    expect(remote.calls).toHaveLength(2);
    const [first, second] = remote.calls;
    expect(second?.batchId).toBe(first?.batchId);
    expect(second?.ids).toEqual(['a']);
    expect(remote.server.duplicateBatches).toBe(0);

    const finished = await result;
    expect(finished).toMatchObject({ state: 'synced', runId: 1, syncedItems: 1, failedItems: 0, retries: 1 });
    expect(finished.nextRetryAt).toBeUndefined();
    expect(syncStateOf(entity())).toBe('synced');
    expect(sync.isSyncing(TYPE)).toBe(false);
    expect(reports).toHaveLength(1);
    const stored = await local.get('a');
    expect(stored).toEqual({ ...saved, syncPending: false });
    expect(remote.stored(TYPE, 'a')?.item).toEqual(stored);
  });

  it('waits in error until failed items are due, then starts another run on its own', async () => {
    vi.useFakeTimers();
    const { local, remote, repo, sync, reports, entity } = createSystem({
      baseDelayMs: BASE_DELAY_MS,
      maxDelayMs: 30_000,
      maxAttempts: 1,
      maxItemAttempts: 8,
    });
    const saved = await repo.save({ id: 'a', title: 'first' });
    remote.failNext(1, () => new Error('boom'));

    const result = sync.sync(TYPE);
    await vi.advanceTimersByTimeAsync(0);
    const firstRun = await result;

    // One push (maxAttempts 1), so the item fails for this run and gets a failure record with its next attempt.
    const failedAt = Date.now();
    expect(firstRun).toMatchObject({ state: 'error', runId: 1, failedItems: 1, syncedItems: 0 });
    expect(firstRun.nextRetryAt).toBe(failedAt + BASE_DELAY_MS);
    expect(syncStateOf(entity())).toBe('error');
    expect(entity().context.nextRetryAt).toBe(firstRun.nextRetryAt);
    expect(sync.isSyncing(TYPE)).toBe(false);
    expect(await sync.failures(TYPE)).toEqual([
      expect.objectContaining({
        id: 'a',
        version: saved.version,
        attempts: 1,
        retryable: true,
        deadLettered: false,
        nextAttemptAt: failedAt + BASE_DELAY_MS,
      }),
    ]);
    expect(remote.calls).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(BASE_DELAY_MS - 1);
    expect(syncStateOf(entity())).toBe('error');
    expect(remote.calls).toHaveLength(1);
    expect(reports).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(1);
    expect(reports).toHaveLength(2);

    const secondRun = reports[1];
    expect(secondRun).toMatchObject({ state: 'synced', runId: 2, cancelled: false });
    expect(secondRun?.counts).toMatchObject({ totalItems: 1, syncedItems: 1, failedItems: 0 });
    expect(remote.calls).toHaveLength(2);
    expect(remote.calls[1]?.ids).toEqual(['a']);
    expect(remote.calls[1]?.batchId).not.toBe(remote.calls[0]?.batchId);
    expect(syncStateOf(entity())).toBe('synced');
    expect(entity().context.nextRetryAt).toBeUndefined();
    expect(await sync.failures(TYPE)).toEqual([]);
    const stored = await local.get('a');
    expect(stored).toEqual({ ...saved, syncPending: false });
    expect(remote.stored(TYPE, 'a')?.item).toEqual(stored);

    // Nothing else is scheduled: no third run however long we wait.
    await vi.advanceTimersByTimeAsync(10 * 30_000);
    expect(reports).toHaveLength(2);
    expect(remote.calls).toHaveLength(2);
  });

  it('a retry timer that fires before the wall clock reaches the due time waits again instead of running early', async () => {
    vi.useFakeTimers();
    const { remote, repo, sync, reports, entity } = createSystem({
      baseDelayMs: BASE_DELAY_MS,
      maxDelayMs: 30_000,
      maxAttempts: 1,
      maxItemAttempts: 8,
    });
    await repo.save({ id: 'a', title: 'first' });
    remote.failNext(1, () => new Error('boom'));
    const result = sync.sync(TYPE);
    await vi.advanceTimersByTimeAsync(0);
    const dueAt = (await result).nextRetryAt as number;
    expect(syncStateOf(entity())).toBe('error');

    // Node measures a timer from its cached loop time, which can lag the wall clock: the timer fires while
    // Date.now() still reads a few ms before the due time. A run started then would find nothing due.
    vi.setSystemTime(Date.now() - 5);
    await vi.advanceTimersByTimeAsync(BASE_DELAY_MS);
    expect(Date.now()).toBe(dueAt - 5);
    expect(reports).toHaveLength(1);
    expect(remote.calls).toHaveLength(1);
    expect(syncStateOf(entity())).toBe('error');

    await vi.advanceTimersByTimeAsync(5);
    expect(reports).toHaveLength(2);
    expect(reports[1]).toMatchObject({ state: 'synced', runId: 2 });
    expect(reports[1]?.counts).toMatchObject({ totalItems: 1, syncedItems: 1 });
  });
});
