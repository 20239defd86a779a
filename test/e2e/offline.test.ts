/**
 * A device offline for longer than `maxItemAttempts` runs never dead-letters its changes: a remote out of reach (no
 * network, refused, 502/503/504, 429) says nothing about the items, so a run that cannot reach it stops with the
 * items pending and counts no attempt against them. A server that answers 500 to one batch on every run still
 * dead-letters it in the end (it may be the batch's own doing), so one poison batch cannot block the queue forever.
 * Real lowdb store, real reference server over HTTP, a fetch that fails as fetch does offline.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type RepositoryEntity, SyncCoordinator } from '../../src/index.js';
import { Harness, serverRecords } from './harness.js';

interface Note extends RepositoryEntity {
  text: string;
}

const RETRY = { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2, maxItemAttempts: 3 };

const h = new Harness();
afterEach(() => h.dispose());

describe('offline for longer than maxItemAttempts runs', () => {
  it.each([
    ['no network', () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ENETUNREACH' } }))],
    ['a 503 from a gateway', () => Promise.resolve(new Response('down for maintenance', { status: 503 }))],
  ])('%s: nothing is dead-lettered; every change goes out once the server is back', async (_, outage) => {
    const server = await h.server();
    const dir = await h.tempDir();
    const store = await h.store(join(dir, 'store.json'));
    let online = false;
    const remote = new HttpRemoteDataSource<Note>({
      baseUrl: server.url,
      getToken: () => server.token,
      fetch: (input, init) => (online ? fetch(input, init) : outage()),
    });
    const repository = new Repository<Note>({
      entityType: 'note',
      local: store.collection<Note>('note'),
      remote,
    });
    await repository.saveMany([
      { id: 'n1', text: 'written offline' },
      { id: 'n2', text: 'also offline' },
    ]);
    const coordinator = new SyncCoordinator({ retry: RETRY, batchSize: 1 });
    try {
      for (let run = 0; run < RETRY.maxItemAttempts + 2; run += 1) {
        const result = await coordinator.sync(repository);
        expect(result).toMatchObject({
          state: 'error',
          errorCode: 'UNAVAILABLE',
          syncedItems: 0,
          failedItems: 0,
        });
      }
      expect(await repository.local.failures()).toEqual([]);
      expect(await repository.pendingCount()).toBe(2);

      online = true;
      const back = await coordinator.sync(repository);
      expect(back).toMatchObject({ state: 'synced', syncedItems: 2, failedItems: 0 });
      expect((await serverRecords(server)).map((s) => s.item.id).sort()).toEqual(['n1', 'n2']);
    } finally {
      await coordinator.stop();
    }
  });

  it('a batch the server answers 500 on every run is still dead-lettered after maxItemAttempts runs', async () => {
    const server = await h.server();
    const dir = await h.tempDir();
    const store = await h.store(join(dir, 'store.json'));
    const remote = new HttpRemoteDataSource<Note>({
      baseUrl: server.url,
      getToken: () => server.token,
      fetch: () => Promise.resolve(new Response('boom', { status: 500 })),
    });
    const repository = new Repository<Note>({
      entityType: 'note',
      local: store.collection<Note>('note'),
      remote,
      direction: 'push',
    });
    await repository.save({ id: 'poison', text: 'breaks the server' });
    const coordinator = new SyncCoordinator({ retry: RETRY });
    try {
      // Each run once the item is due again (a run before that leaves it alone), until it is dead-lettered.
      for (let run = 0; run < 20; run += 1) {
        const [failure] = await repository.local.failures();
        if (failure?.deadLettered) break;
        const dueInMs = (failure?.nextAttemptAt ?? 0) - Date.now();
        if (dueInMs >= 0) await new Promise((resolve) => setTimeout(resolve, dueInMs + 1));
        await coordinator.sync(repository);
      }
      expect(await repository.local.failures()).toEqual([
        expect.objectContaining({ id: 'poison', deadLettered: true, attempts: RETRY.maxItemAttempts }),
      ]);
    } finally {
      await coordinator.stop();
    }
  });
});
