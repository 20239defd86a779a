/**
 * Issue 14: the protocol's server side as a Web-standard handler (mounted without node:http here), who may see
 * what (principals, partitions, shared types), CORS, and the request limit.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../src/domain/errors.js';
import {
  createSyncHandler,
  createSyncServer,
  MemoryServerStore,
  type SyncHandler,
  type SyncServer,
} from '../../src/server.js';
import { note } from '../e2e/harness.js';
import { syncRequest } from '../helpers/post-sync.js';
import { until } from '../helpers/until.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function handlerOf(options: Omit<Parameters<typeof createSyncHandler>[0], 'store'> = {}) {
  const store = await MemoryServerStore.open();
  const handler = createSyncHandler({ store, ...options });
  cleanups.push(async () => {
    await handler.close();
    await store.close();
  });
  return { handler, store };
}

const BASE = 'http://sync.example';

function push(
  handler: SyncHandler,
  token: string,
  type: string,
  items: unknown[],
  key = `k-${Math.random()}`,
) {
  return handler.fetch(syncRequest(BASE, token, key, JSON.stringify({ batchId: key, items }), type));
}

function pull(handler: SyncHandler, token: string, type: string, query = '') {
  return handler.fetch(
    new Request(`${BASE}/v1/changes/${type}?limit=100${query}`, {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
}

async function pulledIds(handler: SyncHandler, token: string, type: string): Promise<string[]> {
  const response = await pull(handler, token, type);
  expect(response.status).toBe(200);
  const page = (await response.json()) as { changes: { id: string }[] };
  return page.changes.map((change) => change.id);
}

describe('the Web-standard handler (no node:http)', () => {
  it('answers pushes, pulls and long-polls given as Web Requests', async () => {
    const { handler } = await handlerOf({ token: ALICE });

    const pushed = await push(handler, ALICE, 'note', [note('a'), note('b')]);
    expect(pushed.status).toBe(200);
    expect(await pushed.json()).toEqual({
      results: [
        { id: 'a', status: 'ok', version: 1 },
        { id: 'b', status: 'ok', version: 1 },
      ],
    });
    const first = (await (await pull(handler, ALICE, 'note')).json()) as {
      checkpoint: string;
      hasMore: boolean;
    };
    expect(first.hasMore).toBe(false);

    // A held long-poll is answered by the next write to its type.
    const held = pull(handler, ALICE, 'note', `&since=${first.checkpoint}&wait=20`);
    await until(() => handler.stats().longPolls === 1, 'the poll to be held');
    await push(handler, ALICE, 'note', [note('c')]);
    const woken = (await (await held).json()) as { changes: { id: string }[] };
    expect(woken.changes.map((change) => change.id)).toEqual(['c']);
  });

  it('answers 401 without a valid token and 404 elsewhere, with JSON bodies', async () => {
    const { handler } = await handlerOf({ token: ALICE });
    const refused = await pull(handler, 'not-the-token-at-all', 'note');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer');
    expect(await refused.json()).toEqual({ error: 'A valid bearer token is required' });
    expect((await handler.fetch(new Request(`${BASE}/nowhere`))).status).toBe(404);
  });
});

describe('who may see what (issue 14)', () => {
  it("keeps each principal's records and change feed apart", async () => {
    const { handler } = await handlerOf({ token: ALICE, tokens: { [BOB]: 'bob' } });

    expect((await push(handler, ALICE, 'note', [note('same-id'), note('a-only')])).status).toBe(200);
    // Bob writes the same id at the same version with other content: his own record, not a conflict.
    const bobs = await push(handler, BOB, 'note', [{ ...note('same-id'), text: 'bob' }]);
    expect(await bobs.json()).toEqual({ results: [{ id: 'same-id', status: 'ok', version: 1 }] });

    expect(await pulledIds(handler, ALICE, 'note')).toEqual(['same-id', 'a-only']);
    expect(await pulledIds(handler, BOB, 'note')).toEqual(['same-id']);
    const bobItems = (await (
      await handler.fetch(
        new Request(`${BASE}/v1/items/note`, { headers: { authorization: `Bearer ${BOB}` } }),
      )
    ).json()) as { items: { item: { text: string } }[] };
    expect(bobItems.items.map((stored) => stored.item.text)).toEqual(['bob']);
  });

  it('shares the types configured as shared between every principal', async () => {
    const { handler } = await handlerOf({ token: ALICE, tokens: { [BOB]: 'bob' }, sharedTypes: ['catalog'] });
    await push(handler, ALICE, 'catalog', [note('c1')]);
    await push(handler, ALICE, 'note', [note('n1')]);

    expect(await pulledIds(handler, BOB, 'catalog')).toEqual(['c1']);
    expect(await pulledIds(handler, BOB, 'note')).toEqual([]);
    // A write to a shared record is checked against the one shared copy: Bob's stale version conflicts.
    const stale = await push(handler, BOB, 'catalog', [{ ...note('c1'), text: 'other' }]);
    expect(((await stale.json()) as { results: { status: string }[] }).results[0]?.status).toBe('conflict');
  });

  it('asks an authenticate hook for the principal; undefined is a 401, an unusable id a 500 reported to onError', async () => {
    const errors: unknown[] = [];
    const { handler } = await handlerOf({
      authenticate: (request) => {
        const user = request.headers.get('x-user');
        if (user === null) return undefined;
        return { id: user === 'broken' ? '' : user };
      },
      onError: (error) => errors.push(error),
    });
    expect(handler.token).toBe('');
    const as = (user: string | undefined) =>
      handler.fetch(
        new Request(`${BASE}/v1/changes/note`, { headers: user === undefined ? {} : { 'x-user': user } }),
      );

    expect((await as(undefined)).status).toBe(401);
    expect((await as('carol')).status).toBe(200);
    const broken = await as('broken');
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ error: 'Internal error' });
    expect(String(errors[0])).toContain('unusable principal id');
  });

  it('refuses short tokens and unusable principal ids at creation', async () => {
    const store = await MemoryServerStore.open();
    expect(() => createSyncHandler({ store, token: 'short' })).toThrow(InvalidOptionsError);
    expect(() => createSyncHandler({ store, token: ALICE, tokens: { [BOB]: '' } })).toThrow(
      InvalidOptionsError,
    );
    expect(() => createSyncHandler({ store, token: ALICE, sharedTypes: ['no spaces'] })).toThrow(
      InvalidOptionsError,
    );
  });
});

describe('CORS (issue 14)', () => {
  const preflight = (handler: SyncHandler, origin: string) =>
    handler.fetch(
      new Request(`${BASE}/v1/sync/note`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, idempotency-key, content-type',
        },
      }),
    );

  it('allows no origin by default', async () => {
    const { handler } = await handlerOf({ token: ALICE });
    expect((await preflight(handler, 'https://app.example')).status).toBe(403);
    const response = await handler.fetch(
      new Request(`${BASE}/v1/changes/note`, {
        headers: { authorization: `Bearer ${ALICE}`, origin: 'https://app.example' },
      }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers preflights and requests of the configured origins only', async () => {
    const { handler } = await handlerOf({ token: ALICE, cors: { origins: ['https://app.example'] } });

    const allowed = await preflight(handler, 'https://app.example');
    expect(allowed.status).toBe(204);
    expect(Object.fromEntries(allowed.headers)).toMatchObject({
      'access-control-allow-origin': 'https://app.example',
      'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'authorization, content-type, idempotency-key',
      vary: 'origin',
    });
    expect((await preflight(handler, 'https://evil.example')).status).toBe(403);

    const fromApp = await handler.fetch(
      new Request(`${BASE}/v1/changes/note`, {
        headers: { authorization: `Bearer ${ALICE}`, origin: 'https://app.example' },
      }),
    );
    expect(fromApp.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(fromApp.headers.get('access-control-expose-headers')).toBe('retry-after');
    // Even a refusal carries the header, so the app can read why.
    const unauthorized = await handler.fetch(
      new Request(`${BASE}/v1/changes/note`, { headers: { origin: 'https://app.example' } }),
    );
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const fromElsewhere = await handler.fetch(
      new Request(`${BASE}/v1/changes/note`, {
        headers: { authorization: `Bearer ${ALICE}`, origin: 'https://evil.example' },
      }),
    );
    expect(fromElsewhere.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reports a refused preflight: onRequest logs every preflight, cors.onOriginRefused names the origin', async () => {
    // A page whose origin is not allowed sees only "Failed to fetch", as when offline: the server must say why.
    const logged: { method: string; path: string; status: number }[] = [];
    const refused: string[] = [];
    const { handler } = await handlerOf({
      token: ALICE,
      cors: { origins: ['https://app.example'], onOriginRefused: (origin) => refused.push(origin) },
      onRequest: ({ method, path, status }) => logged.push({ method, path, status }),
    });
    expect((await preflight(handler, 'https://app.example')).status).toBe(204);
    expect(refused).toEqual([]);
    expect((await preflight(handler, 'http://localhost:5173')).status).toBe(403);
    expect(refused).toEqual(['http://localhost:5173']);
    expect(logged).toEqual([
      { method: 'OPTIONS', path: '/v1/sync/note', status: 204 },
      { method: 'OPTIONS', path: '/v1/sync/note', status: 403 },
    ]);
  });

  it('a throwing onOriginRefused or onRequest does not fail the preflight', async () => {
    const { handler } = await handlerOf({
      token: ALICE,
      cors: {
        origins: [],
        onOriginRefused: () => {
          throw new Error('logger down');
        },
      },
      onRequest: () => {
        throw new Error('logger down');
      },
    });
    expect((await preflight(handler, 'https://app.example')).status).toBe(403);
  });

  it('refuses an origin that is not one (a path, a wildcard)', async () => {
    const store = await MemoryServerStore.open();
    for (const origin of ['https://app.example/', '*', 'app.example']) {
      expect(() => createSyncHandler({ store, token: ALICE, cors: { origins: [origin] } })).toThrow(
        InvalidOptionsError,
      );
    }
  });
});

describe('on node:http', () => {
  let server: SyncServer;
  afterEach(async () => server?.close());

  it('answers 503 with Retry-After past maxConcurrentRequests, and serves again once one finishes', async () => {
    server = await createSyncServer({ token: ALICE, maxConcurrentRequests: 1 });
    // A push whose body is still arriving holds the one slot.
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const body = JSON.stringify({ batchId: 'slow', items: [note('slow')] });
    socket.write(
      `POST /v1/sync/note HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ALICE}\r\nidempotency-key: slow\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
    );
    await until(() => server.stats().requests === 1, 'the request to arrive');

    const refused = await fetch(`${server.url}/v1/changes/note`, {
      headers: { authorization: `Bearer ${ALICE}` },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');

    const answer = new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('"results"')) resolve(text);
      });
    });
    socket.write(body.slice(10));
    expect(await answer).toContain('HTTP/1.1 200');
    socket.destroy();
    const served = await fetch(`${server.url}/v1/changes/note`, {
      headers: { authorization: `Bearer ${ALICE}` },
    });
    expect(served.status).toBe(200);
  });

  it('answers every request-target form HTTP allows by its path, and never crashes on one it cannot read', async () => {
    server = await createSyncServer({ token: ALICE });
    const statusOf = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () =>
          socket.write(`GET ${target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`),
        );
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString();
        });
        socket.on('error', reject);
        socket.on('close', () => resolve(text.split('\r\n')[0] ?? ''));
      });
    expect(await statusOf('/healthz')).toBe('HTTP/1.1 200 OK');
    expect(await statusOf('http://elsewhere.example/healthz')).toBe('HTTP/1.1 200 OK');
    expect(await statusOf('*')).toBe('HTTP/1.1 404 Not Found');
    expect(await statusOf('/v1/items/%ZZ')).toBe('HTTP/1.1 400 Bad Request');
    expect(await statusOf('http://[bad/healthz')).toMatch(/^HTTP\/1\.1 400/);
    // Still serving.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('close() drops a request whose body has not arrived, and resolves', async () => {
    server = await createSyncServer({ token: ALICE });
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /v1/sync/note HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ALICE}\r\nidempotency-key: k\r\n` +
        'content-length: 1000\r\n\r\n{"items":',
    );
    await until(() => server.stats().requests === 1, 'the request to arrive');
    const closedSocket = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await server.close();
    await closedSocket;
    expect(server.state.list('note')).toEqual([]);
  });
});
