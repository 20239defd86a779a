/**
 * Issue 13, the reset path through the whole stack: a client whose checkpoint is older than a purged tombstone is
 * answered 410 reset, pulls again from the beginning, drops the records the server no longer has unless they are
 * pending, keeps and pushes its pending ones, and ends equal to the server. And the cap: a server that answers reset
 * to every pull stops the run with PULL_RESET_LIMIT after `pull.maxResets` resets, until the window has passed,
 * without losing anything local. Real parts: the reference server (or a tiny hostile `node:http` one) over HTTP,
 * lowdb stores in temp dirs, `SyncCoordinator`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type SyncResult } from '../../src/index.js';
import { hostileServer } from '../helpers/hostile-server.js';
import {
  ENTITY,
  FAST_RETRY,
  Harness,
  type Note,
  serverRecord,
  serverRecords,
  type TestServer,
  until,
} from './harness.js';

let harness: Harness;
afterEach(() => harness.dispose());

const RETENTION_MS = 1_000;

/** One device syncing through `remote`: its own lowdb store and coordinator, pushing and pulling. */
async function device(remote: HttpRemoteDataSource<Note>, name: string) {
  const store = await harness.store(join(await harness.tempDir(), `${name}.json`));
  const local = store.collection<Note>(ENTITY);
  const repository = new Repository<Note>({ entityType: ENTITY, local, remote });
  const coordinator = harness.coordinator({ pull: { maxResets: 3, resetWindowMs: 60_000 } });
  return {
    local,
    repository,
    coordinator,
    sync: () => coordinator.sync(repository),
    /** Live records as the app sees them, sorted by id. */
    live: async () =>
      (await repository.getAll())
        .map(({ id, version, text }) => ({ id, version, text }))
        .sort((x, y) => x.id.localeCompare(y.id)),
  };
}

/** The live records the server holds, as `live()` lists a client's. */
async function serverLive(server: TestServer) {
  return (await serverRecords(server))
    .map(({ item }) => ({ id: item.id, version: item.version, text: (item as Note).text }))
    .sort((x, y) => x.id.localeCompare(y.id));
}

/**
 * A and B hold a..e, synced. B goes offline and edits c and d and creates x; A deletes b and d and edits a; then the
 * server's clock passes the tombstones' retention, so B's checkpoint (from before the deletes) can no longer be
 * served.
 */
async function bMissedPurgedDeletes() {
  harness = new Harness();
  let serverNow = 1_000_000;
  const server = await harness.server({ tombstoneRetentionMs: RETENTION_MS, now: () => serverNow });
  const a = await device(harness.remote(server), 'a');
  const b = await device(harness.remote(server), 'b');
  await a.repository.saveMany(['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, text: id })));
  expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 5 });
  expect(await b.sync()).toMatchObject({ state: 'synced', pulledItems: 5, resets: 0 });

  await b.repository.save({ id: 'c', text: 'c by B' });
  await b.repository.save({ id: 'd', text: 'd by B' });
  await b.repository.save({ id: 'x', text: 'x by B' });
  await a.repository.save({ id: 'a', text: 'a by A' });
  await a.repository.delete('b');
  await a.repository.delete('d');
  expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 3 });
  serverNow += RETENTION_MS;
  return { server, a, b };
}

describe('reset: a checkpoint older than a purged tombstone', () => {
  it('B pushes, is answered reset, pulls from the beginning, drops what the server no longer has and ends equal to it', async () => {
    const { server, a, b } = await bMissedPurgedDeletes();
    const stats = server.stats();

    const result = await b.sync();
    expect(result).toMatchObject({
      state: 'synced',
      resets: 1,
      syncedItems: 3,
      failedItems: 0,
      conflicts: 0,
      refusedItems: 0,
      // b: dropped by the reset (the server no longer has it, B had nothing pending on it).
      deletedItems: 1,
      // a at A's version 2; c, d and x are B's own writes coming back.
      pulledItems: 1,
    });
    expect(server.stats().changeRequests - stats.changeRequests).toBe(2);
    // The server no longer knows b or d; B's edit of d came after A's delete was purged, so it wrote d anew (the
    // retention must exceed the longest time a client stays offline: docs/protocol.md).
    expect(await serverRecord(server, 'b')).toBeUndefined();
    expect(await serverLive(server)).toEqual([
      { id: 'a', version: 2, text: 'a by A' },
      { id: 'c', version: 2, text: 'c by B' },
      { id: 'd', version: 2, text: 'd by B' },
      { id: 'e', version: 1, text: 'e' },
      { id: 'x', version: 1, text: 'x by B' },
    ]);
    expect(await b.live()).toEqual(await serverLive(server));
    expect(await b.local.getAll({ includeDeleted: true })).toHaveLength(5);
    expect(await b.repository.pendingCount()).toBe(0);

    // The checkpoint the reset stored is good: the next run pulls without a reset.
    expect(await b.sync()).toMatchObject({ state: 'synced', resets: 0, pulledItems: 0 });
    // A saw the deletes it made: its checkpoint is past them, and it just pulls B's writes.
    expect(await a.sync()).toMatchObject({ state: 'synced', resets: 0, pulledItems: 3 });
    expect(await a.live()).toEqual(await serverLive(server));
  });

  it('pending changes the push could not deliver survive the reset and go out in the next run', async () => {
    const { server, a, b } = await bMissedPurgedDeletes();
    // Every push of the run fails (a server error each time), the pulls get through.
    server.faults.queue(...Array.from({ length: FAST_RETRY.maxAttempts }, () => 'error500' as const));

    const first = await b.sync();
    expect(first).toMatchObject({
      state: 'error',
      resets: 1,
      syncedItems: 0,
      failedItems: 3,
      deletedItems: 1,
      pulledItems: 1,
      phase: 'pull',
    });
    // After the reset: b is gone (synced, not on the server); c, d and x are pending and kept, d although the
    // server no longer has it; a is A's.
    expect(await b.live()).toEqual([
      { id: 'a', version: 2, text: 'a by A' },
      { id: 'c', version: 2, text: 'c by B' },
      { id: 'd', version: 2, text: 'd by B' },
      { id: 'e', version: 1, text: 'e' },
      { id: 'x', version: 1, text: 'x by B' },
    ]);
    expect(await b.repository.pendingCount()).toBe(3);

    // The failed items are due again after their (short) backoff; the next run pushes them.
    const dueAt = first.nextRetryAt ?? 0;
    await until(() => Date.now() >= dueAt, 'the failed items to be due');
    const second = await b.sync();
    expect(second).toMatchObject({ state: 'synced', syncedItems: 3, failedItems: 0, resets: 0 });
    expect(await b.repository.pendingCount()).toBe(0);
    expect(await b.live()).toEqual(await serverLive(server));
    expect(await a.sync()).toMatchObject({ state: 'synced' });
    expect(await a.live()).toEqual(await serverLive(server));
  });
});

describe('reset cap: a server that answers reset to every pull', () => {
  it('stops after pull.maxResets resets with PULL_RESET_LIMIT until the window passes, and loses nothing local', async () => {
    harness = new Harness();
    const seeded = (id: string) => ({
      id,
      version: 1,
      deleted: false,
      item: { id, version: 1, createdAt: 1, updatedAt: 1, syncPending: false, text: id },
    });
    let resetEverything = false;
    const pushed = new Map<string, ReturnType<typeof seeded>>();
    /** The `since` of every request for changes, in order (`null`: from the beginning). */
    const pulls: (string | null)[] = [];
    const hostile = await hostileServer(
      (request, response, body) => {
        const url = new URL(request.url ?? '/', 'http://127.0.0.1');
        response.setHeader('content-type', 'application/json');
        if (request.method === 'POST' && url.pathname === `/v1/sync/${ENTITY}`) {
          // Every item acknowledged at the version sent.
          const { items } = JSON.parse(body) as { items: Note[] };
          // Kept for the feed, as any server does: a pull from the beginning serves every live record.
          for (const item of items) pushed.set(item.id, { ...seeded(item.id), version: item.version, item });
          response.end(
            JSON.stringify({ results: items.map(({ id, version }) => ({ id, status: 'ok', version })) }),
          );
        } else if (request.method === 'GET' && url.pathname === `/v1/changes/${ENTITY}`) {
          pulls.push(url.searchParams.get('since'));
          if (resetEverything) {
            response.statusCode = 410;
            response.end(JSON.stringify({ error: 'start over', reset: true }));
          } else {
            const changes = [seeded('a'), seeded('b'), ...pushed.values()];
            response.end(JSON.stringify({ changes, checkpoint: 'cp-1', hasMore: false }));
          }
        } else {
          response.statusCode = 404;
          response.end('{"error":"not found"}');
        }
      },
      { harness },
    );
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: hostile.url, getToken: () => 'hostile-token' });
    const b = await device(remote, 'b');
    await b.repository.save({ id: 'x', text: 'x' });
    expect(await b.sync()).toMatchObject({ state: 'synced', syncedItems: 1, pulledItems: 2 });
    expect(pulls).toEqual([null]);

    resetEverything = true;
    await b.repository.save({ id: 'y', text: 'y' });
    const before = Date.now();
    const capped = await b.sync();
    const after = Date.now();
    expect(capped).toMatchObject({
      state: 'error',
      errorCode: 'PULL_RESET_LIMIT',
      phase: 'pull',
      resets: 3,
      syncedItems: 1,
      pulledItems: 0,
      deletedItems: 0,
    } satisfies Partial<SyncResult>);
    // From its checkpoint, then from the beginning three times; the fourth reset answer is refused.
    expect(pulls.slice(1)).toEqual(['cp-1', null, null, null]);
    // The next automatic run waits for the end of the reset window, not for a backoff.
    const windowEnd = capped.nextRetryAt ?? 0;
    expect(windowEnd - 60_000).toBeGreaterThanOrEqual(before);
    expect(windowEnd - 60_000).toBeLessThanOrEqual(after);
    expect(b.coordinator.getProgress(ENTITY)).toMatchObject({
      state: 'error',
      errorCode: 'PULL_RESET_LIMIT',
    });

    // A sync asked for at once asks from its checkpoint, is answered reset again, and does not start over.
    const again = await b.sync();
    expect(again).toMatchObject({ state: 'error', errorCode: 'PULL_RESET_LIMIT', resets: 0 });
    expect(again.nextRetryAt).toBe(windowEnd);
    expect(pulls.slice(5)).toEqual(['cp-1']);

    // Nothing local was lost: the pulled records, the pushed ones, and the checkpoint.
    expect(await b.live()).toEqual([
      { id: 'a', version: 1, text: 'a' },
      { id: 'b', version: 1, text: 'b' },
      { id: 'x', version: 1, text: 'x' },
      { id: 'y', version: 1, text: 'y' },
    ]);
    expect(await b.repository.pendingCount()).toBe(0);
    expect(await b.local.checkpoint?.()).toBe('cp-1');
  });
});
