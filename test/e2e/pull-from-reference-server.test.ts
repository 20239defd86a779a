/**
 * Issue 13: the client's pull pieces (`HttpRemoteDataSource.pullChanges`, a lowdb store's `applyPulledPage`) against
 * the real reference server over HTTP, so the two sides of the change feed are held to one wire: paging into a
 * store, deletes, a purge answered with a reset and the reset's re-pull, and a long-poll woken by a push.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import type { RepositoryEntity } from '../../src/index.js';
import type { LowdbLocalStore } from '../../src/lowdb.js';
import { Harness, serverRecords, type TestServer, type TestServerOptions } from './harness.js';

interface Note extends RepositoryEntity {
  text?: string;
  deleted?: boolean;
}

const TOKEN = 'pull-reference-token-0c2f';
const h = new Harness();
afterEach(() => h.dispose());

async function setUp(options: TestServerOptions = {}) {
  const server = await h.server({ token: TOKEN, ...options });
  const store = await h.store(join(await h.tempDir(), 'store.json'));
  const remote = new HttpRemoteDataSource({ baseUrl: server.url, getToken: () => TOKEN });
  return { server, store, remote };
}

const note = (id: string, version = 1, text = `${id} v${version}`): Note => ({
  id,
  version,
  createdAt: 1,
  updatedAt: version,
  syncPending: true,
  text,
});

let keys = 0;
async function push(server: TestServer, items: readonly Note[]) {
  keys += 1;
  const response = await fetch(`${server.url}/v1/sync/note`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'idempotency-key': `k${keys}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ batchId: `k${keys}`, items }),
  });
  expect(response.status).toBe(200);
}

/** Pulls page after page into the store until the server has no more; returns how many pages and resets. */
async function pullAll(remote: HttpRemoteDataSource, store: LowdbLocalStore, limit = 7) {
  const local = store.collection<Note>('note');
  const apply = local.applyPulledPage?.bind(local);
  const checkpoint = local.checkpoint?.bind(local);
  if (!apply || !checkpoint) throw new Error('lowdb collections take pulled pages');
  let since = await checkpoint();
  let reset = false;
  let pages = 0;
  let resets = 0;
  for (;;) {
    const reply = await remote.pullChanges({
      entityType: 'note',
      since,
      limit,
      signal: new AbortController().signal,
    });
    if (reply.reset) {
      resets += 1;
      if (resets > 1) throw new Error('Reset twice in one pull');
      since = undefined;
      reset = true;
      continue;
    }
    pages += 1;
    await apply({ ...reply, since, reset }, { conflicts: 'server-wins', now: Date.now() });
    since = reply.checkpoint;
    if (!reply.hasMore) return { pages, resets };
  }
}

async function agree(server: TestServer, store: LowdbLocalStore) {
  const local = (await store.collection<Note>('note').getAll())
    .map(({ id, version, text }) => ({ id, version, text }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const remote = (await serverRecords(server, 'note'))
    .map(({ item }) => ({ id: item.id, version: item.version, text: (item as Note).text }))
    .sort((a, b) => a.id.localeCompare(b.id));
  expect(local).toEqual(remote);
  return local.length;
}

describe('the client pull pieces against the reference server', () => {
  it('pages every record into a lowdb store, then only what changed, deletes included', async () => {
    const { server, store, remote } = await setUp();
    await push(
      server,
      Array.from({ length: 40 }, (_, i) => note(`n${i}`)),
    );
    expect(await pullAll(remote, store)).toEqual({ pages: 6, resets: 0 });
    expect(await agree(server, store)).toBe(40);

    await push(server, [note('n3', 2, 'edited'), { ...note('n5', 2), deleted: true }, note('new')]);
    expect(await pullAll(remote, store)).toEqual({ pages: 1, resets: 0 });
    expect(await agree(server, store)).toBe(40);
    expect(await store.collection<Note>('note').get('n5')).toBeUndefined();
  });

  it('a purge answered 410 makes the client start over once, drop what is gone and agree again', async () => {
    let now = 1_000;
    const { server, store, remote } = await setUp({ tombstoneRetentionMs: 100, now: () => now });
    await push(server, [note('a'), note('b'), note('c'), note('d')]);
    await pullAll(remote, store, 2);
    await push(server, [{ ...note('b', 2), deleted: true }]);
    now += 100; // b's tombstone expires before this client saw it
    await push(server, [note('e')]);

    expect(await pullAll(remote, store, 1)).toEqual({ pages: 4, resets: 1 });
    expect(await agree(server, store)).toBe(4);
    expect(await store.collection<Note>('note').get('b')).toBeUndefined();
    // And the stored checkpoint is good for the next pull.
    await push(server, [note('f')]);
    expect(await pullAll(remote, store, 1)).toEqual({ pages: 1, resets: 0 });
    expect(await agree(server, store)).toBe(5);
  });

  it('a long-poll through pullChanges is answered soon after another client pushes', async () => {
    const { server, store, remote } = await setUp();
    await push(server, [note('a')]);
    await pullAll(remote, store);
    const since = await store.collection<Note>('note').checkpoint?.();
    const held = remote.pullChanges({
      entityType: 'note',
      since,
      limit: 10,
      wait: 10,
      signal: new AbortController().signal,
    });
    for (let turns = 0; server.stats().longPolls === 0; turns += 1) {
      if (turns > 10_000) throw new Error('The long-poll never reached the server');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const pushed = Date.now();
    await push(server, [note('b')]);
    const reply = await held;
    expect(Date.now() - pushed).toBeLessThan(250);
    expect(reply.reset ? [] : reply.changes.map(({ id }) => id)).toEqual(['b']);
  });
});
