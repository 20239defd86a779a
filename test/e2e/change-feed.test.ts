/**
 * Issue 13, the server side: `GET /v1/changes/{entityType}` over HTTP against a real sync server on 127.0.0.1,
 * on the run's server store (test/e2e/harness.ts). Paging, at most the latest version per id, writes while a client
 * pages, tombstones and their expiry, checkpoints across restarts, long-polls, and hostile query strings.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangesPage } from '../../src/server/change-feed.js';
import { decodeCheckpoint } from '../../src/server/checkpoint.js';
import { createSyncServer } from '../../src/server.js';
import {
  Harness,
  seedServer,
  serverRecord,
  serverRecords,
  serverTombstones,
  type TestServer,
  type TestServerOptions,
} from './harness.js';

const TOKEN = 'change-feed-token-5b1e';
const auth = { authorization: `Bearer ${TOKEN}` };

const h = new Harness();
afterEach(() => h.dispose());

function start(options: TestServerOptions = {}): Promise<TestServer> {
  return h.server({ token: TOKEN, ...options });
}

/** The epoch a checkpoint names: which store's sequence numbers it counts. */
function epochOf(checkpoint: string): string {
  const decoded = decodeCheckpoint(checkpoint);
  if (!decoded) throw new Error(`Not a checkpoint: ${checkpoint}`);
  return decoded.epoch;
}

interface Note {
  id: string;
  version: number;
  createdAt: number;
  updatedAt: number;
  syncPending: boolean;
  text?: string;
  deleted?: boolean;
}

const note = (id: string, version = 1, text = `${id} v${version}`): Note => ({
  id,
  version,
  createdAt: 1,
  updatedAt: version,
  syncPending: true,
  text,
});
const tombstone = (id: string, version: number): Note => ({ ...note(id, version), deleted: true });

let keys = 0;
async function push(server: TestServer, items: readonly Note[], type = 'note') {
  keys += 1;
  const response = await fetch(`${server.url}/v1/sync/${type}`, {
    method: 'POST',
    headers: { ...auth, 'idempotency-key': `batch-${keys}`, 'content-type': 'application/json' },
    body: JSON.stringify({ batchId: `batch-${keys}`, items }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** One request for changes; `query` is appended as is (hostile tests spell it themselves). */
async function changes(server: TestServer, query = '', type = 'note', signal?: AbortSignal) {
  const response = await fetch(`${server.url}/v1/changes/${type}${query ? `?${query}` : ''}`, {
    headers: auth,
    ...(signal ? { signal } : {}),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as ChangesPage & { error?: string; reset?: boolean },
  };
}

const since = (checkpoint: string, extra = '') => `since=${encodeURIComponent(checkpoint)}${extra}`;

/** Every change from `checkpoint` on, page by page, and the checkpoint the last page gave. */
async function pullAll(server: TestServer, limit: number, checkpoint = '') {
  const pages: ChangesPage[] = [];
  for (;;) {
    const { status, body } = await changes(server, `${since(checkpoint)}&limit=${limit}`);
    expect(status).toBe(200);
    pages.push(body);
    checkpoint = body.checkpoint;
    if (!body.hasMore) return { pages, changes: pages.flatMap((page) => page.changes), checkpoint };
  }
}

describe('GET /v1/changes/{entityType}: paging', () => {
  it('serves every record once, at its latest version, in commit order, page by page', async () => {
    const server = await start();
    const ids = Array.from({ length: 250 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    for (let from = 0; from < ids.length; from += 50) {
      expect(
        (
          await push(
            server,
            ids.slice(from, from + 50).map((id) => note(id)),
          )
        ).status,
      ).toBe(200);
    }
    // Edit every fifth record twice: each moves to the end of the feed, and only its latest version is served.
    const edited = ids.filter((_, i) => i % 5 === 0);
    await push(
      server,
      edited.map((id) => note(id, 2)),
    );
    await push(
      server,
      edited.map((id) => note(id, 3)),
    );

    const { pages, changes: all, checkpoint } = await pullAll(server, 40);

    expect(pages.map((page) => page.changes.length)).toEqual([40, 40, 40, 40, 40, 40, 10]);
    expect(pages.map((page) => page.hasMore)).toEqual([true, true, true, true, true, true, false]);
    const expectedOrder = [...ids.filter((id) => !edited.includes(id)), ...edited];
    expect(all.map((change) => change.id)).toEqual(expectedOrder);
    for (const change of all) {
      const version = edited.includes(change.id) ? 3 : 1;
      expect(change).toEqual({
        id: change.id,
        version,
        deleted: false,
        item: { ...note(change.id, version), syncPending: false },
      });
    }
    // Caught up: an empty page that keeps the checkpoint, so a client can store it.
    expect(await changes(server, since(checkpoint))).toEqual({
      status: 200,
      retryAfter: null,
      body: { changes: [], checkpoint, hasMore: false },
    });
    // `since` absent or empty: from the beginning; the default page is 100 changes.
    for (const query of ['', 'since=']) {
      const { body } = await changes(server, query);
      expect(body.changes.map((change) => change.id)).toEqual(expectedOrder.slice(0, 100));
      expect(body.hasMore).toBe(true);
    }
  });

  it('an empty feed (and an unknown type) answers an empty page whose checkpoint serves later writes', async () => {
    const server = await start();
    const empty = await changes(server, '', 'never-written');
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ changes: [], hasMore: false });
    await push(server, [note('a')], 'never-written');
    const next = await changes(server, since(empty.body.checkpoint), 'never-written');
    expect(next.body.changes.map((change) => change.id)).toEqual(['a']);
  });

  it('a write while a client pages is served exactly once, later, at its new version', async () => {
    const server = await start();
    const ids = Array.from({ length: 30 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    await push(
      server,
      ids.map((id) => note(id)),
    );

    const served: { id: string; version: number }[] = [];
    let checkpoint = '';
    let page = 0;
    for (;;) {
      const { body } = await changes(server, `${since(checkpoint)}&limit=10`);
      served.push(...body.changes.map(({ id, version }) => ({ id, version })));
      checkpoint = body.checkpoint;
      page += 1;
      if (page === 1) {
        // One record already served, one not yet reached, one new: all three come after the rest.
        await push(server, [note('n03', 2), note('n25', 2), note('new', 1)]);
      }
      if (!body.hasMore) break;
    }

    expect(served.map(({ id }) => id).sort()).toEqual([...ids, 'n03', 'new'].sort());
    expect(served.slice(-3)).toEqual([
      { id: 'n03', version: 2 },
      { id: 'n25', version: 2 },
      { id: 'new', version: 1 },
    ]);
    // n25 was moved before the client reached it: served once, at version 2 only.
    expect(served.filter(({ id }) => id === 'n25')).toEqual([{ id: 'n25', version: 2 }]);
  });

  it("writes seeded through the server's store (as another client's) enter the feed like pushed ones", async () => {
    const server = await start();
    await seedServer(server, [note('seeded', 4)], 'note');
    const { body } = await changes(server);
    expect(body.changes).toEqual([
      { id: 'seeded', version: 4, deleted: false, item: { ...note('seeded', 4), syncPending: false } },
    ]);
  });
});

describe('tombstones', () => {
  it('stores a pushed delete under the version rules and serves it in the feed, not in /v1/items', async () => {
    const server = await start();
    await push(server, [note('a'), note('b'), note('c')]);
    const before = await changes(server);

    const deleted = await push(server, [tombstone('a', 2), tombstone('never-had', 1)]);
    expect(deleted).toEqual({
      status: 200,
      body: {
        results: [
          { id: 'a', status: 'ok', version: 2 },
          { id: 'never-had', status: 'ok', version: 1 },
        ],
      },
    });
    const after = await changes(server, since(before.body.checkpoint));
    expect(after.body.changes).toEqual([
      {
        id: 'a',
        version: 2,
        deleted: true,
        item: { id: 'a', version: 2, createdAt: 1, updatedAt: 2, syncPending: false, deleted: true },
      },
      {
        id: 'never-had',
        version: 1,
        deleted: true,
        item: { id: 'never-had', version: 1, createdAt: 1, updatedAt: 1, syncPending: false, deleted: true },
      },
    ]);
    const listed = await fetch(`${server.url}/v1/items/note`, { headers: auth });
    const { items } = (await listed.json()) as { items: { item: Note }[] };
    expect(items.map(({ item }) => item.id).sort()).toEqual(['b', 'c']);
    expect((await serverTombstones(server, 'note')).map(({ item }) => item.id)).toEqual(['a', 'never-had']);

    // The same delete again (a lost reply) is acknowledged, not applied again, even with other user fields.
    expect((await push(server, [{ ...tombstone('a', 2), text: 'other' }])).body).toEqual({
      results: [{ id: 'a', status: 'ok', version: 2 }],
    });
    expect(await serverRecord(server, 'a', 'note')).toMatchObject({
      appliedCount: 2,
      appliedVersions: [1, 2],
    });
    // An edit at the deleted version, or an older one, is a conflict answered with the tombstone.
    const conflict = await push(server, [note('a', 2, 'edited'), note('never-had', 1)]);
    expect(conflict.body).toEqual({
      results: [
        { id: 'a', status: 'conflict', remote: after.body.changes[0]?.item },
        { id: 'never-had', status: 'conflict', remote: after.body.changes[1]?.item },
      ],
    });
    // A delete at the version of a live record is a conflict too.
    expect((await push(server, [tombstone('b', 1)])).body).toMatchObject({
      results: [{ id: 'b', status: 'conflict', remote: { version: 1, text: 'b v1' } }],
    });
  });

  it('an edit at a higher version resurrects a deleted record: it is live again and moves to the end', async () => {
    const server = await start();
    await push(server, [note('a'), note('b')]);
    await push(server, [tombstone('a', 2)]);
    const { checkpoint } = await pullAll(server, 10);
    expect((await push(server, [note('a', 3, 'back')])).body).toEqual({
      results: [{ id: 'a', status: 'ok', version: 3 }],
    });
    const next = await changes(server, since(checkpoint));
    expect(next.body.changes).toEqual([
      { id: 'a', version: 3, deleted: false, item: { ...note('a', 3, 'back'), syncPending: false } },
    ]);
    expect((await serverRecords(server, 'note')).map(({ item }) => item.id)).toEqual(['a', 'b']);
    expect(await serverTombstones(server, 'note')).toEqual([]);
  });

  it('refuses a batch whose `deleted` is not a boolean, naming the item; `deleted: false` is a plain record', async () => {
    const server = await start();
    const answer = await push(server, [note('a'), { ...note('b'), deleted: 'yes' as unknown as boolean }]);
    expect(answer).toEqual({
      status: 400,
      body: {
        error: 'One item of the batch cannot be stored; nothing was applied',
        rejected: [{ id: 'b', error: 'deleted must be a boolean when present' }],
      },
    });
    await push(server, [{ ...note('c'), deleted: false }]);
    const { body } = await changes(server);
    expect(body.changes).toEqual([
      { id: 'c', version: 1, deleted: false, item: { ...note('c'), syncPending: false } },
    ]);
    // Sent again with or without the field, it is the same version with the same content.
    expect((await push(server, [note('c')])).body).toEqual({
      results: [{ id: 'c', status: 'ok', version: 1 }],
    });
  });

  it('purges tombstones after the retention; a checkpoint from before a purged delete is answered 410 reset', async () => {
    let now = 1_000_000;
    const server = await start({ tombstoneRetentionMs: 60_000, now: () => now });
    await push(server, [note('a'), note('b'), note('c')]);
    const beforeDelete = (await changes(server)).body.checkpoint;
    await push(server, [tombstone('a', 2)]);
    now += 30_000;
    await push(server, [tombstone('b', 2)]);
    const afterDeletes = (await pullAll(server, 10)).checkpoint;

    // Within the retention both tombstones are served.
    expect((await changes(server, since(beforeDelete))).body.changes.map((c) => [c.id, c.deleted])).toEqual([
      ['a', true],
      ['b', true],
    ]);

    now += 30_000; // a's tombstone is 60 s old: purged at the next request for the type.
    const reset = await changes(server, since(beforeDelete));
    expect(reset).toEqual({
      status: 410,
      retryAfter: null,
      body: {
        error:
          'Deletes after the checkpoint are no longer kept (their retention passed); pull again from the beginning',
        reset: true,
      },
    });
    expect(await serverRecord(server, 'a', 'note')).toBeUndefined();
    expect((await serverTombstones(server, 'note')).map(({ item }) => item.id)).toEqual(['b']);
    // A client that had seen every delete keeps its checkpoint; one from the beginning gets what is left.
    expect(await changes(server, since(afterDeletes))).toMatchObject({ status: 200, body: { changes: [] } });
    expect((await changes(server)).body.changes.map((c) => [c.id, c.deleted])).toEqual([
      ['c', false],
      ['b', true],
    ]);
    // The reset client re-pulls from the beginning and stores the new checkpoint: no reset loop.
    const fresh = await pullAll(server, 10);
    now += 30_000; // b's tombstone expires too, but after this checkpoint.
    expect(await changes(server, since(fresh.checkpoint))).toMatchObject({
      status: 200,
      body: { changes: [] },
    });
    expect(await serverTombstones(server, 'note')).toEqual([]);
  });
});

describe('a reset client starting over', () => {
  it('is not reset again while it pages from the beginning past an old purge (found by the property test)', async () => {
    let now = 0;
    const server = await start({ tombstoneRetentionMs: 50, now: () => now });
    await push(server, [note('c'), note('a'), note('b')]);
    const { checkpoint } = await pullAll(server, 1);
    await push(server, [tombstone('e', 1)]);
    now += 50;
    expect((await changes(server, since(checkpoint))).status).toBe(410);
    await push(server, [note('d')]);

    // From the beginning one change a page: the first checkpoints are below the purged tombstone, yet valid.
    const { pages, changes: all } = await pullAll(server, 1);
    expect(all.map(({ id }) => id)).toEqual(['c', 'a', 'b', 'd']);
    expect(pages).toHaveLength(4);
  });
});

describe('checkpoints across servers and restarts', () => {
  it('a server on a new store (a memory server restarted empty) answers an old checkpoint with 410 reset, never a page', async () => {
    const first = await start();
    await push(first, [note('a'), note('b')]);
    const { checkpoint } = await pullAll(first, 10);
    await first.close();

    const second = await start();
    await push(second, [note('x'), note('y'), note('z')]);
    const answer = await changes(second, since(checkpoint));
    expect(answer.status).toBe(410);
    expect(answer.body).toEqual({
      error: 'The checkpoint belongs to another state of this server; pull again from the beginning',
      reset: true,
    });
  });

  it('a server started again on the same storage (`file`, a database) keeps the epoch, the feed and its tombstones: checkpoints stay valid', async () => {
    const storage = await h.storage();
    const first = await start({ storage });
    await push(first, [note('a'), note('b'), note('c')]);
    await push(first, [tombstone('b', 2), note('a', 2)]);
    const middle = (await changes(first, 'limit=1')).body.checkpoint;
    const end = (await pullAll(first, 10)).checkpoint;
    await first.close();

    const second = await start({ storage });
    expect(epochOf((await changes(second, 'limit=1')).body.checkpoint)).toBe(epochOf(end));
    const rest = await changes(second, since(middle));
    expect(rest.body.changes.map(({ id, version, deleted }) => ({ id, version, deleted }))).toEqual([
      { id: 'b', version: 2, deleted: true },
      { id: 'a', version: 2, deleted: false },
    ]);
    expect(rest.body.checkpoint).toBe(end);
    await push(second, [note('d')]);
    expect((await changes(second, since(end))).body.changes.map(({ id }) => id)).toEqual(['d']);
  });

  it('an epoch is stored before the first checkpoint is handed out, even with no write yet', async () => {
    const storage = await h.storage();
    const first = await start({ storage });
    const { checkpoint } = (await changes(first)).body;
    await first.close();
    const second = await start({ storage });
    await push(second, [note('a')]);
    expect((await changes(second, since(checkpoint))).body.changes.map(({ id }) => id)).toEqual(['a']);
  });

  // The memory store's own file format: on the memory store whatever the run's store.
  it('loads a file written before the change feed: its records are served, its tombstone-free state kept', async () => {
    const file = join(await h.tempDir(), 'server.json');
    const stored = (id: string) => ({
      item: { ...note(id), syncPending: false },
      appliedCount: 1,
      appliedVersions: [1],
    });
    await writeFile(
      file,
      JSON.stringify({
        format: 'actorsync-server',
        items: { note: { a: stored('a'), b: stored('b') } },
        replies: { 'note\u0000k1': { digest: 'd', reply: [{ id: 'a', status: 'ok' }] } },
      }),
    );
    const server = await h.memoryServer({ token: TOKEN, file });
    expect((await changes(server)).body.changes.map(({ id }) => id)).toEqual(['a', 'b']);
    expect(server.state.replyFor('note', 'k1')).toEqual([{ id: 'a', status: 'ok' }]);
    const onDisk = JSON.parse(await readFile(file, 'utf8')) as { epoch?: string };
    expect(onDisk.epoch).toBe(server.state.epoch);
  });
});

describe('long-poll (`wait`)', () => {
  it('answers a held request within ~100 ms of another client pushing a change', async () => {
    const server = await start();
    await push(server, [note('a')]);
    const { checkpoint } = (await changes(server)).body;

    const held = changes(server, since(checkpoint, '&wait=10'));
    await until(() => server.stats().longPolls === 1);
    const pushed = Date.now();
    await push(server, [note('b')]);
    const answer = await held;
    const latencyMs = Date.now() - pushed;

    expect(answer.status).toBe(200);
    expect(answer.body.changes.map(({ id }) => id)).toEqual(['b']);
    expect(latencyMs).toBeLessThan(250);
    expect(server.stats().longPolls).toBe(0);
  });

  it('an idle long-poll ends after `wait` with an empty page and the same checkpoint', async () => {
    const server = await start();
    await push(server, [note('a')]);
    const { checkpoint } = (await changes(server)).body;
    // A write to another type does not answer it.
    const started = Date.now();
    const held = changes(server, since(checkpoint, '&wait=0.3'));
    await until(() => server.stats().longPolls === 1);
    await push(server, [note('x')], 'other');
    const answer = await held;
    const elapsed = Date.now() - started;
    expect(answer).toEqual({
      status: 200,
      retryAfter: null,
      body: { changes: [], checkpoint, hasMore: false },
    });
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('answers at once when changes are already waiting, whatever `wait` says', async () => {
    const server = await start();
    await push(server, [note('a')]);
    const started = Date.now();
    const answer = await changes(server, 'wait=30');
    expect(answer.body.changes.map(({ id }) => id)).toEqual(['a']);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('holds at most `maxLongPolls`: one more is answered 503 with Retry-After; a client leaving frees its place', async () => {
    const server = await start({ maxLongPolls: 2 });
    const { checkpoint } = (await changes(server)).body;
    const leaving = new AbortController();
    const first = changes(server, since(checkpoint, '&wait=30'), 'note', leaving.signal).catch(
      (error: unknown) => error,
    );
    const second = changes(server, since(checkpoint, '&wait=30'));
    await until(() => server.stats().longPolls === 2);

    const refused = await changes(server, since(checkpoint, '&wait=30'));
    expect(refused).toEqual({
      status: 503,
      retryAfter: '1',
      body: { error: 'Too many long-poll requests held (2); try again later' },
    });
    // A request that needs no wait is still answered.
    expect((await changes(server, since(checkpoint))).status).toBe(200);

    leaving.abort();
    expect(await first).toMatchObject({ name: 'AbortError' });
    await until(() => server.stats().longPolls === 1);
    const third = changes(server, since(checkpoint, '&wait=30'));
    await until(() => server.stats().longPolls === 2);
    await push(server, [note('a')]);
    expect((await second).body.changes.map(({ id }) => id)).toEqual(['a']);
    expect((await third).body.changes.map(({ id }) => id)).toEqual(['a']);
  });

  it('close() answers every held long-poll at once and stops fast', async () => {
    const server = await start();
    const { checkpoint } = (await changes(server)).body;
    const held = [1, 2, 3].map(() =>
      changes(server, since(checkpoint, '&wait=60')).catch((error: unknown) => error),
    );
    await until(() => server.stats().longPolls === 3);

    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    for (const answer of await Promise.all(held)) {
      expect(answer).toEqual({
        status: 200,
        retryAfter: null,
        body: { changes: [], checkpoint, hasMore: false },
      });
    }
  });
});

describe('injected faults on pulls (`pullFaults`)', () => {
  it('answers each scripted fault as a push would, apart from the push script, and then serves the page', async () => {
    const server = await start({
      faults: { script: ['error500'] },
      pullFaults: {
        script: ['error500', 'tooMany429', 'reset', 'dropReply', 'malformed', 'slowDrip', 'none'],
        dripIntervalMs: 1,
      },
    });
    await seedServer(server, [note('a')], 'note');
    const url = `${server.url}/v1/changes/note`;
    const outcome = async () => {
      try {
        const response = await fetch(url, { headers: auth });
        const text = await response.text();
        try {
          return { status: response.status, body: JSON.parse(text) as unknown };
        } catch {
          return { status: response.status, body: 'truncated' };
        }
      } catch {
        return { status: 'no reply' };
      }
    };
    const outcomes = [];
    for (let i = 0; i < 7; i += 1) outcomes.push(await outcome());
    const page = (await changes(server)).body;
    expect(outcomes).toEqual([
      { status: 500, body: { error: 'Injected fault: error500' } },
      { status: 429, body: { error: 'Injected fault: tooMany429' } },
      { status: 'no reply' },
      { status: 'no reply' },
      { status: 200, body: 'truncated' },
      { status: 200, body: page },
      { status: 200, body: page },
    ]);
    expect(server.stats().pullFaultsInjected).toMatchObject({
      error500: 1,
      tooMany429: 1,
      reset: 1,
      slowDrip: 1,
    });
    // The push script was not shifted by the pulls: the first push still gets its 500.
    expect((await push(server, [note('b')])).status).toBe(500);
  });

  it('refuses `reject`, which has no meaning for a read', async () => {
    await expect(createSyncServer({ token: TOKEN, pullFaults: { kinds: ['reject'] } })).rejects.toThrow(
      'pullFaults cannot inject "reject"',
    );
  });
});

describe('requests the change feed refuses', () => {
  it('needs the token, GET, and a valid entity type', async () => {
    const server = await start();
    expect((await fetch(`${server.url}/v1/changes/note`)).status).toBe(401);
    expect((await fetch(`${server.url}/v1/changes/note`, { method: 'POST', headers: auth })).status).toBe(
      405,
    );
    expect(
      (await fetch(`${server.url}/v1/changes/${encodeURIComponent('bad type!')}`, { headers: auth })).status,
    ).toBe(400);
    expect((await fetch(`${server.url}/v1/changes/note/extra`, { headers: auth })).status).toBe(404);
  });

  it('answers a malformed checkpoint with 400, and no hostile query string with a 5xx', async () => {
    const server = await start();
    await push(server, [note('a')]);
    const { checkpoint } = (await changes(server)).body;
    const b64 = (text: string) => Buffer.from(text).toString('base64url');
    const epoch = epochOf(checkpoint);
    const malformed = [
      'not-a-checkpoint!',
      b64('no dot'),
      b64(`${epoch}.1`),
      b64(`${epoch}.-1.0`),
      b64(`${epoch}.1.5.2`),
      b64(`${epoch}.99999999999999999.0`),
      b64(`${epoch}.01.0`),
      b64(`${epoch}.1.1e3`),
      `${checkpoint}=`,
      `${checkpoint}%00`,
      'x'.repeat(10_000),
      b64('é'.repeat(5_000)),
    ];
    for (const bad of malformed) {
      const answer = await changes(server, `since=${encodeURIComponent(bad)}`);
      expect({ bad: bad.slice(0, 40), ...answer }).toEqual({
        bad: bad.slice(0, 40),
        status: 400,
        retryAfter: null,
        body: { error: 'since is not a checkpoint of this server' },
      });
    }
    const refused = [
      'limit=-1',
      'limit=0',
      'limit=NaN',
      'limit=1.5',
      'limit=1e3',
      'limit=%20',
      'wait=-1',
      'wait=NaN',
      'wait=1e9',
      'wait=Infinity',
      `limit=${'9'.repeat(10_000)}`,
    ];
    for (const query of refused) {
      const answer = await changes(server, query);
      expect({ query: query.slice(0, 40), status: answer.status }).toEqual({
        query: query.slice(0, 40),
        status: 400,
      });
    }
    // Too large a limit or wait is served as the maximum; repeated and unknown parameters are not errors.
    const lowered = [
      'limit=99999999999999999999',
      'limit=1001',
      `limit=1&limit=${'x'.repeat(100)}`,
      'wait=0.001',
      // A change is waiting (no `since`), so it is answered at once.
      'wait=999&unknown=1',
    ];
    for (const query of lowered) {
      const started = Date.now();
      const answer = await changes(server, query);
      expect({ query, status: answer.status }).toEqual({ query, status: 200 });
      expect(Date.now() - started).toBeLessThan(2_000);
    }
    const raw = await fetch(`${server.url}/v1/changes/note?since=%E0%A4%A&limit=%ZZ`, { headers: auth });
    expect(raw.status).toBe(400);
  });
});

/** Resolves once `condition` holds, checking on every turn of the event loop (a server-side count, not a sleep). */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('Timed out waiting for the server');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
