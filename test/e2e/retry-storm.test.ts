/**
 * Issue 10 point 8: delays above 2^31-1 ms fire after 1 ms in Node, so a far `Retry-After` with a raised
 * `maxRetryAfterMs` made a retry storm. No server reply, and no far-off retry in the store, may cause one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS } from '../../src/core/timers.js';
import { HttpRemoteDataSource } from '../../src/http.js';
import { InvalidOptionsError, Repository, type SyncProgress, TransientSyncError } from '../../src/index.js';
import { hostileServer } from '../helpers/hostile-server.js';
import { context, ENTITY, Harness, type Note, nextProgress, note, noteId } from './harness.js';

const h = new Harness();
afterEach(() => h.dispose());

/** How long each test watches for retries after the first one was scheduled. */
const WATCH_MS = 400;

/** A server that answers every request 503 with `retryAfter`, counting requests. */
async function unavailable(retryAfter: string): Promise<{ url: string; requests: () => number }> {
  const server = await hostileServer(
    (_, response) => {
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': retryAfter });
      response.end('{"error":"down for maintenance"}');
    },
    { harness: h },
  );
  return { url: server.url, requests: () => server.requests.length };
}

const FAR_DATE = 'Fri, 31 Dec 9999 23:59:59 GMT';

describe('no retry storm from any Retry-After', () => {
  it('reads Retry-After as a capped wait, never more than a timer can hold; nonsense is ignored', async () => {
    const cases: [string, number | undefined][] = [
      ['99999999999', MAX_TIMER_DELAY_MS],
      [FAR_DATE, MAX_TIMER_DELAY_MS],
      ['9'.repeat(400), MAX_TIMER_DELAY_MS],
      ['-5', undefined],
      ['garbage', undefined],
      ['1e9', undefined],
      ['', undefined],
      ['2', 2_000],
    ];
    for (const [header, expected] of cases) {
      const { url } = await unavailable(header);
      const remote = new HttpRemoteDataSource<Note>({ baseUrl: url, maxRetryAfterMs: 1e15 });
      const error = await remote.syncBatch([note('a')], context('b1')).catch((e: unknown) => e);
      expect(error, header).toBeInstanceOf(TransientSyncError);
      expect((error as TransientSyncError).retryAfterMs, header).toBe(expected);
    }
  });

  it.each([
    ['seconds beyond 2^31-1 ms', '99999999999'],
    ['an HTTP date far in the future', FAR_DATE],
    ['garbage', 'soon, maybe'],
    ['a negative number', '-30'],
  ])(
    'a sync run answered 503 with Retry-After of %s makes at most a couple of requests',
    async (_, header) => {
      const server = await unavailable(header);
      const dir = await h.tempDir();
      const store = await h.store(`${dir}/store.json`);
      const local = store.collection<Note>(ENTITY);
      const remote = new HttpRemoteDataSource<Note>({ baseUrl: server.url, maxRetryAfterMs: 2 ** 40 });
      const repository = new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'push' });
      await repository.saveMany([{ id: noteId(1), text: 'one' }]);
      // The default backoff (500 ms, doubling; jitter at its ceiling): only a delay that fires early makes a storm.
      const coordinator = h.coordinator({
        retry: { baseDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 5 },
        random: () => 1,
      });
      const scheduled = nextProgress(coordinator, (p: SyncProgress) => p.nextRetryAt !== undefined);
      void coordinator.sync(repository);
      await scheduled;
      const before = server.requests();
      await new Promise((resolve) => setTimeout(resolve, WATCH_MS));

      expect(before).toBe(1);
      expect(server.requests(), `requests within ${WATCH_MS} ms`).toBeLessThanOrEqual(2);
      expect(await repository.pendingCount()).toBe(1);
    },
  );

  it('an item whose next attempt is due in a thousand years does not start a run every millisecond', async () => {
    const server = await unavailable('1');
    const dir = await h.tempDir();
    const store = await h.store(`${dir}/store.json`);
    const local = store.collection<Note>(ENTITY);
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: server.url });
    const repository = new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'push' });
    await repository.saveMany([{ id: noteId(1), text: 'one' }]);
    const thousandYears = 1_000 * 365 * 24 * 3_600_000;
    await local.commit({
      failures: [{ id: noteId(1), version: 1, error: 'earlier failure', retryable: true }],
      failurePolicy: { maxItemAttempts: 8, retryDelayMs: () => thousandYears },
      now: Date.now(),
    });
    const coordinator = h.coordinator();
    const runs: number[] = [];
    coordinator.progress.subscribe((p) => {
      if (!runs.includes(p.runId)) runs.push(p.runId);
    });
    const first = await coordinator.sync(repository);
    expect(first.nextRetryAt).toBeGreaterThan(Date.now() + MAX_TIMER_DELAY_MS);
    await new Promise((resolve) => setTimeout(resolve, WATCH_MS));

    expect(runs).toEqual([first.runId]);
    expect(server.requests()).toBe(0);
  });

  it('refuses timeouts and Retry-After caps a timer cannot hold; caps a raised maxRetryAfterMs', () => {
    const baseUrl = 'http://127.0.0.1:1';
    for (const timeoutMs of [Number.NaN, Number.POSITIVE_INFINITY, -1, 0]) {
      expect(() => new HttpRemoteDataSource({ baseUrl, timeoutMs }), String(timeoutMs)).toThrow(
        InvalidOptionsError,
      );
    }
    for (const maxRetryAfterMs of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(() => new HttpRemoteDataSource({ baseUrl, maxRetryAfterMs }), String(maxRetryAfterMs)).toThrow(
        /maxRetryAfterMs must be a finite number/,
      );
    }
    for (const maxResponseBytes of [Number.NaN, 0, -1]) {
      expect(() => new HttpRemoteDataSource({ baseUrl, maxResponseBytes })).toThrow(InvalidOptionsError);
    }
    expect(
      () => new HttpRemoteDataSource({ baseUrl, timeoutMs: 2 ** 40, maxRetryAfterMs: 2 ** 40 }),
    ).not.toThrow();
  });
});
