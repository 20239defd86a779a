/**
 * Issue 13, live mode over HTTP: two clients with `live: true` each hold one long-poll for the server's changes
 * between runs. A change one client syncs reaches the other within a second; idle, a client costs one held request
 * per type, renewed every `pull.liveWaitSeconds`, not a request per second; a server that goes away is retried on a
 * backoff (no tight loop) and the watch resumes when it is back; `coordinator.stop()` ends the held request at once.
 * Real parts: the reference server on 127.0.0.1, lowdb stores in temp dirs, `HttpRemoteDataSource`,
 * `SyncCoordinator`; the requests are counted by a pass-through `fetch`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type SyncProgress } from '../../src/index.js';
import { hostileServer } from '../helpers/hostile-server.js';
import { recordFigures } from '../reliability/report.js';
import {
  ENTITY,
  Harness,
  type Note,
  nextProgress,
  recordingFetch,
  SERVER_STORE,
  type SentRequest,
  type TestServer,
  until,
} from './harness.js';

let harness: Harness;
afterEach(() => harness.dispose());

const LIVE_WAIT_SECONDS = 2;
const CHANGES_PATH = `/v1/changes/${ENTITY}`;

/** A live device: its own store, coordinator and counted requests. */
async function liveDevice(server: TestServer, name: string, liveWaitSeconds = LIVE_WAIT_SECONDS) {
  const store = await harness.store(join(await harness.tempDir(), `${name}.json`));
  const local = store.collection<Note>(ENTITY);
  const sent: SentRequest[] = [];
  const remote = harness.remote(server, { fetch: recordingFetch(sent) });
  const repository = new Repository<Note>({ entityType: ENTITY, local, remote, live: true });
  const coordinator = harness.coordinator({ pull: { liveWaitSeconds } });
  return {
    repository,
    coordinator,
    sync: () => coordinator.sync(repository),
    /** Requests for changes sent so far (held, renewed, failed alike). */
    changeRequests: () => sent.filter((request) => request.path === CHANGES_PATH).length,
    /** The next finished run that pulled something. */
    nextPull: () => nextProgress(coordinator, (p: SyncProgress) => p.state === 'synced' && p.pulledItems > 0),
  };
}

/** Two live devices, both synced once and each holding its long-poll. */
async function twoLiveDevices(server: TestServer) {
  const a = await liveDevice(server, 'a');
  const b = await liveDevice(server, 'b');
  expect(await a.sync()).toMatchObject({ state: 'synced' });
  expect(await b.sync()).toMatchObject({ state: 'synced' });
  await until(() => server.stats().longPolls === 2, 'both devices to hold a long-poll');
  return { a, b };
}

/** Lets `ms` of wall time pass: what a test that counts requests over a period measures. */
const observe = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('live mode', () => {
  it('a change reaches the other device within a second, and an idle device holds one request renewed every liveWaitSeconds', {
    timeout: 40_000,
  }, async () => {
    harness = new Harness();
    const server = await harness.server();
    const { a, b } = await twoLiveDevices(server);

    // (a) Latency: from A's save to B's repository holding the record, with no sync asked of B.
    const pulled = b.nextPull();
    const savedAt = performance.now();
    await a.repository.save({ id: 'n1', text: 'from A' });
    expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await pulled).toMatchObject({ pulledItems: 1, conflicts: 0 });
    const latencyMs = Math.round(performance.now() - savedAt);
    expect(await b.repository.get('n1')).toMatchObject({ text: 'from A', version: 1, syncPending: false });
    expect(latencyMs).toBeLessThan(1_000);

    // (b) Idle cost: nothing changes for 10 s. A's own push woke A's watch too; wait until both hold one again.
    await until(() => server.stats().longPolls === 2, 'both devices to hold a long-poll again');
    const before = { a: a.changeRequests(), b: b.changeRequests(), server: server.stats() };
    await observe(10_000);
    const idle = { a: a.changeRequests() - before.a, b: b.changeRequests() - before.b };
    const expectedMost = 10 / LIVE_WAIT_SECONDS + 1;
    for (const requests of [idle.a, idle.b]) {
      // Renewed about every liveWaitSeconds (4 or 5 start in 10 s; 3 leaves room for a slow machine): the watch is
      // alive, and it is not a request per second.
      expect(requests).toBeGreaterThanOrEqual(3);
      expect(requests).toBeLessThanOrEqual(expectedMost);
    }
    expect(server.stats().changeRequests - before.server.changeRequests).toBe(idle.a + idle.b);
    expect(server.stats().syncRequests).toBe(before.server.syncRequests);
    // Still one held request each (a renewal may be between two requests for a moment).
    await until(() => server.stats().longPolls === 2, 'both devices to hold their request');
    // One figure file per server store: both projects run this suite.
    recordFigures(SERVER_STORE === 'memory' ? 'live' : `live-${SERVER_STORE}`, {
      latencyMs,
      idleRequests: idle.a + idle.b,
      idleSeconds: 10,
      liveWaitSeconds: LIVE_WAIT_SECONDS,
      clients: 2,
    });
  });

  it('a server that stops is retried on a backoff, and the watch resumes when it is back', async () => {
    harness = new Harness();
    const storage = await harness.storage();
    const server = await harness.server({ storage });
    const { a, b } = await twoLiveDevices(server);

    const runId = () => [a, b].map((device) => device.coordinator.getProgress(ENTITY)?.runId);
    const before = { a: a.changeRequests(), b: b.changeRequests(), runs: runId() };
    await server.close();
    await observe(3_000);
    const whileDown = { a: a.changeRequests() - before.a, b: b.changeRequests() - before.b };
    for (const requests of [whileDown.a, whileDown.b]) {
      // At least a second between attempts: the renewal after close() answered the held request, then about one
      // a second. A tight loop would be hundreds.
      expect(requests).toBeGreaterThanOrEqual(2);
      expect(requests).toBeLessThanOrEqual(5);
    }
    // A failed watch backs off; it starts no run.
    expect(runId()).toEqual(before.runs);

    // Back on the same port and storage: the checkpoints are still good, and each device holds its request again.
    const restarted = await harness.server({ storage, port: server.port });
    await until(() => restarted.stats().longPolls === 2, 'both watches to resume', 5_000);
    const pulled = b.nextPull();
    await a.repository.save({ id: 'n2', text: 'after the restart' });
    expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await pulled).toMatchObject({ pulledItems: 1, resets: 0 });
    expect(await b.repository.get('n2')).toMatchObject({ text: 'after the restart' });
  });

  it('a run that leaves a dead letter keeps the type live: the next change still arrives within a second', async () => {
    harness = new Harness();
    const server = await harness.server();
    const { a, b } = await twoLiveDevices(server);
    // B's next push has its item refused for good: the run ends in error with nothing left to retry.
    await b.repository.save({ id: 'x', text: 'refused' });
    server.faults.queue('reject');
    const failed = await b.sync();
    expect(failed).toMatchObject({
      state: 'error',
      failedItems: 1,
      failures: [{ id: 'x', deadLettered: true }],
    });
    expect(failed.nextRetryAt).toBeUndefined();

    // Nothing would start another run: B still holds its request, so A's next change reaches it unasked.
    await until(() => server.stats().longPolls === 2, 'B to hold its request again after the failed run');
    const pulled = b.nextPull();
    const savedAt = performance.now();
    await a.repository.save({ id: 'n1', text: 'from A' });
    expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await pulled).toMatchObject({ pulledItems: 1 });
    expect(performance.now() - savedAt).toBeLessThan(1_000);
    expect(await b.repository.get('n1')).toMatchObject({ text: 'from A' });
  });

  it('a live type stopped by the reset cap holds no request until the reset window ends', async () => {
    harness = new Harness();
    // A server that answers every pull with a reset (and acknowledges every push).
    let pulls = 0;
    const hostile = await hostileServer(
      (request, response) => {
        response.setHeader('content-type', 'application/json');
        if (request.method === 'GET' && request.url?.startsWith(CHANGES_PATH)) pulls += 1;
        response.statusCode = request.method === 'GET' ? 410 : 404;
        response.end(JSON.stringify({ error: 'start over', reset: true }));
      },
      { harness },
    );
    const store = await harness.store(join(await harness.tempDir(), 'b.json'));
    const local = store.collection<Note>(ENTITY);
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: hostile.url, getToken: () => 'hostile-token' });
    const repository = new Repository<Note>({ entityType: ENTITY, local, remote, live: true });
    const coordinator = harness.coordinator({ pull: { liveWaitSeconds: LIVE_WAIT_SECONDS, maxResets: 2 } });
    const capped = await coordinator.sync(repository);
    expect(capped).toMatchObject({ state: 'error', errorCode: 'PULL_RESET_LIMIT', resets: 2 });
    expect(pulls).toBe(3);
    // The type waits for the window: a watch in error would be answered "reset", start a run, and loop.
    await observe(1_500);
    expect(pulls).toBe(3);
    expect(coordinator.getProgress(ENTITY)).toMatchObject({ state: 'error', runId: capped.runId });
  });

  it('coordinator.stop() ends the held request at once', async () => {
    harness = new Harness();
    const server = await harness.server();
    // A long wait: a stop that waited for the held request to end on its own would take half a minute.
    const a = await liveDevice(server, 'a', 30);
    expect(await a.sync()).toMatchObject({ state: 'synced' });
    await until(() => server.stats().longPolls === 1, 'the device to hold a long-poll');

    const stopping = performance.now();
    await a.coordinator.stop();
    expect(performance.now() - stopping).toBeLessThan(500);
    await until(() => server.stats().longPolls === 0, 'the server to see the request go', 500);
    expect(a.changeRequests()).toBe(2);
  });
});
