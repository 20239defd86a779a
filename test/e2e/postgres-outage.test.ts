/**
 * Issue 14: a server whose PostgreSQL is out of reach is a server out of reach. It answers 503 with Retry-After
 * (never a 500 a client would count against its changes), reports the cause without the password, and serves again
 * once the database is back, with nothing lost and nothing dead-lettered on the clients. The outage is real: the
 * store reaches PostgreSQL through a TCP forwarder that the test cuts (connections dropped, new ones refused).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, SyncCoordinator } from '../../src/index.js';
import { createSyncServer } from '../../src/server.js';
import { PostgresServerStore } from '../../src/server-postgres.js';
import { postSync } from '../helpers/post-sync.js';
import { testDatabase } from '../helpers/postgres.js';
import { Harness, type Note, note, SERVER_TOKEN, serverRecords } from './harness.js';

const RETRY = { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2, maxItemAttempts: 3 };

const h = new Harness();
afterEach(() => h.dispose());

/** A loopback TCP forwarder to `port` that can be cut (every connection dropped, new ones refused) and restored. */
async function forwarder(port: number) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let listenPort = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      const listening = createServer((client) => {
        const upstream = connect(port, '127.0.0.1');
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server = listening;
      listening.once('error', reject);
      listening.listen(listenPort, '127.0.0.1', () => {
        listenPort = (listening.address() as { port: number }).port;
        resolve();
      });
    });
  const down = async () => {
    const closed = new Promise<void>((resolve) => server?.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await up();
  return { port: () => listenPort, up, down };
}

describe('the database out of reach', () => {
  it('answers 503 with Retry-After; clients keep their changes pending, uncounted; all of them land once it is back', {
    timeout: 60_000,
  }, async () => {
    const database = await testDatabase();
    const target = new URL(database.url);
    const cut = await forwarder(Number(target.port));
    h.defer(() => cut.down());
    const viaForwarder = new URL(database.url);
    viaForwarder.port = String(cut.port());
    const store = await PostgresServerStore.open({
      connectionString: viaForwarder.toString(),
      statementTimeoutMs: 2_000,
      checkTimeoutMs: 500,
    });
    h.defer(() => store.close());
    const errors: string[] = [];
    const server = await createSyncServer({
      store,
      token: SERVER_TOKEN,
      onError: (error) => errors.push(String(error)),
    });
    h.defer(() => server.close());

    const local = (await h.store(join(await h.tempDir(), 'store.json'))).collection<Note>('note');
    const repository = new Repository<Note>({
      entityType: 'note',
      local,
      remote: new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: () => server.token }),
    });
    const coordinator = new SyncCoordinator({ retry: RETRY, batchSize: 2 });
    h.defer(() => coordinator.stop());
    await repository.saveMany([
      { id: 'before-1', text: 'synced before' },
      { id: 'before-2', text: 'synced before' },
    ]);
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 2 });

    await cut.down();
    const pushed = await postSync(server.url, SERVER_TOKEN, 'k-down', JSON.stringify({ items: [note('x')] }));
    expect(pushed.status).toBe(503);
    expect(pushed.headers.get('retry-after')).toBe('1');
    expect(await pushed.json()).toEqual({ error: 'The server cannot reach its store; try again later' });
    const pulled = await fetch(`${server.url}/v1/changes/note`, {
      headers: { authorization: `Bearer ${SERVER_TOKEN}` },
    });
    expect(pulled.status).toBe(503);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);

    await repository.saveMany([
      { id: 'during-1', text: 'written while the database was down' },
      { id: 'during-2', text: 'written while the database was down' },
      { id: 'during-3', text: 'written while the database was down' },
    ]);
    for (let run = 0; run < RETRY.maxItemAttempts + 2; run += 1) {
      expect(await coordinator.sync(repository)).toMatchObject({
        state: 'error',
        errorCode: 'UNAVAILABLE',
        syncedItems: 0,
        failedItems: 0,
      });
    }
    expect(await local.failures()).toEqual([]);
    expect(await repository.pendingCount()).toBe(3);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join('\n')).not.toContain(decodeURIComponent(target.password));

    await cut.up();
    await expect.poll(async () => (await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(await coordinator.sync(repository)).toMatchObject({
      state: 'synced',
      syncedItems: 3,
      failedItems: 0,
    });
    expect((await serverRecords(server)).map((stored) => stored.item.id)).toEqual([
      'before-1',
      'before-2',
      'during-1',
      'during-2',
      'during-3',
    ]);
  });
});
