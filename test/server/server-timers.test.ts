/**
 * Review of issue 10 point 8: the reference server's own waits (`hangMs`, `dripIntervalMs`, `latencyMs`) went to
 * `setTimeout` unclamped, so a value above 2^31-1 ms fired after 1 ms; NaN and negative values were taken too.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../src/domain/errors.js';
import { createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server/sync-server.js';
import { Harness } from '../e2e/harness.js';
import { postSync } from '../helpers/post-sync.js';

const TOKEN = 'server-timers-token';
/** Above what `setTimeout` honours: unclamped, Node runs it after 1 ms. */
const HUGE = 2 ** 31 + 1_000;
/** Long enough for a 1 ms timer to have fired many times over, even on a loaded machine. */
const WINDOW_MS = 300;

const h = new Harness();
afterEach(() => h.dispose());

const start = (options: SyncServerOptions): Promise<SyncServer> =>
  h.memoryServer({ token: TOKEN, ...options });

function push(server: SyncServer): Promise<Response> {
  const body = JSON.stringify({
    batchId: 'k1',
    // Several items, so the reply is longer than one 64-byte drip.
    items: ['a', 'b', 'c'].map((id) => ({ id, version: 1, createdAt: 1, updatedAt: 1, syncPending: true })),
  });
  return postSync(server.url, TOKEN, 'k1', body);
}

/** 'pending' if `promise` has not settled within the window. */
async function within<T>(promise: Promise<T>): Promise<'settled' | 'pending'> {
  const settled = promise.then(
    () => 'settled' as const,
    () => 'settled' as const,
  );
  return Promise.race([settled, delay(WINDOW_MS).then(() => 'pending' as const)]);
}

describe('the reference server clamps its waits', () => {
  it('a timeout fault with hangMs above 2^31-1 ms holds the request instead of dropping it after 1 ms', async () => {
    const server = await start({ faults: { script: ['timeout'], hangMs: HUGE } });
    const request = push(server);
    expect(await within(request)).toBe('pending');
    await server.close();
    await request.catch(() => {});
  });

  it('latencyMs above 2^31-1 ms delays the reply instead of answering after 1 ms', async () => {
    const server = await start({ faults: { latencyMs: HUGE } });
    const request = push(server);
    expect(await within(request)).toBe('pending');
    expect(server.state.list('note')).toEqual([]);
    await server.close();
    await request.catch(() => {});
  });

  it('a slowDrip with dripIntervalMs above 2^31-1 ms sends the first bytes and waits', async () => {
    const server = await start({ faults: { script: ['slowDrip'], dripIntervalMs: HUGE } });
    const response = await push(server);
    expect(response.status).toBe(200);
    const body = response.text();
    expect(await within(body)).toBe('pending');
    await server.close();
    await body.catch(() => {});
  });

  it('refuses delays, rates and sizes a timer or a limit cannot mean, with InvalidOptionsError', async () => {
    const bad: SyncServerOptions[] = [
      { faults: { hangMs: Number.NaN } },
      { faults: { hangMs: -1 } },
      { faults: { dripIntervalMs: Number.NaN } },
      { faults: { dripIntervalMs: -5 } },
      { faults: { latencyMs: Number.NaN } },
      { faults: { latencyMs: -1 } },
      { faults: { latencyMs: [Number.NaN, 10] } },
      { faults: { latencyMs: [0, -1] } },
      { faults: { latencyMs: [20, 10] } },
      { faults: { retryAfterSeconds: Number.NaN } },
      { faults: { retryAfterSeconds: -1 } },
      { faults: { retryAfterSeconds: 1.5 } },
      { faults: { rates: { error500: Number.NaN } } },
      { faults: { rates: { error500: 2 } } },
      { maxBodyBytes: Number.NaN },
      { maxBodyBytes: 0 },
      { port: -1 },
      { port: 1.5 },
    ];
    for (const options of bad) {
      await expect(createSyncServer(options), JSON.stringify(options)).rejects.toBeInstanceOf(
        InvalidOptionsError,
      );
    }
    // The longest waits are fine: they wait the longest a timer can.
    const server = await start({
      faults: { hangMs: Number.POSITIVE_INFINITY, latencyMs: [0, 0], retryAfterSeconds: 0 },
    });
    expect(server.port).toBeGreaterThan(0);
  });
});
