import { afterEach, describe, expect, it } from 'vitest';
import type { AnyActor, InspectionEvent } from 'xstate';
import { MAX_LISTED_FAILURES } from '../../machines/index.js';
import {
  InvalidEntityError,
  InvalidOptionsError,
  MalformedReplyError,
  MemoryLocalDataSource,
  MissingRemoteError,
  PermanentSyncError,
  Repository,
  type SyncCoordinator,
  TransientSyncError,
  UnknownEntityTypeError,
} from '../../src/index.js';
import { validateReply } from '../../src/protocol/reply.js';
import {
  collectProgress,
  makeCoordinator,
  makeRepo,
  type Note,
  seed,
  terminal,
} from '../helpers/fixtures.js';
import { until } from '../helpers/until.js';

let coordinator: SyncCoordinator;

afterEach(async () => {
  await coordinator?.stop();
});

describe('1. marked synced only at the acknowledged version', () => {
  it('keeps an item edited while its batch is in flight pending, and sends the new version next run', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 3);
    coordinator = makeCoordinator();
    const hold = remote.holdNext();
    const first = coordinator.sync(repository);
    await hold.reached;
    await repository.save({ id: 'n1', text: 'edited in flight' });
    hold.release();
    const result = await first;

    expect(remote.stored('note', 'n1')?.item).toMatchObject({ version: 1, text: 'note 1' });
    expect(await local.get('n1')).toMatchObject({ version: 2, syncPending: true, text: 'edited in flight' });
    expect(await local.get('n0')).toMatchObject({ version: 1, syncPending: false });
    // n1's acknowledged version is no longer the local one: not counted as synced in this run.
    expect(result).toMatchObject({ state: 'synced', syncedItems: 2, failedItems: 0, totalItems: 2 });

    const second = await coordinator.sync(repository);
    expect(second).toMatchObject({ state: 'synced', syncedItems: 1, totalItems: 1 });
    expect(remote.stored('note', 'n1')?.item).toMatchObject({ version: 2, text: 'edited in flight' });
    expect(await local.get('n1')).toMatchObject({ syncPending: false });
    expect(await repository.pendingCount()).toBe(0);
  });

  it('drops a failure of a version edited in flight: the new version goes out next run, unpenalised', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 2);
    remote.reject('n0', 'rejected', false);
    coordinator = makeCoordinator();
    const hold = remote.holdNext();
    const first = coordinator.sync(repository);
    await hold.reached;
    await repository.save({ id: 'n0', text: 'fixed while in flight' });
    hold.release();
    expect(await first).toMatchObject({
      state: 'synced',
      totalItems: 1,
      syncedItems: 1,
      failedItems: 0,
      failures: [],
    });
    expect(await coordinator.failures('note')).toEqual([]);
    remote.clearRejects();
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await local.get('n0')).toMatchObject({ version: 2, syncPending: false });
  });

  it('does not mark items the reply leaves out', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 3);
    remote.tamper = (reply) => reply.filter((r) => r.id !== 'n2');
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 2, maxItemAttempts: 5 },
    });
    const result = await coordinator.sync(repository);
    expect(result.state).toBe('error');
    expect(result.failures).toEqual([
      { id: 'n2', error: 'The remote reply did not mention this item', attempts: 1, deadLettered: false },
    ]);
    expect(await local.get('n2')).toMatchObject({ syncPending: true });
    expect(await local.get('n0')).toMatchObject({ syncPending: false });
  });
});

describe('saves', () => {
  it('two concurrent saves of one record get distinct versions, so an ack of one never marks the other synced', async () => {
    const { repository, local, remote } = makeRepo();
    const [a, b] = await Promise.all([
      repository.save({ id: 'x', text: 'A' }),
      repository.save({ id: 'x', text: 'B' }),
    ]);
    expect([a.version, b.version]).toEqual([1, 2]);
    coordinator = makeCoordinator();
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await local.get('x')).toMatchObject({ text: 'B', version: 2, syncPending: false });
    expect(remote.stored('note', 'x')?.item).toMatchObject({ text: 'B', version: 2 });
  });
});

describe('2. a sync() for a type already syncing', () => {
  it('is neither dropped nor run in parallel: it resolves after a run that started after the call', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 2);
    coordinator = makeCoordinator();
    const hold = remote.holdNext();
    const first = coordinator.sync(repository);
    await hold.reached;
    await repository.save({ id: 'late', text: 'saved during the first run' });
    const second = coordinator.sync(repository);
    const third = coordinator.sync('note');
    hold.release();

    const [r1, r2, r3] = await Promise.all([first, second, third]);
    expect(r1.runId).toBe(1);
    expect(r2.runId).toBe(2);
    // The third request joined the run that was still queued, which also covers it.
    expect(r3).toBe(r2);
    expect(r2).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(remote.stored('note', 'late')).toBeDefined();
    expect(remote.maxInFlight).toBe(1);
  });

  it('serialises different types in request order with the default concurrency of 1', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta', a.remote);
    await seed(a.repository, 150);
    await seed(b.repository, 150);
    coordinator = makeCoordinator();
    coordinator.register(a.repository);
    coordinator.register(b.repository);
    const results = await coordinator.syncAll();
    expect(results.map((r) => [r.entityType, r.state, r.syncedItems])).toEqual([
      ['alpha', 'synced', 150],
      ['beta', 'synced', 150],
    ]);
    expect(a.remote.calls.map((c) => c.entityType)).toEqual(['alpha', 'alpha', 'beta', 'beta']);
    expect(a.remote.maxInFlight).toBe(1);
  });

  it('runs types side by side with concurrency 2', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta', a.remote);
    await seed(a.repository, 5);
    await seed(b.repository, 5);
    coordinator = makeCoordinator({ concurrency: 2 });
    coordinator.register(a.repository);
    coordinator.register(b.repository);
    const hold = a.remote.holdNext();
    const results = coordinator.syncAll();
    await hold.reached;
    expect(coordinator.isSyncing('alpha') && coordinator.isSyncing('beta')).toBe(true);
    hold.release();
    expect((await results).every((r) => r.state === 'synced')).toBe(true);
  });
});

describe('3. failures are recorded, reported, retried or dead-lettered', () => {
  it('retries a transient batch failure with backoff and the same batch id', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 3);
    remote.failNext(2, () => new TransientSyncError('503 Service Unavailable'));
    coordinator = makeCoordinator();
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'synced', syncedItems: 3, retries: 2 });
    expect(new Set(remote.calls.map((c) => c.batchId)).size).toBe(1);
    expect(remote.calls).toHaveLength(3);
  });

  it('a failed batch does not stop the run; a poison item never blocks the others', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 250);
    remote.reject('n0', 'payload rejected: bad field', false);
    remote.failNext(1, () => new PermanentSyncError('400 Bad Request'));
    coordinator = makeCoordinator({ batchSize: 100 });
    const events = collectProgress(coordinator);
    const result = await coordinator.sync(repository);

    // Batch 1 failed permanently (all 100 items); batches 2 and 3 went through.
    expect(result).toMatchObject({ state: 'error', totalItems: 250, syncedItems: 150, failedItems: 100 });
    expect(result.errorMessage).toMatch(/100 of 250 items failed to sync; last error: 400 Bad Request/);
    // A later batch error the run recovered from does not replace the failed items' cause in the message.
    expect(result.failures).toHaveLength(100);
    expect(result.failures[0]).toEqual({
      id: 'n0',
      error: '400 Bad Request',
      attempts: 1,
      deadLettered: true,
    });
    const last = terminal(events).at(-1);
    expect(last).toMatchObject({ state: 'error', failedItems: 100, isComplete: true });
    expect(last?.errorMessage).toBe(result.errorMessage);

    // Dead letters are listed, stay out of later runs, and come back with retryFailed().
    expect((await coordinator.failures('note')).every((f) => f.deadLettered && !f.retryable)).toBe(true);
    const again = await coordinator.sync(repository);
    expect(again).toMatchObject({ state: 'synced', totalItems: 0 });
    const retried = await coordinator.retryFailed('note');
    expect(retried).toMatchObject({ state: 'error', syncedItems: 99, failedItems: 1 });
    expect(retried.failures).toEqual([
      { id: 'n0', error: 'payload rejected: bad field', attempts: 1, deadLettered: true },
    ]);
    expect(await local.get('n1')).toMatchObject({ syncPending: false });
  });

  it('records exhausted transient failures, retries them on their own once due, then dead-letters', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 2);
    remote.reject('n1', 'database busy', true);
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 1, maxDelayMs: 1, maxAttempts: 2, maxItemAttempts: 2 },
    });
    const events = collectProgress(coordinator, 'note');
    const before = Date.now();
    const first = await coordinator.sync(repository);
    expect(first).toMatchObject({ state: 'error', syncedItems: 1, failedItems: 1, retries: 1 });
    expect(first.failures).toEqual([{ id: 'n1', error: 'database busy', attempts: 1, deadLettered: false }]);
    expect(first.nextRetryAt).toBeGreaterThanOrEqual(before);
    // Two in-run pushes of n1's batch, the second with only the failed item.
    expect(remote.calls.map((c) => c.ids)).toEqual([['n0', 'n1'], ['n1']]);
    const [record] = await coordinator.failures('note');
    expect(record).toMatchObject({ id: 'n1', attempts: 1, lastError: 'database busy', deadLettered: false });
    expect(record?.nextAttemptAt).toBe(first.nextRetryAt);

    // Nobody calls sync(): the entity actor asks for a run once n1 is due, and that run dead-letters it.
    await until(() => terminal(events).length === 2, 'the second run to end', 2000);
    expect(terminal(events)[1]).toMatchObject({ runId: 2, state: 'error', totalItems: 1, failedItems: 1 });
    expect(await coordinator.failures('note')).toMatchObject([{ id: 'n1', deadLettered: true, attempts: 2 }]);
    expect(coordinator.getProgress('note')?.nextRetryAt).toBeUndefined();

    remote.clearRejects();
    expect((await coordinator.sync('note')).totalItems).toBe(0);
    expect(await coordinator.retryFailed('note')).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await local.get('n1')).toMatchObject({ syncPending: false });
    expect(await coordinator.failures('note')).toEqual([]);
  });

  it('an edit gives a dead-lettered item a fresh start', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    remote.reject('n0', 'invalid', false);
    coordinator = makeCoordinator();
    expect((await coordinator.sync(repository)).failedItems).toBe(1);
    remote.clearRejects();
    await repository.save({ id: 'n0', text: 'fixed' });
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(remote.stored('note', 'n0')?.item).toMatchObject({ text: 'fixed', version: 2 });
  });
});

describe('4. progress', () => {
  it('reports after every batch and exactly once at the end, with counts that add up', async () => {
    const { repository } = makeRepo();
    await seed(repository, 250);
    coordinator = makeCoordinator({ batchSize: 100 });
    const events = collectProgress(coordinator, 'note');
    await coordinator.sync(repository);
    // Issue 11: the first event already knows the total (no `syncing 0% (0/0)` before the outbox is read).
    expect(events.map((p) => [p.state, p.totalItems, p.syncedItems, p.percent])).toEqual([
      ['syncing', 250, 0, 0],
      ['syncing', 250, 100, 40],
      ['syncing', 250, 200, 80],
      ['syncing', 250, 250, 100],
      ['synced', 250, 250, 100],
    ]);
    expect(terminal(events)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ isComplete: true, failedItems: 0, runId: 1 });
    expect(events.slice(0, -1).every((p) => !p.isComplete)).toBe(true);
  });

  it('an empty run finishes at 100%', async () => {
    const { repository } = makeRepo();
    coordinator = makeCoordinator();
    const events = collectProgress(coordinator, 'note');
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', totalItems: 0 });
    expect(terminal(events)).toEqual([
      expect.objectContaining({ percent: 100, isComplete: true, totalItems: 0 }),
    ]);
  });

  it('a late subscriber gets the latest state at once; async iteration works and ends on stop', async () => {
    const { repository } = makeRepo();
    await seed(repository, 5);
    coordinator = makeCoordinator();
    await coordinator.sync(repository);
    const late: string[] = [];
    const sub = coordinator.progress.subscribe((p) => late.push(`${p.entityType}:${p.state}`));
    expect(late).toEqual(['note:synced']);
    sub.unsubscribe();
    expect(coordinator.getProgress('note')).toMatchObject({ state: 'synced', syncedItems: 5 });

    const seen: string[] = [];
    const iterate = (async () => {
      for await (const p of coordinator.progress) seen.push(`${p.state}:${p.runId}`);
    })();
    await coordinator.sync(repository);
    await coordinator.stop();
    await iterate;
    expect(seen[0]).toBe('synced:1');
    expect(seen.at(-1)).toBe('synced:2');
  });

  it('a throwing listener does not break the run or other listeners', async () => {
    const { repository } = makeRepo();
    await seed(repository, 2);
    const errors: string[] = [];
    coordinator = makeCoordinator({
      logger: { debug() {}, info() {}, warn() {}, error: (message) => errors.push(message) },
    });
    coordinator.progress.subscribe(() => {
      throw new Error('listener bug');
    });
    const events = collectProgress(coordinator);
    expect((await coordinator.sync(repository)).state).toBe('synced');
    expect(terminal(events)).toHaveLength(1);
    expect(errors[0]).toBe('A progress listener threw');
  });
});

describe('5. isSyncing', () => {
  it('is true exactly while a run is active, retry waits included', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    remote.failNext(1, () => new TransientSyncError('timeout'));
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 30, maxDelayMs: 30, maxAttempts: 3, maxItemAttempts: 3 },
      // No jitter: the backoff is exactly 30 ms, so the retry is still ahead when the test looks.
      random: () => 1,
    });
    expect(coordinator.isSyncing('note')).toBe(false);
    const observed: boolean[] = [];
    coordinator.progress.subscribe((p) =>
      observed.push(coordinator.isSyncing(p.entityType) === (p.state === 'syncing')),
    );
    const run = coordinator.sync(repository);
    expect(coordinator.isSyncing('note')).toBe(true);
    // Wait until the batch actor is in its backoff.
    await new Promise<void>((resolve) => {
      const sub = coordinator.progress.subscribe((p) => {
        if (p.retries > 0) {
          resolve();
          queueMicrotask(() => sub.unsubscribe());
        }
      });
    });
    expect(coordinator.getProgress('note')?.nextRetryAt).toBeGreaterThan(Date.now() - 1);
    expect(coordinator.isSyncing('note')).toBe(true);
    await run;
    expect(coordinator.isSyncing('note')).toBe(false);
    expect(observed.every(Boolean)).toBe(true);
  });
});

describe('7. CANCEL', () => {
  it('aborts the in-flight batch through its signal and marks nothing unacknowledged', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 3);
    coordinator = makeCoordinator();
    const events = collectProgress(coordinator, 'note');
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    coordinator.send({ type: 'CANCEL', entityType: 'note' });
    const result = await run;
    expect(result).toMatchObject({ cancelled: true, state: 'idle', syncedItems: 0 });
    expect(remote.calls[0]?.signal.aborted).toBe(true);
    expect(remote.stored('note', 'n0')).toBeUndefined();
    expect(await repository.pendingCount()).toBe(3);
    expect(coordinator.isSyncing('note')).toBe(false);
    const entity = coordinator.actor.getSnapshot().children['entity:note'];
    expect(entity?.getSnapshot().value).toBe('idle');
    expect(terminal(events)).toEqual([
      expect.objectContaining({ state: 'idle', cancelled: true, isComplete: false }),
    ]);
    expect((await local.get('n0'))?.syncPending).toBe(true);

    // The type keeps working after a cancel.
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 3 });
  });

  it('also cancels a run that is queued behind another', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta', a.remote);
    await seed(a.repository, 1);
    await seed(b.repository, 1);
    coordinator = makeCoordinator();
    const hold = a.remote.holdNext();
    const runA = coordinator.sync(a.repository);
    await hold.reached;
    const runB = coordinator.sync(b.repository);
    coordinator.cancel('beta');
    expect(await runB).toMatchObject({ cancelled: true, entityType: 'beta', syncedItems: 0 });
    hold.release();
    expect(await runA).toMatchObject({ state: 'synced' });
    expect(a.remote.calls.map((c) => c.entityType)).toEqual(['alpha']);
  });

  it('stop() waits for an in-flight store write before it resolves', async () => {
    let releaseCommit!: () => void;
    let commitStarted!: () => void;
    const started = new Promise<void>((resolve) => (commitStarted = resolve));
    let committed = false;
    // A real memory store whose commit takes until the test lets it finish, as a slow disk would.
    class SlowStore extends MemoryLocalDataSource<Note> {
      override async commit(commit: Parameters<MemoryLocalDataSource<Note>['commit']>[0]) {
        commitStarted();
        await new Promise<void>((resolve) => (releaseCommit = resolve));
        const result = await super.commit(commit);
        committed = true;
        return result;
      }
    }
    const { remote } = makeRepo();
    const repository = new Repository<Note>({ entityType: 'note', local: new SlowStore(), remote });
    await seed(repository, 1);
    coordinator = makeCoordinator();
    void coordinator.sync(repository);
    await started;
    let stopped = false;
    const stopping = coordinator.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    releaseCommit();
    await stopping;
    expect(committed).toBe(true);
  });

  it('stop() resolves open syncs as cancelled and is safe to call twice', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    coordinator = makeCoordinator();
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    await coordinator.stop();
    await coordinator.stop();
    expect(await run).toMatchObject({ cancelled: true });
    expect(remote.calls[0]?.signal.aborted).toBe(true);
    await expect(coordinator.sync(repository)).rejects.toThrow(/stopped/);
  });
});

describe('8. bad input gets a typed, clear error and the coordinator keeps working', () => {
  it('an unknown entity type', async () => {
    const { repository } = makeRepo();
    await seed(repository, 1);
    coordinator = makeCoordinator();
    coordinator.register(repository);
    const error = await coordinator.sync('nope').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownEntityTypeError);
    expect((error as Error).message).toBe(
      'Unknown entity type "nope": register its repository first (registered: note)',
    );
    await expect(coordinator.failures('nope')).rejects.toBeInstanceOf(UnknownEntityTypeError);
    expect((await coordinator.sync('note')).state).toBe('synced');
  });

  it('an unknown type sent as an event is rejected and logged, not dropped silently', async () => {
    const warnings: string[] = [];
    coordinator = makeCoordinator({
      logger: { debug() {}, info() {}, error() {}, warn: (m) => warnings.push(m) },
    });
    coordinator.send({ type: 'SYNC', entityType: 'ghost' });
    expect(warnings).toEqual([new UnknownEntityTypeError('ghost', []).message]);
  });

  it('send() refuses REGISTER, which would register a type the facade has no store or remote for (issue 12)', async () => {
    const { repository } = makeRepo();
    await seed(repository, 1);
    coordinator = makeCoordinator();
    // @ts-expect-error REGISTER is not an event an app sends: register() is.
    expect(() => coordinator.send({ type: 'REGISTER', entityType: 'ghost' })).toThrow(InvalidOptionsError);
    expect(() => coordinator.send(null as never)).toThrow(/send\(\) accepts SYNC, SYNC_ALL or CANCEL/);
    expect(coordinator.actor.getSnapshot().context.entityTypes).toEqual([]);
    coordinator.register(repository);
    expect((await coordinator.sync('note')).state).toBe('synced');
  });

  it('a SYNC sent with a requestId cannot answer a later sync() with a run that started before it', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 2);
    coordinator = makeCoordinator();
    coordinator.register(repository);
    const hold = remote.holdNext();
    // The facade numbers its requests "sync-1", "sync-2"…: an app's event claiming the next id starts a run now.
    coordinator.send({ type: 'SYNC', entityType: 'note', requestId: 'sync-1' } as never);
    await hold.reached;
    await repository.save({ id: 'late', text: 'saved after that run read its outbox' });
    const result = coordinator.sync('note');
    hold.release();
    expect(await result).toMatchObject({ state: 'synced', syncedItems: 1, totalItems: 1 });
    expect(await repository.pendingCount()).toBe(0);
  });

  it('a repository without a remote', async () => {
    const repository = new Repository<Note>({
      entityType: 'local-only',
      local: new MemoryLocalDataSource<Note>(),
    });
    coordinator = makeCoordinator();
    await expect(coordinator.sync(repository)).rejects.toBeInstanceOf(MissingRemoteError);
    const { repository: ok } = makeRepo();
    expect((await coordinator.sync(ok)).state).toBe('synced');
  });

  it('an entity without an id is refused and the store is left untouched', async () => {
    const { repository, local } = makeRepo();
    await seed(repository, 1);
    await expect(repository.save({ id: '', text: 'x' })).rejects.toBeInstanceOf(InvalidEntityError);
    await expect(local.save({ text: 'no id' } as unknown as Note)).rejects.toThrow(
      /needs a non-empty string id/,
    );
    await expect(
      local.saveMany([{ ...(await local.get('n0'))!, text: 'changed' }, { id: 7 } as unknown as Note]),
    ).rejects.toBeInstanceOf(InvalidEntityError);
    expect(await local.getAll()).toEqual([expect.objectContaining({ id: 'n0', text: 'note 0' })]);
  });

  it.each([
    ['not an array', () => 'garbage', /must be an array/],
    [
      'an unknown id',
      () => [
        { id: 'n0', status: 'ok' },
        { id: 'intruder', status: 'ok' },
      ],
      /"intruder", which was not/,
    ],
    [
      'a repeated id',
      () => [
        { id: 'n0', status: 'ok' },
        { id: 'n0', status: 'ok' },
      ],
      /repeats id "n0"/,
    ],
    ['an unknown status', () => [{ id: 'n0', status: 'maybe' }], /unknown status "maybe"/],
  ])('a malformed reply (%s) fails the batch as retryable and marks nothing', async (_, tamper, message) => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 1);
    remote.tamper = tamper;
    coordinator = makeCoordinator({
      retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 2, maxItemAttempts: 3 },
    });
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 1, retries: 1 });
    expect(result.failures[0]?.error).toMatch(message);
    expect(result.failures[0]?.deadLettered).toBe(false);
    expect(await local.get('n0')).toMatchObject({ syncPending: true });
    expect(() => validateReply([], 'garbage')).toThrow(MalformedReplyError);
    remote.tamper = undefined;
    await coordinator.retryFailed('note');
    expect(await local.get('n0')).toMatchObject({ syncPending: false });
  });

  it('invalid options', () => {
    expect(() => makeCoordinator({ batchSize: 0 })).toThrow(/batchSize must be a whole number/);
    expect(() => makeCoordinator({ batchSize: -5 })).toThrow(/batchSize/);
    expect(() => makeCoordinator({ autoSyncIntervalMs: 0 })).toThrow(/autoSyncIntervalMs/);
    expect(() => makeCoordinator({ concurrency: 1.5 })).toThrow(/concurrency/);
    expect(() => makeCoordinator({ retry: { maxAttempts: 0 } })).toThrow(/retry.maxAttempts/);
  });
});

describe('9. conflicts are resolved, not ignored', () => {
  async function conflictSetup() {
    const { repository, local, remote } = makeRepo();
    await repository.save({ id: 'c1', text: 'local text' });
    remote.server.put('note', {
      id: 'c1',
      createdAt: 1,
      updatedAt: 2,
      syncPending: false,
      version: 4,
      text: 'server text',
    } as Note);
    return { repository, local, remote };
  }

  it('server-wins (default): the server copy replaces the local record, which is then synced', async () => {
    const { repository, local, remote } = await conflictSetup();
    coordinator = makeCoordinator();
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'synced', conflicts: 1, syncedItems: 1 });
    expect(await local.get('c1')).toMatchObject({ text: 'server text', version: 4, syncPending: false });
    expect(remote.stored('note', 'c1')?.appliedCount).toBe(1);
  });

  it('client-wins: the local record is pushed on top of the remote version', async () => {
    const { repository, local, remote } = await conflictSetup();
    coordinator = makeCoordinator({
      conflicts: 'client-wins',
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const result = await coordinator.sync(repository);
    // The re-push goes out at once: a resolved conflict is not a failure to back off from.
    expect(result).toMatchObject({ state: 'synced', conflicts: 1, syncedItems: 1, retries: 0 });
    expect(remote.stored('note', 'c1')?.item).toMatchObject({ text: 'local text', version: 5 });
    expect(await local.get('c1')).toMatchObject({ text: 'local text', version: 5, syncPending: false });
  });

  it('a merge function: its result is saved and pushed', async () => {
    const { repository, local, remote } = await conflictSetup();
    coordinator = makeCoordinator({
      conflicts: (mine: Note, theirs: Note) => ({ ...theirs, text: `${theirs.text} + ${mine.text}` }),
    });
    const events = collectProgress(coordinator);
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'synced', conflicts: 1 });
    expect(terminal(events)[0]).toMatchObject({ conflicts: 1 });
    expect(remote.stored('note', 'c1')?.item).toMatchObject({ text: 'server text + local text', version: 5 });
    expect(await local.get('c1')).toMatchObject({ text: 'server text + local text', syncPending: false });
  });

  it('a merge function that throws fails that item permanently, not the run', async () => {
    const { repository, local } = await conflictSetup();
    await repository.save({ id: 'fine', text: 'ok' });
    coordinator = makeCoordinator({
      conflicts: () => {
        throw new Error('cannot merge');
      },
    });
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'error', syncedItems: 1, failedItems: 1, conflicts: 1 });
    expect(result.failures[0]).toMatchObject({ id: 'c1', error: 'Conflict resolver threw: cannot merge' });
    expect(await local.get('fine')).toMatchObject({ syncPending: false });
  });
});

describe('10. readable system ids and inspection', () => {
  it('names every actor and passes `inspect` to createActor', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 1);
    const inspected: InspectionEvent[] = [];
    coordinator = makeCoordinator({ inspect: (e) => inspected.push(e) });
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    const system = coordinator.actor.system;
    expect(system.get('coordinator')).toBe(coordinator.actor);
    expect(system.get('entity:note')?.getSnapshot().value).toEqual({ syncing: 'pushing' });
    expect(system.get('batch:note')?.getSnapshot().value).toBe('pushing');
    hold.release();
    await run;
    // Inspection hands out the actors themselves, which carry their system ids.
    const actors = inspected.flatMap((e) => (e.type === '@xstate.actor' ? [e.actorRef as AnyActor] : []));
    expect(actors.map((actor) => actor.id)).toEqual(expect.arrayContaining(['entity:note', 'batch']));
    const systemIds = actors.map((actor) => actor.systemId);
    expect(systemIds).toEqual(expect.arrayContaining(['coordinator', 'entity:note', 'batch:note']));
  });
});

describe('a run in which every item fails', () => {
  it('lists its first 1,000 failed items, counts all of them, and names the last one in its message', async () => {
    const { repository, local, remote } = makeRepo();
    const notes = await seed(repository, 2_500);
    for (const note of notes) remote.reject(note.id, `bad field in ${note.id}`, false);
    coordinator = makeCoordinator({ batchSize: 100 });

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'error', totalItems: 2_500, syncedItems: 0, failedItems: 2_500 });
    expect(result.failures).toHaveLength(MAX_LISTED_FAILURES);
    expect(result.failures.map((item) => item.id)).toEqual(
      notes.slice(0, MAX_LISTED_FAILURES).map((n) => n.id),
    );
    expect(result.failures.every((item) => item.deadLettered)).toBe(true);
    const last = notes.at(-1)?.id;
    expect(result.errorMessage).toBe(`2500 of 2500 items failed to sync; last error: bad field in ${last}`);
    // The store holds a failure record for every one of them.
    expect(await local.failures()).toHaveLength(2_500);
  });
});

describe('run messages', () => {
  it("name the failed items' own error, not a batch error the run recovered from", async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 200);
    remote.reject('n1', 'item rejected: bad field', false);
    coordinator = makeCoordinator({ batchSize: 100 });
    // The first batch goes through (with n1 rejected); the second gets a 500 once, then goes through.
    remote.failNext(1, () => undefined);
    remote.failNext(1, () => new TransientSyncError('Server answered 500'));
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'error', retries: 1, failedItems: 1 });
    // Both errors were seen; which was seen last depends on whether batch 1's commit settles before batch 2's
    // 500 is handled (with a batch pushed ahead, usually not). The run's message names the item's own error.
    expect(['Server answered 500', 'item rejected: bad field']).toContain(result.lastError);
    expect(result.errorMessage).toBe('1 of 200 items failed to sync; last error: item rejected: bad field');
  });
});
