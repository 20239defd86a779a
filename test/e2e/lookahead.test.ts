/**
 * `maxBatchesInFlight` end to end: the batch machine pushes later pages while earlier batches' requests are out,
 * and still handles results strictly in order (test/machines/batch-push.test.ts pins the machine alone). Real parts throughout: the reference server over HTTP on 127.0.0.1, the
 * HTTP remote and a lowdb store file (the e2e harness), or the in-process test remote over a memory store where a
 * test must hold one batch in flight.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchPushContext } from '../../machines/batch-push.types.js';
import type { BatchPushView } from '../../machines/batch-run.js';
import { batchPushView } from '../../machines/batch-run.js';
import type { SyncCoordinator } from '../../src/coordinator/sync-coordinator.js';
import type { HttpRemoteOptions } from '../../src/http.js';
import {
  InvalidOptionsError,
  type ItemResult,
  MemoryLocalDataSource,
  type PendingPage,
  type PendingQuery,
  type RemoteDataSource,
  Repository,
  type SyncBatchContext,
  type SyncProgress,
  TransientSyncError,
} from '../../src/index.js';
import { makeCoordinator, makeRepo, seed } from '../helpers/fixtures.js';
import { postSync } from '../helpers/post-sync.js';
import { TestRemote } from '../helpers/test-remote.js';
import {
  ENTITY,
  FAST_RETRY,
  Harness,
  type Note,
  noteId,
  recordingFetch,
  SERVER_TOKEN,
  type SentRequest,
  serverItems,
  until,
} from './harness.js';

const h = new Harness();
afterEach(() => h.dispose());

const ids = (count: number) => Array.from({ length: count }, (_, i) => noteId(i));

/** Passes every batch to `inner` and records how many were in flight at once. */
class CountingRemote implements RemoteDataSource<Note> {
  inFlight = 0;
  maxInFlight = 0;
  /** Batch ids in the order their calls started. */
  readonly started: string[] = [];
  constructor(readonly inner: RemoteDataSource<Note>) {}

  async syncBatch(items: readonly Note[], context: SyncBatchContext): Promise<ItemResult<Note>[]> {
    this.started.push(context.batchId);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.inner.syncBatch(items, context);
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** A server with latency, a lowdb store with `count` notes, and a repository whose remote counts concurrency. */
async function setup(options: {
  count: number;
  latencyMs?: number;
  fetch?: typeof fetch;
  batchSize?: number;
  maxBatchesInFlight?: number;
  getToken?: HttpRemoteOptions['getToken'];
}) {
  const server = await h.memoryServer({
    faults: { latencyMs: options.latencyMs ?? 15, retryAfterSeconds: 0 },
  });
  const dir = await h.tempDir();
  const store = await h.store(`${dir}/store.json`);
  const local = store.collection<Note>(ENTITY);
  const remote = new CountingRemote(
    h.remote(server, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.getToken ? { getToken: options.getToken } : {}),
    }),
  );
  const repository = new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'push' });
  await repository.saveMany(ids(options.count).map((id, i) => ({ id, text: `note ${i}` })));
  const coordinator = h.coordinator({
    batchSize: options.batchSize ?? 5,
    maxBatchesInFlight: options.maxBatchesInFlight ?? 2,
  });
  const events: SyncProgress[] = [];
  coordinator.progress.subscribe((p) => events.push(p));
  return { server, store, local, remote, repository, coordinator, events };
}

/** Every record marked synced locally is on the server in that exact version, applied once per version. */
async function expectStoreAgreesWithServer(
  server: Awaited<ReturnType<typeof setup>>['server'],
  local: Awaited<ReturnType<typeof setup>>['local'],
) {
  for (const record of await local.getAll()) {
    const stored = server.state.get(ENTITY, record.id);
    if (!record.syncPending)
      expect(stored?.item, `${record.id} is synced, so the server holds it`).toEqual(record);
    if (stored) expect(stored.appliedVersions, `${record.id} applied once`).toEqual([record.version]);
  }
}

const syncingCounts = (events: SyncProgress[]) =>
  events.filter((p) => p.state === 'syncing').map((p) => p.syncedItems);

/** The batch actor's snapshot, or undefined between runs. */
const batchSnapshot = (coordinator: SyncCoordinator) =>
  coordinator.actor.system.get(`batch:${ENTITY}`)?.getSnapshot() as
    | { context: BatchPushContext; value: unknown }
    | undefined;

/** The batch actor as the inspector sees it (its window included). */
function batchView(coordinator: SyncCoordinator): BatchPushView | undefined {
  const snapshot = batchSnapshot(coordinator);
  return snapshot && batchPushView(snapshot.context);
}

/** A process turn: rejections nobody handled are reported by then. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Non-decreasing. */
const isMonotonic = (values: number[]) => values.every((v, i) => i === 0 || v >= (values[i - 1] ?? 0));

describe('maxBatchesInFlight: batches pushed ahead', () => {
  it('syncs every record once, each batch id once, with two requests in flight at a time', async () => {
    const sent: SentRequest[] = [];
    const { server, local, remote, repository, coordinator, events } = await setup({
      count: 60,
      fetch: recordingFetch(sent),
    });

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({
      state: 'synced',
      totalItems: 60,
      syncedItems: 60,
      failedItems: 0,
      retries: 0,
    });
    expect(remote.maxInFlight, 'a lookahead push overlapped the current one').toBe(2);
    expect(sent, 'twelve batches').toHaveLength(12);
    expect(sent.every((r) => r.status === 200)).toBe(true);
    expect(new Set(sent.map((r) => r.idempotencyKey)).size, 'each batch id once').toBe(12);
    expect(server.stats()).toMatchObject({ syncRequests: 12, batchesApplied: 12, duplicateBatches: 0 });
    for (const stored of await serverItems(server, ids(60))) expect(stored.appliedVersions).toEqual([1]);
    expect(await repository.pendingCount()).toBe(0);
    await expectStoreAgreesWithServer(server, local);
    // Results are handled in order: progress only grows, one batch at a time.
    const counts = syncingCounts(events);
    expect(isMonotonic(counts), `progress ${counts.join(',')}`).toBe(true);
    expect(counts.at(-1)).toBe(60);
  });

  it('keeps one request in flight with maxBatchesInFlight: 1', async () => {
    const { remote, repository, coordinator } = await setup({ count: 20, maxBatchesInFlight: 1 });
    expect((await coordinator.sync(repository)).syncedItems).toBe(20);
    expect(remote.maxInFlight).toBe(1);
  });

  it('handles a batch pushed ahead only after the batch before it, even when its reply comes first', async () => {
    const { repository, local, remote } = makeRepo();
    await seed(repository, 15);
    const coordinator = makeCoordinator({ batchSize: 5, maxBatchesInFlight: 2 });
    h.defer(() => coordinator.stop());
    const events: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => events.push(p));
    const held = remote.holdNext();

    const result = coordinator.sync(repository);
    await held.reached;
    // The second batch goes out and is answered while the first is held.
    await until(() => remote.calls.length === 2 && remote.maxInFlight === 2, 'the lookahead push');
    await until(() => remote.stored(ENTITY, 'n5') !== undefined, 'the server to apply batch 2');
    // Batch 2's result is in the window, behind the head.
    await until(
      () => batchView(coordinator)?.window[1]?.status === 'in',
      'batch 2 result kept in the window',
    );
    expect(remote.calls.map((c) => c.ids)).toEqual([
      ['n0', 'n1', 'n2', 'n3', 'n4'],
      ['n5', 'n6', 'n7', 'n8', 'n9'],
    ]);
    // Only one batch ahead: the third waits until the second is the current one.
    expect(remote.calls).toHaveLength(2);
    // Its reply is in, yet nothing is settled before batch 1 is.
    expect(syncingCounts(events).every((n) => n === 0)).toBe(true);
    expect((await local.get('n5'))?.syncPending).toBe(true);

    held.release();
    expect(await result).toMatchObject({ state: 'synced', syncedItems: 15, failedItems: 0 });
    expect(syncingCounts(events).filter((n) => n > 0)).toEqual([5, 10, 15]);
    expect(remote.calls.map((c) => c.batchId.split('.').at(-1))).toEqual(['1', '2', '3']);
    expect(await repository.pendingCount()).toBe(0);
  });

  it('retries a batch that gets a 503 while the next is ahead, with the same batch id; all ends synced', async () => {
    const sent: SentRequest[] = [];
    const record = recordingFetch(sent);
    let server: Awaited<ReturnType<typeof setup>>['server'] | undefined;
    // Batch 2 leaves only once the server has drawn batch 1's fault, so the 503 is batch 1's for sure.
    const gated: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (!request.headers.get('idempotency-key')?.endsWith('.1')) {
        await until(() => (server?.faults.injected.unavailable503 ?? 0) >= 1, 'the 503 of batch 1');
      }
      return record(request);
    };
    const s = await setup({ count: 20, fetch: gated, latencyMs: 30 });
    server = s.server;
    s.server.faults.queue('unavailable503');
    const { local, remote, repository, coordinator, events } = s;

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'synced', syncedItems: 20, failedItems: 0, retries: 1 });
    expect(remote.maxInFlight).toBe(2);
    const first = sent[0];
    expect(first?.status).toBe(503);
    expect(first?.idempotencyKey).toMatch(/\.1$/);
    // Batch 2 went out while batch 1 was failing, and batch 1 went out again under its own id.
    expect(sent[1]?.idempotencyKey).toMatch(/\.2$/);
    const retried = sent.filter((r) => r.idempotencyKey === first?.idempotencyKey);
    expect(retried.map((r) => r.status)).toEqual([503, 200]);
    expect(new Set(sent.map((r) => r.idempotencyKey)).size).toBe(4);
    expect(s.server.stats()).toMatchObject({ batchesApplied: 4, duplicateBatches: 0 });
    for (const stored of await serverItems(s.server, ids(20))) expect(stored.appliedVersions).toEqual([1]);
    expect(await repository.pendingCount()).toBe(0);
    await expectStoreAgreesWithServer(s.server, local);
    expect(isMonotonic(syncingCounts(events))).toBe(true);
  });

  it('a 401 on batch 1 while batch 2 is ahead ends the run in error; batch 2 stays pending though applied', async () => {
    let breakAuth = true;
    let server: Awaited<ReturnType<typeof setup>>['server'] | undefined;
    // Batch 1 carries a wrong token (the refresh gets the same one): 401 twice, a fatal error. Its reply waits
    // until the server has applied batch 2, so the lookahead's success is in before the run stops.
    const breaking: typeof fetch = async (input, init) => {
      const request = input instanceof Request ? input : new Request(input, init);
      if (!breakAuth || !request.headers.get('idempotency-key')?.endsWith('.1')) return fetch(request);
      const headers = new Headers(request.headers);
      headers.set('authorization', 'Bearer wrong-token-0000');
      const response = await fetch(new Request(request, { headers }));
      await until(() => (server?.stats().batchesApplied ?? 0) >= 1, 'the server to apply batch 2');
      return response;
    };
    const s = await setup({ count: 10, fetch: breaking });
    server = s.server;
    const { local, remote, repository, coordinator } = s;
    const before = await local.getAll();

    const result = await coordinator.sync(repository);

    expect(result.state).toBe('error');
    expect(result.errorMessage).toMatch(/Authentication failed/);
    expect(result.syncedItems).toBe(0);
    expect(remote.maxInFlight).toBe(2);
    // The server holds batch 2 (n5-n9) but its result was never handled: nothing is marked synced, nothing changed.
    expect(s.server.state.get(ENTITY, noteId(5))).toBeDefined();
    expect(s.server.state.get(ENTITY, noteId(0))).toBeUndefined();
    expect(await local.getAll()).toEqual(before);
    expect(await repository.pendingCount()).toBe(10);
    expect(await local.failures()).toEqual([]);
    await expectStoreAgreesWithServer(s.server, local);

    // With the token fixed, the next run finishes; batch 2's items are acknowledged by version, not applied again.
    breakAuth = false;
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 10 });
    expect(await repository.pendingCount()).toBe(0);
    for (const stored of await serverItems(s.server, ids(10))) expect(stored.appliedVersions).toEqual([1]);
    await expectStoreAgreesWithServer(s.server, local);
  });

  describe('cancel and stop with a push ahead', () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    beforeEach(() => {
      unhandled.length = 0;
      process.on('unhandledRejection', onUnhandled);
    });
    afterEach(() => {
      process.off('unhandledRejection', onUnhandled);
    });

    /** 50 notes on a slow server, a run started and a few batches in with a push ahead. */
    async function runWithPushAhead() {
      const context = await setup({ count: 50, latencyMs: 25 });
      const run = context.coordinator.sync(context.repository);
      await until(
        () => context.remote.inFlight === 2 && context.remote.started.length >= 4,
        'a push ahead, a few batches in',
      );
      return { ...context, run };
    }

    it('cancel: aborts both requests, leaves the store consistent, and the next sync finishes', async () => {
      const { server, local, remote, repository, coordinator, run } = await runWithPushAhead();
      coordinator.cancel(ENTITY);
      const cancelled = await run;

      expect(cancelled).toMatchObject({ cancelled: true });
      await until(() => remote.inFlight === 0, 'the aborted requests to settle');
      await expectStoreAgreesWithServer(server, local);
      expect(await repository.pendingCount()).toBeGreaterThan(0);

      expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced' });
      expect(await repository.pendingCount()).toBe(0);
      for (const stored of await serverItems(server, ids(50))) expect(stored.appliedVersions).toEqual([1]);
      await expectStoreAgreesWithServer(server, local);
      await nextTurn();
      expect(unhandled).toEqual([]);
    });

    it('stop: waits for in-flight work; a new coordinator on the same store finishes the outbox', async () => {
      const { server, local, remote, repository, coordinator, run } = await runWithPushAhead();
      await coordinator.stop();
      expect(await run).toMatchObject({ cancelled: true });
      await until(() => remote.inFlight === 0, 'the aborted requests to settle');
      await expectStoreAgreesWithServer(server, local);
      expect(await repository.pendingCount()).toBeGreaterThan(0);

      const next = h.coordinator({ batchSize: 5, maxBatchesInFlight: 2, retry: FAST_RETRY });
      expect(await next.sync(repository)).toMatchObject({ state: 'synced' });
      expect(await repository.pendingCount()).toBe(0);
      for (const stored of await serverItems(server, ids(50))) expect(stored.appliedVersions).toEqual([1]);
      await expectStoreAgreesWithServer(server, local);
      await nextTurn();
      expect(unhandled).toEqual([]);
    });
  });

  it('waits for a lookahead page still loading when the current batch is done, and never loads it twice', async () => {
    // The lookahead's page load is held until batch 1 is settled, so `next` finds it still loading.
    const queries: (number | undefined)[] = [];
    let releasePage = () => {};
    const pageGate = new Promise<void>((resolve) => {
      releasePage = resolve;
    });
    class SlowSecondPage extends MemoryLocalDataSource<Note> {
      override async pending(query: PendingQuery): Promise<PendingPage<Note>> {
        queries.push(query.after);
        if (queries.length === 2) await pageGate;
        return super.pending(query);
      }
    }
    const remote = new TestRemote<Note>();
    const repository = new Repository<Note>({ entityType: 'note', local: new SlowSecondPage(), remote });
    await seed(repository, 15);
    const coordinator = makeCoordinator({ batchSize: 5, maxBatchesInFlight: 2 });
    h.defer(() => coordinator.stop());
    const events: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => events.push(p));

    const run = coordinator.sync(repository);
    await until(() => syncingCounts(events).includes(5), 'batch 1 to be settled');
    expect(remote.calls).toHaveLength(1);
    releasePage();

    expect(await run).toMatchObject({ state: 'synced', syncedItems: 15, failedItems: 0 });
    expect(remote.calls.map((c) => c.ids.length)).toEqual([5, 5, 5]);
    expect(new Set(remote.calls.flatMap((c) => c.ids)).size, 'no item pushed twice').toBe(15);
    // One load per page, each from a new cursor (plus the empty page that ends the run).
    expect(new Set(queries).size).toBe(queries.length);
  });

  it('pushes nothing ahead during a retry wait: a page loaded meanwhile waits for the retried batch', async () => {
    // The lookahead's page load is held until batch 1 has failed, so it arrives during the retry wait.
    let pageLoads = 0;
    let releasePage = () => {};
    const pageGate = new Promise<void>((resolve) => {
      releasePage = resolve;
    });
    class SlowSecondPage extends MemoryLocalDataSource<Note> {
      override async pending(query: PendingQuery): Promise<PendingPage<Note>> {
        pageLoads += 1;
        if (pageLoads === 2) await pageGate;
        return super.pending(query);
      }
    }
    const remote = new TestRemote<Note>();
    const repository = new Repository<Note>({ entityType: 'note', local: new SlowSecondPage(), remote });
    await seed(repository, 15);
    const waitMs = 300;
    const coordinator = makeCoordinator({
      batchSize: 5,
      maxBatchesInFlight: 2,
      retry: { baseDelayMs: waitMs, maxDelayMs: waitMs, maxAttempts: 3, maxItemAttempts: 3 },
      random: () => 1,
    });
    h.defer(() => coordinator.stop());
    remote.failNext(1, () => new TransientSyncError('Server answered 503', { retryAfterMs: waitMs }));

    const run = coordinator.sync(repository);
    await until(() => remote.calls.length === 1, 'batch 1 to be pushed');
    await until(() => batchSnapshot(coordinator)?.value === 'backingOff', 'the retry wait');
    releasePage();
    // The page arrives during the wait and is kept in the window, not sent: the server asked for a pause.
    await until(() => batchView(coordinator)?.window[1]?.status === 'queued', 'the page kept in the window');
    expect(batchSnapshot(coordinator)?.value).toBe('backingOff');
    expect(remote.calls).toHaveLength(1);

    expect(await run).toMatchObject({ state: 'synced', syncedItems: 15, failedItems: 0, retries: 1 });
    expect(remote.calls.map((c) => c.batchId.split('.').at(-1))).toEqual(['1', '1', '2', '3']);
    expect(await repository.pendingCount()).toBe(0);
  });

  it('refreshes an expired token once when both requests in flight get a 401', async () => {
    let current = 'expired-token-7c8d9e0f';
    const calls: boolean[] = [];
    const sent: SentRequest[] = [];
    const { server, repository, coordinator } = await setup({
      count: 15,
      fetch: recordingFetch(sent),
      getToken: ({ refresh }) => {
        calls.push(refresh);
        if (refresh) current = SERVER_TOKEN;
        return current;
      },
    });

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'synced', syncedItems: 15, retries: 0 });
    // Batches 1 and 2 both went out with the expired token; one refresh served both resends.
    expect(sent.filter((r) => r.status === 401)).toHaveLength(2);
    expect(calls.filter((refresh) => refresh)).toEqual([true]);
    expect(server.stats()).toMatchObject({ batchesApplied: 3, duplicateBatches: 0 });
    for (const stored of await serverItems(server, ids(15))) expect(stored.appliedVersions).toEqual([1]);
  });

  it('takes any positive whole number and refuses the rest with InvalidOptionsError', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
      expect(() => makeCoordinator({ maxBatchesInFlight: bad as never })).toThrow(InvalidOptionsError);
    }
    expect(() => makeCoordinator({ maxBatchesInFlight: 0 })).toThrow(
      /maxBatchesInFlight must be a whole number of at least 1, got 0/,
    );
    for (const good of [1, 3, 8, 64]) await makeCoordinator({ maxBatchesInFlight: good }).stop();
  });

  it('keeps four requests in flight with maxBatchesInFlight: 4, results still in order', async () => {
    const { server, local, remote, repository, coordinator, events } = await setup({
      count: 60,
      maxBatchesInFlight: 4,
    });
    expect(await coordinator.sync(repository)).toMatchObject({
      state: 'synced',
      syncedItems: 60,
      failedItems: 0,
    });
    expect(remote.maxInFlight).toBe(4);
    expect(server.stats()).toMatchObject({ batchesApplied: 12, duplicateBatches: 0 });
    await expectStoreAgreesWithServer(server, local);
    const counts = syncingCounts(events);
    expect(isMonotonic(counts), `progress ${counts.join(',')}`).toBe(true);
  });
});

describe('pull look-ahead', () => {
  it("sends the next page's request before the current page is planned, so the server works meanwhile", async () => {
    const sent: SentRequest[] = [];
    const { server, repository } = await h.setup({
      count: 3,
      direction: 'pull',
      remote: { fetch: recordingFetch(sent) },
    });
    // Another client's version of each pending note: every page (of one change) is a conflict, so the resolver
    // runs while its page is planned, and can see which requests have left by then.
    const items = ids(3).map((id) => ({
      id,
      version: 1,
      createdAt: 1,
      updatedAt: 2,
      syncPending: true,
      text: 'theirs',
    }));
    const other = await postSync(
      server.url,
      server.token,
      'other-client',
      JSON.stringify({ batchId: 'other-client', items }),
      ENTITY,
    );
    expect(other.status).toBe(200);
    const pullsSentWhilePlanning: number[] = [];
    const coordinator = h.coordinator({
      pull: { pageSize: 1 },
      conflicts: (local: Note) => {
        pullsSentWhilePlanning.push(sent.filter((r) => r.path.startsWith('/v1/changes/')).length);
        return local;
      },
    });

    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', pulledItems: 0 });
    // Page n is planned with the request for page n + 1 already sent (the last page says there is no more).
    expect(pullsSentWhilePlanning).toEqual([2, 3, 3]);
  });
});
