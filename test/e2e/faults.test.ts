/**
 * Every fault the reference server can inject, driven by its deterministic script, against the real HTTP remote
 * and a lowdb store file; then how the HTTP remote classifies the server's answers, and the server's own guards.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  FatalSyncError,
  InvalidOptionsError,
  MalformedReplyError,
  PermanentSyncError,
  type SyncProgress,
  TransientSyncError,
} from '../../src/index.js';
import { createSyncServer, FAULT_KINDS, type FaultKind, type FaultOptions } from '../../src/server.js';
import {
  ENTITY,
  Harness,
  type Note,
  noteId,
  recordingFetch,
  SERVER_TOKEN,
  type SentRequest,
  seedServer,
  serverItems,
  serverRecord,
  serverRecords,
  type TestServer,
} from './harness.js';

const h = new Harness();
afterEach(() => h.dispose());

const COUNT = 5;
const ids = Array.from({ length: COUNT }, (_, i) => noteId(i));

/** Syncs COUNT notes (one batch) through a server whose first request gets `fault`. */
async function syncThrough(
  fault: FaultKind,
  options: {
    faults?: Omit<FaultOptions, 'script'>;
    timeoutMs?: number;
  } = {},
) {
  const sent: SentRequest[] = [];
  const finished: { status: number; fault: string | undefined; at: number }[] = [];
  const setup = await h.setup({
    count: COUNT,
    server: {
      faults: { ...options.faults, script: [fault] },
      onRequest: ({ status, fault }) => finished.push({ status, fault, at: performance.now() }),
    },
    remote: { fetch: recordingFetch(sent), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) },
  });
  const events: SyncProgress[] = [];
  setup.coordinator.progress.subscribe((p) => events.push(p));
  const result = await setup.coordinator.sync(setup.repository);
  return { ...setup, sent, finished, events, result };
}

/** The error the run reported while it waited to retry. */
const retryError = (events: SyncProgress[]) => events.find((p) => p.retries > 0)?.errorMessage;

/** Every item is on the server, applied exactly once, and acknowledged locally. */
async function expectAllSyncedOnce(server: TestServer, pending: () => Promise<number>) {
  expect((await serverItems(server, ids)).map((s) => s.appliedVersions)).toEqual(ids.map(() => [1]));
  expect(await pending()).toBe(0);
}

describe('each fault kind of the reference server', () => {
  it('covers every kind the server knows', () => {
    // A new kind needs a test below.
    expect([...FAULT_KINDS]).toEqual([
      'error500',
      'unavailable503',
      'tooMany429',
      'timeout',
      'reset',
      'dropReply',
      'reject',
      'malformed',
      'slowDrip',
    ]);
  });

  it('error500: retried with the same Idempotency-Key and synced', async () => {
    const { server, repository, coordinator, sent, result, events } = await syncThrough('error500');
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toBe('Retrying after: Server answered 500 (Injected fault: error500)');
    expect(sent.map((r) => r.status)).toEqual([500, 200]);
    expect(sent[0]?.idempotencyKey).toBe(sent[1]?.idempotencyKey);
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 0 });
    expect(server.stats().faultsInjected.error500).toBe(1);
    await expectAllSyncedOnce(server, () => repository.pendingCount());

    // faults.queue() steers a running server: the next request fails, its retry succeeds.
    server.faults.queue('error500');
    await repository.save({ id: ids[0], text: 'edited' });
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 1, retries: 1 });
    expect(server.stats().faultsInjected.error500).toBe(2);
    expect((await serverRecord(server, ids[0]!))?.appliedVersions).toEqual([1, 2]);
  });

  it.each([
    ['unavailable503', 503],
    ['tooMany429', 429],
  ] as const)('%s: honours Retry-After before the retry, then syncs', async (fault, status) => {
    const { server, repository, sent, finished, result, events } = await syncThrough(fault, {
      faults: { retryAfterSeconds: 1 },
    });
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toBe(`Retrying after: Server answered ${status} (Injected fault: ${fault})`);
    expect(finished.map((r) => [r.status, r.fault])).toEqual([
      [status, fault],
      [200, undefined],
    ]);
    // The server finished the fault reply before the client could start waiting: the gap bounds the wait.
    const [refused, accepted] = finished;
    expect(accepted!.at - refused!.at).toBeGreaterThanOrEqual(1_000);
    const retrying = events.find((p) => p.retries > 0);
    expect(retrying?.nextRetryAt).toBeDefined();
    expect(sent[0]?.idempotencyKey).toBe(sent[1]?.idempotencyKey);
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('timeout: a reply slower than timeoutMs is abandoned and the batch retried', async () => {
    const started = Date.now();
    const { server, repository, sent, result, events } = await syncThrough('timeout', {
      faults: { hangMs: 5_000 },
      timeoutMs: 300,
    });
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toBe('Retrying after: No reply within 300 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(sent.map((r) => r.status)).toEqual([undefined, 200]);
    expect(sent[0]?.idempotencyKey).toBe(sent[1]?.idempotencyKey);
    // The hung request was never applied.
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 0 });
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('reset: a dropped connection is a network error, retried and synced', async () => {
    const { server, repository, sent, result, events } = await syncThrough('reset');
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toMatch(/^Retrying after: Network error: /);
    expect(sent.map((r) => r.status)).toEqual([undefined, 200]);
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 0 });
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('dropReply: committed then dropped; the retry with the same key gets the stored reply, not re-applied', async () => {
    const { server, repository, sent, result, events } = await syncThrough('dropReply');
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toMatch(/^Retrying after: Network error: /);
    expect(sent).toHaveLength(2);
    expect(sent[0]?.idempotencyKey).toBe(sent[1]?.idempotencyKey);
    expect(server.stats().duplicateBatches).toBeGreaterThanOrEqual(1);
    expect(server.stats()).toMatchObject({ batchesApplied: 1 });
    expect((await serverItems(server, ids)).every((s) => s.appliedCount === 1)).toBe(true);
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('reject: the rejected item is dead-lettered with the reason, the others are synced', async () => {
    const { server, local, coordinator, result } = await syncThrough('reject', {
      faults: { random: () => 0 },
    });
    const reason = 'Injected fault: item rejected';
    expect(result).toMatchObject({ state: 'error', syncedItems: COUNT - 1, failedItems: 1, retries: 0 });
    expect(result.failures).toEqual([{ id: ids[0], error: reason, attempts: 1, deadLettered: true }]);
    expect(result.errorMessage).toBe(`1 of ${COUNT} items failed to sync; last error: ${reason}`);
    expect(await coordinator.failures(ENTITY)).toMatchObject([
      { id: ids[0], lastError: reason, retryable: false, deadLettered: true },
    ]);
    expect(await serverRecord(server, ids[0]!)).toBeUndefined();
    expect((await serverItems(server, ids.slice(1))).every((s) => s.appliedCount === 1)).toBe(true);
    expect(await local.get(ids[0]!)).toMatchObject({ syncPending: true });
    expect((await local.getAll()).filter((n) => n.syncPending)).toHaveLength(1);
    // A dead letter stays out of later runs.
    expect(await coordinator.sync(ENTITY)).toMatchObject({ state: 'synced', totalItems: 0 });
  });

  it('malformed: an unparsable reply is retried (same key, stored reply) and synced', async () => {
    const { server, repository, sent, result, events } = await syncThrough('malformed');
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toMatch(/^Retrying after: Server reply is not valid JSON/);
    expect(sent.map((r) => r.status)).toEqual([200, 200]);
    expect(sent[0]?.idempotencyKey).toBe(sent[1]?.idempotencyKey);
    // The server had applied the batch before it garbled the reply.
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 1 });
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('slowDrip slower than timeoutMs: the stalled reply is abandoned, the retry gets the stored reply', async () => {
    const started = Date.now();
    const { server, repository, result, events } = await syncThrough('slowDrip', {
      faults: { dripIntervalMs: 10_000 },
      timeoutMs: 300,
    });
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 1 });
    expect(retryError(events)).toBe('Retrying after: No reply within 300 ms');
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 1 });
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });

  it('slowDrip: a reply trickling in is read to the end and synced', async () => {
    const { server, repository, result } = await syncThrough('slowDrip', { faults: { dripIntervalMs: 2 } });
    expect(result).toMatchObject({ state: 'synced', syncedItems: COUNT, retries: 0 });
    expect(server.stats().faultsInjected.slowDrip).toBe(1);
    await expectAllSyncedOnce(server, () => repository.pendingCount());
  });
});

describe('how the HTTP remote classifies the real server', () => {
  const context = (batchId: string) => ({
    signal: new AbortController().signal,
    batchId,
    entityType: ENTITY,
  });
  const note = (id: string, version = 1): Note => ({
    id,
    createdAt: 1,
    updatedAt: 1,
    version,
    syncPending: true,
    text: id,
  });

  it('413 (body over maxBodyBytes): the batch is halved until only the oversized record fails, dead-lettered', async () => {
    const { server, remote, coordinator, repository } = await h.setup({
      count: 7,
      server: { maxBodyBytes: 2_000 },
    });
    await repository.save({ id: 'huge', text: 'x'.repeat(5_000) });
    const result = await coordinator.sync(repository);
    const error = 'Server answered 413 (Body larger than 2000 bytes)';
    expect(result).toMatchObject({ state: 'error', syncedItems: 7, failedItems: 1, retries: 0 });
    expect(result.failures).toEqual([{ id: 'huge', error, attempts: 1, deadLettered: true }]);
    expect(await repository.pendingCount()).toBe(1);
    expect(await serverRecords(server)).toHaveLength(7);
    // Every record far over the cap: each fails alone (the server answers without reading the body).
    const big = Array.from({ length: 8 }, (_, i) => ({ ...note(`big-${i}`), text: 'x'.repeat(3_000) }));
    const results = await remote.syncBatch(big, context('direct'));
    expect(results).toEqual(big.map((item) => ({ id: item.id, status: 'failed', error, retryable: false })));
  });

  it('413 also for a streamed (chunked) body once it passes the cap', async () => {
    const server = await h.server({ maxBodyBytes: 1_000 });
    const chunk = new TextEncoder().encode('x'.repeat(600));
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled++ < 20) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'idempotency-key': 'chunked' },
      body,
      duplex: 'half',
    };
    const response = await fetch(`${server.url}/v1/sync/note`, init);
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({ error: 'Body larger than 1000 bytes' });
  });

  it('400 for a body that is not JSON, or not a batch', async () => {
    const server = await h.server();
    const post = (body: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}/v1/sync/note`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.token}`,
          'idempotency-key': 'raw-1',
          'content-type': 'application/json',
          ...headers,
        },
        body,
      });
    const answer = async (response: Response) => [response.status, await response.json()];

    expect(await answer(await post('{"batchId": "raw-1", "items": ['))).toEqual([
      400,
      { error: 'The body is not valid JSON' },
    ]);
    expect(await answer(await post('{"batchId": "raw-1"}'))).toEqual([
      400,
      { error: 'The body must be { "batchId", "items": [...] }' },
    ]);
    expect(await answer(await post('{"items": [{"version": 1}]}'))).toEqual([
      400,
      { error: 'Every item needs a string id' },
    ]);
    const response = await fetch(`${server.url}/v1/sync/note`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}` },
      body: '{"items": []}',
    });
    expect(await answer(response)).toEqual([
      400,
      { error: 'An Idempotency-Key header (the batch id) is required' },
    ]);
    // An item with an unusable version is rejected on its own; the rest of the batch is applied.
    expect(
      await answer(await post(JSON.stringify({ batchId: 'raw-1', items: [note('a'), { id: 'b' }] }))),
    ).toEqual([
      200,
      {
        results: [
          {
            id: 'b',
            status: 'rejected',
            reason: 'version must be a whole number of at least 1',
            retryable: false,
          },
          { id: 'a', status: 'ok', version: 1 },
        ],
      },
    ]);
    expect(server.stats().batchesApplied).toBe(1);
  });

  it('a 400 for the whole batch and a 401 reach the remote as FatalSyncError (no token), a 422 as PermanentSyncError', async () => {
    const server = await h.server();
    const remote = h.remote(server);
    const duplicate = await remote.syncBatch([note('a'), note('a')], context('dup')).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(FatalSyncError);
    expect((duplicate as Error).message).toBe(
      `Server answered 400 (Item "a" appears twice in the batch) for POST ${server.url}/v1/sync/note: ` +
        'the sync endpoint or the request is wrong; check baseUrl and the server',
    );

    expect(await remote.syncBatch([note('a')], context('key-1'))).toEqual([{ id: 'a', status: 'ok' }]);
    // The same key again with the same items: the stored reply, not applied again.
    expect(await remote.syncBatch([note('a')], context('key-1'))).toEqual([{ id: 'a', status: 'ok' }]);
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 1 });
    expect((await serverRecord(server, 'a'))?.appliedCount).toBe(1);
    // The same key with other items: refused.
    const reused = await remote.syncBatch([note('b')], context('key-1')).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(PermanentSyncError);
    expect((reused as Error).message).toBe(
      'Server answered 422 (Idempotency-Key was already used for a different batch)',
    );
    expect(await serverRecord(server, 'b')).toBeUndefined();

    const anonymous = new HttpRemoteDataSource<Note>({ baseUrl: server.url });
    const noToken = await anonymous.syncBatch([note('c')], context('anon')).catch((e: unknown) => e);
    expect(noToken).toBeInstanceOf(FatalSyncError);
    expect((noToken as Error).message).toBe(
      'Authentication failed: Server answered 401 (A valid bearer token is required)',
    );
    const badToken = 'not-the-token-123456';
    const wrong = await h
      .remote(server, { getToken: () => badToken })
      .syncBatch([note('c')], context('wrong'))
      .catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(FatalSyncError);
    expect(JSON.stringify({ message: (wrong as Error).message, stack: (wrong as Error).stack })).not.toMatch(
      new RegExp(`${badToken}|${SERVER_TOKEN}`),
    );
  });

  it('a token that cannot be sent as a header is fatal, and the error does not quote it', async () => {
    const server = await h.server();
    for (const token of ['secret-token\nsecond-line', 'secret-token-\u20ac']) {
      const error = await h
        .remote(server, { getToken: () => token })
        .syncBatch([note('a')], context('bad-token'))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FatalSyncError);
      expect((error as Error).message).toBe(
        'Authentication failed: the token from getToken is not a valid HTTP header value',
      );
    }
    expect(server.stats().requests).toBe(0);
  });

  it('a conflict comes back with the server copy; a version at or below it never overwrites it', async () => {
    const server = await h.server();
    const remote = h.remote(server);
    const theirs: Note = { ...note('a', 3), text: 'theirs' };
    await seedServer(server, [theirs]);
    const reply = await remote.syncBatch([{ ...note('a', 2), text: 'mine' }], context('c-1'));
    expect(reply).toEqual([
      {
        id: 'a',
        status: 'conflict',
        remote: { ...note('a', 3), text: 'theirs', syncPending: false },
      },
    ]);
    // The same version with other content is a conflict too; with the same content it is acknowledged.
    expect((await remote.syncBatch([{ ...note('a', 3), text: 'mine' }], context('c-2')))[0]?.status).toBe(
      'conflict',
    );
    expect(await remote.syncBatch([{ ...note('a', 3), text: 'theirs' }], context('c-3'))).toEqual([
      { id: 'a', status: 'ok' },
    ]);
    expect(await serverRecord(server, 'a')).toMatchObject({ appliedVersions: [3], item: { text: 'theirs' } });
  });

  it('refuses a reply over maxResponseBytes as malformed, retried as transient, nothing marked', async () => {
    const server = await h.server();
    const tiny = h.remote(server, { maxResponseBytes: 20 });
    const refused = await tiny.syncBatch([note('a')], context('big-1')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MalformedReplyError);
    expect((refused as Error).message).toMatch(/^Server reply of \d+ bytes exceeds the 20 byte limit$/);

    const {
      local,
      coordinator,
      repository,
      server: other,
    } = await h.setup({
      count: 2,
      remote: { maxResponseBytes: 20 },
    });
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 2, retries: 3 });
    expect(result.failures[0]).toMatchObject({ deadLettered: false });
    expect(result.failures[0]?.error).toMatch(/exceeds the 20 byte limit/);
    expect((await local.getAll()).every((n) => n.syncPending)).toBe(true);
    // The server applied the batch once; the three retries got its stored reply.
    expect(other.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 3 });
  });

  it('caps a Retry-After at maxRetryAfterMs', async () => {
    const started = Date.now();
    const { coordinator, repository } = await h.setup({
      count: 1,
      server: { faults: { script: ['unavailable503'], retryAfterSeconds: 3_600 } },
      remote: { maxRetryAfterMs: 50 },
    });
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'synced', syncedItems: 1, retries: 1 });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a server that is gone is a transient network error', async () => {
    const server = await createSyncServer({ token: SERVER_TOKEN });
    await server.close();
    const error = await h
      .remote(server)
      .syncBatch([note('a')], context('gone'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientSyncError);
    expect((error as Error).message).toBe('Network error: ECONNREFUSED');
  });

  it('an aborted signal rejects with its reason, not as a network error', async () => {
    const server = await h.server({ faults: { latencyMs: 5_000 } });
    const controller = new AbortController();
    const pending = h
      .remote(server)
      .syncBatch([note('a')], { ...context('abort'), signal: controller.signal });
    const reason = new Error('cancelled by test');
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });
});

describe('server security', () => {
  it('binds loopback only unless allowRemote is set, and wants a real token', async () => {
    await expect(createSyncServer({ host: '0.0.0.0' })).rejects.toThrow(InvalidOptionsError);
    await expect(createSyncServer({ host: '0.0.0.0' })).rejects.toThrow(
      'Refusing to bind 0.0.0.0: the sync server binds loopback unless allowRemote is set',
    );
    await expect(createSyncServer({ token: 'short' })).rejects.toThrow(/at least 8 characters/);
    const generated = await h.server({ token: undefined });
    expect(generated.token.length).toBeGreaterThanOrEqual(32);
    expect(generated.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers 401 with WWW-Authenticate for a missing, wrong or non-Bearer token; healthz is open', async () => {
    const server = await h.server();
    const sync = (authorization?: string) =>
      fetch(`${server.url}/v1/sync/note`, {
        method: 'POST',
        headers: { 'idempotency-key': 'k', ...(authorization ? { authorization } : {}) },
        body: '{"batchId": "k", "items": []}',
      });
    for (const authorization of [undefined, 'Bearer nope-nope-nope', `Basic ${server.token}`, server.token]) {
      const response = await sync(authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
      expect(await response.json()).toEqual({ error: 'A valid bearer token is required' });
    }
    expect((await sync(`Bearer ${server.token}`)).status).toBe(200);
    expect(server.stats()).toMatchObject({ syncRequests: 1, batchesApplied: 1 });

    const health = await fetch(`${server.url}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { ok: true }]);
  });

  it('GET /v1/items/{type} needs the token; wrong routes and methods are refused', async () => {
    const server = await h.server();
    await seedServer(server, [{ id: 'a', createdAt: 1, updatedAt: 1, version: 1, syncPending: true }]);
    const auth = { authorization: `Bearer ${server.token}` };
    expect((await fetch(`${server.url}/v1/items/note`)).status).toBe(401);
    const listed = await fetch(`${server.url}/v1/items/note`, { headers: auth });
    expect(await listed.json()).toEqual({
      items: [
        {
          item: { id: 'a', createdAt: 1, updatedAt: 1, version: 1, syncPending: false },
          appliedCount: 1,
          appliedVersions: [1],
        },
      ],
    });
    expect((await fetch(`${server.url}/v1/items/note`, { method: 'POST', headers: auth })).status).toBe(405);
    expect((await fetch(`${server.url}/v1/sync/note`, { headers: auth })).status).toBe(405);
    expect((await fetch(`${server.url}/v1/other/note`, { headers: auth })).status).toBe(404);
    expect(
      (await fetch(`${server.url}/v1/items/${encodeURIComponent('bad type!')}`, { headers: auth })).status,
    ).toBe(400);
    // A malformed percent-encoding is the client's mistake too: 400, not a 500 the remote would retry.
    const garbled = await fetch(`${server.url}/v1/sync/%E0%A4%A`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect([garbled.status, await garbled.json()]).toEqual([400, { error: 'Invalid entity type' }]);
  });
});
