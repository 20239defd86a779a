/**
 * The coordinator's core contract end to end: the reference server over real HTTP on 127.0.0.1, the HTTP remote
 * and a lowdb store file. Nothing of ours is mocked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ConflictPolicy,
  FatalSyncError,
  type SyncBatchContext,
  type SyncProgress,
  TransientSyncError,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import {
  ENTITY,
  Harness,
  memoryLogger,
  type Note,
  nextProgress,
  noteId,
  recordingFetch,
  SERVER_TOKEN,
  type SentRequest,
  STORE_OPTIONS,
  seedServer,
  serverItems,
  serverRecord,
  serverRecords,
  until,
} from './harness.js';

const h = new Harness();
afterEach(() => h.dispose());

const ids = (count: number) => Array.from({ length: count }, (_, i) => noteId(i));

describe('sync over HTTP into a lowdb store file', () => {
  it('pushes N records in several batches: each applied once, none pending, also after reopening the store', async () => {
    const sent: SentRequest[] = [];
    const { server, file, store, local, repository, coordinator } = await h.setup({
      count: 250,
      remote: { fetch: recordingFetch(sent) },
      coordinator: { batchSize: 100 },
    });
    const events: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => events.push(p));

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'synced', totalItems: 250, syncedItems: 250, failedItems: 0 });
    // One 0% event once the run knows its total (none with 0/0 before it), then one per batch.
    const syncing = events.filter((p) => p.state === 'syncing');
    expect(syncing.map((p) => p.percent)).toEqual([0, 40, 80, 100]);
    expect(syncing.every((p) => p.totalItems === 250)).toBe(true);
    // Three batches, three distinct idempotency keys, each with the bearer token.
    expect(sent.map((r) => [r.method, r.path, r.status])).toEqual(
      Array.from({ length: 3 }, () => ['POST', '/v1/sync/note', 200]),
    );
    expect(new Set(sent.map((r) => r.idempotencyKey)).size).toBe(3);
    expect(sent.every((r) => r.hasAuthorization)).toBe(true);
    expect(server.stats()).toMatchObject({ syncRequests: 3, batchesApplied: 3, duplicateBatches: 0 });

    for (const stored of await serverItems(server, ids(250))) {
      expect(stored).toMatchObject({ appliedCount: 1, appliedVersions: [1] });
      expect(stored.item).toEqual({ ...(await local.get(stored.item.id)), syncPending: false });
    }
    expect(await repository.pendingCount()).toBe(0);

    // The server lists what it holds (GET /v1/items/{type}, token required).
    const listed = await fetch(`${server.url}/v1/items/note`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { items: unknown[] }).items).toHaveLength(250);

    // Durable: a fresh process would see the same.
    await coordinator.stop();
    await store.close();
    const reopened = await h.store(file);
    const notes = await reopened.collection<Note>(ENTITY).getAll();
    expect(notes).toHaveLength(250);
    expect(notes.every((note) => !note.syncPending && note.version === 1)).toBe(true);
    expect(await reopened.collection<Note>(ENTITY).outbox(Date.now())).toMatchObject({ pending: 0 });
  });

  it('keeps an item edited while its batch is in flight pending, and sends the new version next run', async () => {
    const { server, file, store, local, repository, coordinator } = await h.setup({
      count: 3,
      server: { faults: { latencyMs: 300 } },
    });
    const run = coordinator.sync(repository);
    // The server has the batch (version 1 of everything) and sits in its latency.
    await until(() => server.stats().syncRequests === 1, 'the batch to reach the server');
    await repository.save({ ...(await local.get(noteId(1)))!, text: 'edited in flight' });
    const first = await run;

    expect(first).toMatchObject({ state: 'synced', totalItems: 2, syncedItems: 2, failedItems: 0 });
    expect((await serverRecord(server, noteId(1)))?.item).toMatchObject({ version: 1, text: 'note 1' });
    expect(await local.get(noteId(1))).toMatchObject({ version: 2, syncPending: true });
    expect(await local.get(noteId(0))).toMatchObject({ version: 1, syncPending: false });

    const second = await coordinator.sync(repository);
    expect(second).toMatchObject({ state: 'synced', totalItems: 1, syncedItems: 1 });
    expect(await serverRecord(server, noteId(1))).toMatchObject({
      item: { version: 2, text: 'edited in flight' },
      appliedCount: 2,
      appliedVersions: [1, 2],
    });

    await coordinator.stop();
    await store.close();
    const reopened = await h.store(file);
    expect(await reopened.collection<Note>(ENTITY).get(noteId(1))).toMatchObject({
      version: 2,
      syncPending: false,
    });
  });
});

describe('conflicts over the wire', () => {
  const serverCopy: Note = {
    id: 'c1',
    createdAt: 1,
    updatedAt: 2,
    syncPending: false,
    version: 4,
    text: 'server text',
  };

  it.each<[string, ConflictPolicy<Note>, Partial<Note>, number[]]>([
    ['server-wins', 'server-wins', { version: 4, text: 'server text' }, [4]],
    ['client-wins', 'client-wins', { version: 5, text: 'local text' }, [4, 5]],
    [
      'a merge function',
      (mine, theirs) => ({ ...theirs, text: `${theirs.text} + ${mine.text}` }),
      { version: 5, text: 'server text + local text' },
      [4, 5],
    ],
  ])('%s: the resolution is stored locally and on the server', async (_, conflicts, expected, applied) => {
    const { server, file, store, local, repository, coordinator } = await h.setup({
      coordinator: { conflicts },
    });
    await seedServer(server, [serverCopy]);
    await repository.save({ id: 'c1', text: 'local text' });

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'synced', conflicts: 1, syncedItems: 1, failedItems: 0 });
    expect(await local.get('c1')).toMatchObject({ ...expected, syncPending: false });
    expect(await serverRecord(server, 'c1')).toMatchObject({
      item: expected,
      appliedVersions: applied,
      appliedCount: applied.length,
    });
    await coordinator.stop();
    await store.close();
    const reopened = await h.store(file);
    expect(await reopened.collection<Note>(ENTITY).get('c1')).toMatchObject({
      ...expected,
      syncPending: false,
    });
  });
});

describe('CANCEL', () => {
  it('aborts the request in flight and marks nothing the server did not acknowledge', async () => {
    const { server, local, repository, coordinator } = await h.setup({
      count: 5,
      server: { faults: { latencyMs: 10_000 } },
    });
    const events: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => events.push(p));
    const run = coordinator.sync(repository);
    await until(() => server.stats().syncRequests === 1, 'the batch to reach the server');
    const cancelledAt = Date.now();
    coordinator.cancel(ENTITY);
    const result = await run;

    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
    expect(result).toMatchObject({ cancelled: true, state: 'idle', syncedItems: 0, failedItems: 0 });
    expect(events.at(-1)).toMatchObject({ state: 'idle', cancelled: true, isComplete: false });
    expect(coordinator.isSyncing(ENTITY)).toBe(false);
    expect(await repository.pendingCount()).toBe(5);
    expect((await local.getAll()).every((note) => note.syncPending)).toBe(true);
    expect(await local.failures()).toEqual([]);
    // The server never finished the request: it holds nothing.
    await server.close();
    expect(await serverRecords(server)).toEqual([]);
  });

  it('during the retry wait after a lost reply marks nothing; the next run is acknowledged by version', async () => {
    const sent: SentRequest[] = [];
    const { server, local, repository, coordinator } = await h.setup({
      count: 3,
      server: { faults: { script: ['dropReply'] } },
      remote: { fetch: recordingFetch(sent) },
      coordinator: {
        retry: { baseDelayMs: 30_000, maxDelayMs: 30_000, maxAttempts: 3, maxItemAttempts: 3 },
        random: () => 1,
      },
    });
    const run = coordinator.sync(repository);
    const retrying = await nextProgress(coordinator, (p) => p.retries > 0);
    expect(retrying.errorMessage).toMatch(/^Retrying after: Network error/);
    // Committed on the server, never acknowledged to the client.
    expect((await serverItems(server, ids(3))).map((s) => s.appliedCount)).toEqual([1, 1, 1]);
    coordinator.cancel(ENTITY);
    expect(await run).toMatchObject({ cancelled: true, syncedItems: 0 });
    expect((await local.getAll()).every((note) => note.syncPending)).toBe(true);

    // A new run has a new batch id: the server acknowledges versions it already holds, without applying them.
    const next = await coordinator.sync(repository);
    expect(next).toMatchObject({ state: 'synced', syncedItems: 3, retries: 0 });
    expect(sent).toHaveLength(2);
    expect(sent[0]?.idempotencyKey).not.toBe(sent[1]?.idempotencyKey);
    expect((await serverItems(server, ids(3))).map((s) => s.appliedVersions)).toEqual([[1], [1], [1]]);
    expect(server.stats()).toMatchObject({ batchesApplied: 2, duplicateBatches: 0 });
    expect(await repository.pendingCount()).toBe(0);
  });
});

describe('authentication', () => {
  it('a rejected token ends the run in error with an auth message, and the token appears nowhere', async () => {
    const wrongToken = 'wrong-token-5e6f7a8b9c';
    const calls: boolean[] = [];
    const logger = memoryLogger();
    const { server, repository, coordinator } = await h.setup({
      count: 3,
      remote: {
        getToken: ({ refresh }) => {
          calls.push(refresh);
          return wrongToken;
        },
      },
      coordinator: { logger },
    });
    const events: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => events.push(p));

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 0, totalItems: 3 });
    expect(result.errorMessage).toBe(
      'Sync run stopped after 0 of 3 items: Authentication failed: Server answered 401 ' +
        '(A valid bearer token is required)',
    );
    expect(events.at(-1)).toMatchObject({ state: 'error', errorMessage: result.errorMessage });
    // One refresh, then the run stops: no retries of a rejected credential.
    expect(calls).toEqual([false, true]);
    expect(server.stats()).toMatchObject({ requests: 2, syncRequests: 0, batchesApplied: 0 });
    expect(await repository.pendingCount()).toBe(3);
    const everything = JSON.stringify({ result, events, log: logger.lines });
    expect(logger.lines.some((line) => line.includes('Authentication failed'))).toBe(true);
    for (const token of [wrongToken, SERVER_TOKEN]) expect(everything).not.toContain(token);
  });

  it('refreshes the token once after a 401 and syncs', async () => {
    let current = 'expired-token-0a1b2c3d';
    const calls: boolean[] = [];
    const statuses: number[] = [];
    const { server, repository, coordinator } = await h.setup({
      count: 5,
      server: { onRequest: (entry) => statuses.push(entry.status) },
      remote: {
        getToken: ({ refresh }) => {
          calls.push(refresh);
          if (refresh) current = SERVER_TOKEN;
          return current;
        },
      },
      coordinator: { batchSize: 2 },
    });

    const result = await coordinator.sync(repository);

    expect(result).toMatchObject({ state: 'synced', syncedItems: 5, retries: 0 });
    // Three batches. The first is sent again with the refreshed token; the second (pushed ahead while the first
    // was out) may have gone with the expired one too, and is then resent with the token of that same refresh.
    expect(calls.filter((refresh) => refresh)).toEqual([true]);
    expect(statuses.filter((status) => status === 200)).toHaveLength(3);
    expect(statuses.filter((status) => status === 401).length).toBeOneOf([1, 2]);
    // One token read per batch; a batch refused with the old token resends with the refresh's result.
    expect(calls.filter((refresh) => !refresh)).toHaveLength(3);
    expect((await serverItems(server, ids(5))).every((s) => s.appliedCount === 1)).toBe(true);
    expect(await repository.pendingCount()).toBe(0);
  });
});

describe('one token refresh for requests in flight together', () => {
  const note = (id: string): Note => ({
    id,
    createdAt: 1,
    updatedAt: 1,
    version: 1,
    syncPending: true,
    text: id,
  });
  const context = (batchId: string): SyncBatchContext => ({
    signal: new AbortController().signal,
    batchId,
    entityType: ENTITY,
  });

  it('a request that leaves while a refresh runs waits for it instead of spending a second refresh', async () => {
    const server = await h.server();
    const sent: SentRequest[] = [];
    let current = 'expired-token-1a2b3c4d';
    let refreshes = 0;
    let releaseRefresh = () => {};
    const refreshHeld = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    const remote = h.remote(server, {
      fetch: recordingFetch(sent),
      getToken: async ({ refresh }) => {
        if (refresh) {
          refreshes += 1;
          await refreshHeld;
          current = SERVER_TOKEN;
        }
        return current;
      },
    });

    const first = remote.syncBatch([note('a')], context('b1'));
    await until(() => refreshes === 1, 'the refresh after the first 401');
    const second = remote.syncBatch([note('b')], context('b2'));
    await new Promise((resolve) => setTimeout(resolve, 30));
    releaseRefresh();

    expect(await first).toEqual([{ id: 'a', status: 'ok' }]);
    expect(await second).toEqual([{ id: 'b', status: 'ok' }]);
    expect(refreshes).toBe(1);
    expect(sent.filter((r) => r.idempotencyKey === 'b1').map((r) => r.status)).toEqual([401, 200]);
    // It never went out with the token being replaced.
    expect(sent.filter((r) => r.idempotencyKey === 'b2').map((r) => r.status)).toEqual([200]);
  });

  it('a token refresh that hangs does not hold a request that is aborted or past its deadline', async () => {
    const server = await h.server();
    const remote = h.remote(server, {
      timeoutMs: 300,
      getToken: ({ refresh }) => (refresh ? new Promise<string>(() => {}) : 'expired-token-9a8b7c6d'),
    });

    // Cancelled while the refresh hangs: the caller's reason, at once.
    const controller = new AbortController();
    const cancelled = remote
      .syncBatch([note('a')], { signal: controller.signal, batchId: 'b1', entityType: ENTITY })
      .catch((error: unknown) => error);
    await until(() => server.stats().requests >= 1, 'the first 401');
    await new Promise((resolve) => setTimeout(resolve, 30));
    controller.abort(new Error('cancelled by the test'));
    expect(((await cancelled) as Error).message).toBe('cancelled by the test');

    // Not cancelled: the request's deadline ends the wait, as a transient error.
    const timedOut = await remote.syncBatch([note('b')], context('b2')).catch((error: unknown) => error);
    expect(timedOut).toBeInstanceOf(TransientSyncError);
    expect((timedOut as Error).message).toBe('No reply within 300 ms');
  });

  it('a failed refresh fails every request refused with the old token the same way: fatal, not a 401', async () => {
    const server = await h.server();
    let refreshes = 0;
    let releaseRefresh = () => {};
    const refreshHeld = new Promise<void>((resolve) => {
      releaseRefresh = resolve;
    });
    const remote = h.remote(server, {
      getToken: async ({ refresh }) => {
        if (!refresh) return 'expired-token-5e6f7a8b';
        refreshes += 1;
        await refreshHeld;
        throw new Error('auth server unreachable');
      },
    });

    // Both leave with the expired token before either 401 is back.
    const outcomes = [
      remote.syncBatch([note('a')], context('b1')).catch((error: unknown) => error),
      remote.syncBatch([note('b')], context('b2')).catch((error: unknown) => error),
    ];
    await until(() => refreshes === 1, 'the refresh');
    await new Promise((resolve) => setTimeout(resolve, 30));
    releaseRefresh();
    const errors = await Promise.all(outcomes);

    expect(refreshes).toBe(1);
    // A getToken that throws ends the run (its message may quote a token, so it is redacted and re-raised).
    for (const error of errors) {
      expect(error).toBeInstanceOf(FatalSyncError);
      expect((error as Error).message).toBe('getToken failed: auth server unreachable');
    }
    expect(server.stats()).toMatchObject({ batchesApplied: 0 });
  });
});

describe('the store file', () => {
  it('is refused while another store instance holds it, so only one writer syncs it', async () => {
    const { file } = await h.setup({ count: 1 });
    await expect(LowdbLocalStore.open(file, STORE_OPTIONS)).rejects.toThrow(/already open/);
  });
});
