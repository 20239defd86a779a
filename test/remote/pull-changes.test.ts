/**
 * Issue 13: `HttpRemoteDataSource.pullChanges` against a small `node:http` server on 127.0.0.1 that speaks the
 * change-feed protocol (docs/protocol.md, "Pulling changes") or breaks it on purpose: paging into a real store,
 * the token and its refresh, reset, every status class, redirects, size cap, deadline (with `wait`), abort, and
 * redaction of messages and changes.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource, type HttpRemoteOptions } from '../../src/http.js';
import {
  FatalSyncError,
  InvalidOptionsError,
  MalformedReplyError,
  MemoryLocalDataSource,
  type PulledChange,
  type PullReply,
  type RepositoryEntity,
  TransientSyncError,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { isHandedOver } from '../../src/protocol/pull-page.js';

interface Note extends RepositoryEntity {
  text?: string;
}

const TOKEN = 'pull-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Seen {
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  method: string | undefined;
}

type Handler = (request: IncomingMessage, response: ServerResponse, seen: Seen) => void;

/** A server on 127.0.0.1 answering every request with `handler`; records what each request asked. */
async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const entry = {
      path: url.pathname,
      query: url.searchParams,
      authorization: request.headers.authorization,
      method: request.method,
    };
    seen.push(entry);
    request.resume();
    request.on('end', () => handler(request, response, entry));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  cleanups.push(() => server.closeAllConnections());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const json = (
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) => {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(typeof body === 'string' ? body : JSON.stringify(body));
};

const record = (id: string, version: number, extra: Record<string, unknown> = {}) => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 2,
  syncPending: false,
  text: `${id}@${version}`,
  ...extra,
});
const change = (id: string, version: number, extra: Record<string, unknown> = {}) => ({
  id,
  version,
  deleted: extra.deleted === true,
  item: record(id, version, extra),
});

const remote = (url: string, options: Partial<HttpRemoteOptions> = {}) =>
  new HttpRemoteDataSource<Note>({ baseUrl: url, getToken: () => TOKEN, timeoutMs: 2_000, ...options });

const ask = (
  r: HttpRemoteDataSource<Note>,
  more: { since?: string; limit?: number; wait?: number; signal?: AbortSignal } = {},
) =>
  r.pullChanges({
    entityType: 'note',
    limit: more.limit ?? 2,
    signal: more.signal ?? new AbortController().signal,
    ...more,
  });

/** A feed of records in commit order, paged by position (checkpoint "p{n}"), and a 410 for "stale". */
function feed(records: ReturnType<typeof change>[]): Handler {
  return (_request, response, seen) => {
    if (seen.authorization !== `Bearer ${TOKEN}`) return json(response, 401, { error: 'no token' });
    const since = seen.query.get('since');
    if (since === 'stale') return json(response, 410, { error: 'retention passed', reset: true });
    const from = since === null ? 0 : Number(since.slice(1));
    const limit = Number(seen.query.get('limit'));
    const changes = records.slice(from, from + limit);
    json(response, 200, {
      changes,
      checkpoint: `p${from + changes.length}`,
      hasMore: from + limit < records.length,
    });
  };
}

describe('HttpRemoteDataSource.pullChanges', () => {
  it('pages through the feed into a store until hasMore is false, each page with its checkpoint', async () => {
    const records = [
      change('a', 1),
      change('b', 1),
      change('a', 2),
      change('c', 3, { deleted: true }),
      change('d', 1),
    ];
    const { url, seen } = await serve(feed(records));
    const r = remote(url);
    const local = new MemoryLocalDataSource<Note>();
    const pulled: number[] = [];
    for (;;) {
      const since = await local.checkpoint();
      const reply = await ask(r, since === undefined ? {} : { since });
      if (reply.reset) throw new Error('unexpected reset');
      const result = await local.applyPulledPage({ ...reply, since }, { conflicts: 'server-wins', now: 5 });
      pulled.push(result.pulled);
      if (!reply.hasMore) break;
    }
    expect(pulled).toEqual([2, 1, 1]);
    expect(await local.checkpoint()).toBe('p5');
    expect((await local.getAll()).map((n) => [n.id, n.version, n.syncPending])).toEqual([
      ['b', 1, false],
      ['a', 2, false],
      ['d', 1, false],
    ]);
    expect(seen.map((s) => [s.method, s.path, s.query.toString()])).toEqual([
      ['GET', '/v1/changes/note', 'limit=2'],
      ['GET', '/v1/changes/note', 'since=p2&limit=2'],
      ['GET', '/v1/changes/note', 'since=p4&limit=2'],
    ]);
  });

  it('hands its pages over: a lowdb store keeps the items themselves, frozen; a second store gets copies', async () => {
    const { url } = await serve(feed([change('a', 1), change('b', 2, { baseVersion: 1 })]));
    const reply = await ask(remote(url));
    if (reply.reset) throw new Error('unexpected reset');
    expect(isHandedOver(reply.changes)).toBe(true);
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-handover-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const stored: RepositoryEntity[][] = [];
    for (const name of ['one.json', 'two.json']) {
      const store = await LowdbLocalStore.open(join(dir, name));
      cleanups.push(() => store.close());
      const collection = store.collection<Note>('note');
      const result = await collection.applyPulledPage?.(
        { ...reply, since: undefined },
        { conflicts: 'server-wins', now: 5 },
      );
      expect(result?.pulled).toBe(2);
      stored.push(store.index('note').exportState().records);
    }
    const [first = [], second = []] = stored;
    expect(first).toEqual(reply.changes.map((c) => c.item));
    first.forEach((r, i) => {
      expect(r).toBe(reply.changes[i]?.item);
      expect(Object.isFrozen(r)).toBe(true);
    });
    expect(second).toEqual(first);
    second.forEach((r, i) => {
      expect(r).not.toBe(first[i]);
    });
    // Adopted: the server's base is not the client's bookkeeping.
    expect(first[1]).toEqual(record('b', 2));
  });

  it('asks the server to hold the request with wait, and gives it timeoutMs on top of the wait', async () => {
    const { url, seen } = await serve((_request, response) => {
      // Answered after the 200 ms timeout, inside timeout + wait.
      setTimeout(() => json(response, 200, { changes: [], checkpoint: 'p0', hasMore: false }), 400);
    });
    const reply = await ask(remote(url, { timeoutMs: 200 }), { since: 'p0', wait: 0.5 });
    expect(reply).toEqual({ changes: [], checkpoint: 'p0', hasMore: false });
    expect(seen[0]?.query.get('wait')).toBe('0.5');
  });

  it('gives up on a request held past timeoutMs + wait', async () => {
    const { url } = await serve(() => {});
    const started = Date.now();
    await expect(ask(remote(url, { timeoutMs: 150 }), { wait: 0.1 })).rejects.toThrow(
      new TransientSyncError('No reply within 250 ms'),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });

  it('resolves { reset: true } for a 410 that says reset, and is fatal for a 410 that does not', async () => {
    const { url } = await serve(feed([]));
    expect(await ask(remote(url), { since: 'stale' })).toEqual({ reset: true });
    const other = await serve((_q, response) => json(response, 410, { error: 'gone' }));
    await expect(ask(remote(other.url))).rejects.toBeInstanceOf(FatalSyncError);
  });

  it('refreshes the token once after a 401, then fails for good', async () => {
    const { url, seen } = await serve(feed([change('a', 1)]));
    const asked: boolean[] = [];
    const r = remote(url, {
      getToken: ({ refresh }) => {
        asked.push(refresh);
        return refresh ? TOKEN : 'expired-token-xyz';
      },
    });
    expect(await ask(r)).toMatchObject({ checkpoint: 'p1' });
    expect(asked).toEqual([false, true]);
    expect(seen.map((s) => s.authorization)).toEqual(['Bearer expired-token-xyz', `Bearer ${TOKEN}`]);
    const refused = remote(url, { getToken: () => 'always-wrong-token' });
    await expect(ask(refused)).rejects.toThrow(/^Authentication failed: Server answered 401 \(no token\)$/);
  });

  it.each([
    [503, { 'retry-after': '7' }, 7_000],
    [429, { 'retry-after': '2' }, 2_000],
    [500, {}, undefined],
    [408, {}, undefined],
  ] as const)('treats %i as transient, with Retry-After', async (status, headers, retryAfterMs) => {
    const { url } = await serve((_q, response) => json(response, status, { error: 'busy' }, headers));
    const error = await ask(remote(url)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientSyncError);
    expect(error).toMatchObject({ message: `Server answered ${status} (busy)`, retryAfterMs });
  });

  it('treats a dropped connection as a transient network error', async () => {
    const { url } = await serve((request) => request.socket.destroy());
    await expect(ask(remote(url))).rejects.toThrow(/^Network error: /);
    await expect(ask(remote(url))).rejects.toBeInstanceOf(TransientSyncError);
  });

  it.each([400, 404, 405, 418])('is fatal for %i, naming the URL without its query', async (status) => {
    const { url } = await serve((_q, response) => json(response, status, { error: 'nope' }));
    const error = await ask(remote(`${url}/base`), { since: 'p7' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalSyncError);
    expect((error as Error).message).toBe(
      `Server answered ${status} (nope) for GET ${url}/base/v1/changes/note: the changes endpoint or the request is wrong; check baseUrl and the server`,
    );
  });

  it('never follows a redirect', async () => {
    const target = await serve(feed([change('a', 1)]));
    const { url } = await serve((_q, response) => {
      response.writeHead(302, { location: `${target.url}/v1/changes/note` });
      response.end();
    });
    await expect(ask(remote(url))).rejects.toThrow(
      /^Server redirected GET .* \(302\) to http:\/\/127\.0\.0\.1:\d+\/v1\/changes\/note: a sync request is never redirected/,
    );
    expect(target.seen).toEqual([]);
  });

  it.each([
    ['not JSON', '{"changes": [{"id": ', /not valid JSON/],
    ['no checkpoint', { changes: [], hasMore: false }, /checkpoint/],
    ['an empty checkpoint', { changes: [], checkpoint: '', hasMore: false }, /checkpoint/],
    [
      'a checkpoint too long to send back',
      { changes: [], checkpoint: 'c'.repeat(2049), hasMore: false },
      /checkpoint/,
    ],
    ['hasMore missing', { changes: [], checkpoint: 'p1' }, /hasMore/],
    ['a change that is not an object', { changes: [7], checkpoint: 'p1', hasMore: false }, /changes\.0/],
    [
      'more changes than asked for',
      { changes: [change('a', 1), change('b', 1), change('c', 1)], checkpoint: 'p3', hasMore: false },
      /3 changes, more than the 2 asked for/,
    ],
  ])('refuses a page with %s as malformed', async (_, body, message) => {
    const { url } = await serve((_q, response) => json(response, 200, body));
    const error = await ask(remote(url)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedReplyError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a page past maxResponseBytes in decoded bytes, compressed or not', async () => {
    const big = JSON.stringify({
      changes: [change('a', 1, { text: 'x'.repeat(300_000) })],
      checkpoint: 'p1',
      hasMore: false,
    });
    const { url } = await serve((_q, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      response.end(gzipSync(big));
    });
    await expect(ask(remote(url, { maxResponseBytes: 100_000 }))).rejects.toThrow(
      new MalformedReplyError('Server reply exceeds the 100000 byte limit'),
    );
    const plain = await serve((_q, response) => json(response, 200, big));
    await expect(ask(remote(plain.url, { maxResponseBytes: 100_000 }))).rejects.toBeInstanceOf(
      MalformedReplyError,
    );
  });

  it('redacts the token from every message, and hands every change over as data, unchanged', async () => {
    const { url } = await serve((_q, response, seen) =>
      seen.query.get('since') === 'p1'
        ? json(response, 500, { error: `token was ${TOKEN}` })
        : json(response, 200, {
            changes: [change('a', 1, { text: `leaked ${TOKEN}`, [TOKEN]: 1 })],
            checkpoint: 'p1',
            hasMore: true,
          }),
    );
    const r = remote(url);
    const reply = (await ask(r)) as Exclude<PullReply, { reset: true }>;
    // A record is the app's data: rewriting it would store other content than the server's as synced.
    expect(reply.changes).toEqual([change('a', 1, { text: `leaked ${TOKEN}`, [TOKEN]: 1 })]);
    expect((reply.changes[0] as PulledChange & { item: Note }).item.text).toBe(`leaked ${TOKEN}`);
    await expect(ask(r, { since: 'p1' })).rejects.toThrow(
      new TransientSyncError('Server answered 500 (token was [redacted])'),
    );
  });

  it('hands changes over as they came: the store refuses an invalid one on its own', async () => {
    const { url } = await serve((_q, response) =>
      json(response, 200, {
        changes: [{ ...change('a', 2), version: 3 }, change('b', 1)],
        checkpoint: 'p2',
        hasMore: false,
      }),
    );
    const reply = await ask(remote(url));
    if (reply.reset) throw new Error('unexpected reset');
    const local = new MemoryLocalDataSource<Note>();
    const result = await local.applyPulledPage(
      { ...reply, since: undefined },
      { conflicts: 'server-wins', now: 5 },
    );
    expect(result).toMatchObject({
      pulled: 1,
      invalid: 1,
      refused: [{ id: 'a', kind: 'invalid' }],
      checkpoint: 'p2',
    });
  });

  it('rejects with the caller’s abort reason', async () => {
    const { url } = await serve(() => {});
    const controller = new AbortController();
    const pending = ask(remote(url), { signal: controller.signal });
    const reason = new Error('cancelled');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it.each([
    [{ limit: 0 }, /limit/],
    [{ limit: 1.5 }, /limit/],
    [{ wait: -1 }, /wait/],
    [{ wait: 61 }, /wait/],
    [{ since: '' }, /since/],
  ])('refuses a request of %o before sending it', async (more, message) => {
    const { url, seen } = await serve(feed([]));
    const error = await ask(remote(url), more).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toMatch(message);
    expect(seen).toEqual([]);
  });
});
