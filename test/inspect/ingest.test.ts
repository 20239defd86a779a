import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { SyncCoordinator } from '../../src/index.js';
import { INGEST_TOKEN_HEADER } from '../../src/inspect/ingest-wire.js';
import type { ActorNode, InspectorRecord } from '../../src/inspect/inspector-model.js';
import { createInspector, type LocalInspector } from '../../src/inspect/inspector-server.js';
import { createRemoteInspector, type RemoteInspector } from '../../src/inspect/remote-inspector.js';
import { REDACTED } from '../../src/inspect/sanitize.js';
import { makeRepo, seed } from '../helpers/fixtures.js';

const PAGE_ORIGIN = 'http://localhost:5173';
const SYNC_TOKEN = 'sync-server-token-0123456789';

let inspector: LocalInspector;
let ingestUrl: string;
let ingestToken: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  inspector = await createInspector({ ingest: { allowOrigins: [`${PAGE_ORIGIN}/`] } });
  ingestUrl = inspector.ingest?.url ?? '';
  ingestToken = inspector.ingest?.token ?? '';
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await inspector.close();
});

const quiet = { warn: () => {} };

function sender(options: Partial<Parameters<typeof createRemoteInspector>[0]> = {}): RemoteInspector {
  const remote = createRemoteInspector({ url: ingestUrl, token: ingestToken, logger: quiet, ...options });
  cleanups.push(() => remote.close());
  return remote;
}

function coordinatorWith(inspect: (event: Parameters<RemoteInspector['inspect']>[0]) => void) {
  const coordinator = new SyncCoordinator({ inspect });
  cleanups.push(() => coordinator.stop());
  return coordinator;
}

const ingest = (body: string, headers: Record<string, string> = {}) =>
  fetch(ingestUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [INGEST_TOKEN_HEADER]: ingestToken, ...headers },
    body,
  });

const batchOf = (records: unknown[], source = 'test-page') => JSON.stringify({ source, records });

/** The page's `init` message: the tree and the event log as a page opened now sees them. */
async function pageInit(
  of: LocalInspector = inspector,
): Promise<{ tree: ActorNode[]; log: InspectorRecord[]; ingest: boolean }> {
  const controller = new AbortController();
  const response = await fetch(`${of.url.replace('/?', '/api/stream?')}`, { signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (let match = null; match === null; match = /event: init\ndata: (.*)\n/.exec(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended before init');
    text += decoder.decode(value);
  }
  controller.abort();
  return JSON.parse(/event: init\ndata: (.*)\n/.exec(text)?.[1] ?? '{}');
}

/** A tree or log with the page's source taken out of the session ids, and the clock readings left out. */
function withoutSource<T extends object>(items: T[]): unknown[] {
  const strip = (value: unknown) => (typeof value === 'string' ? value.replace(/^[\w-]+\//, '') : value);
  return items.map((item) => {
    const { at, updatedAt, ...rest } = item as Record<string, unknown>;
    const out: Record<string, unknown> = { ...rest };
    for (const key of ['sessionId', 'parent', 'source']) if (key in out) out[key] = strip(out[key]);
    if (Array.isArray(out.children)) out.children = out.children.map(strip);
    return out;
  });
}

describe('the ingest endpoint', () => {
  it('refuses a missing or wrong token (401), and the two tokens open only their own doors', async () => {
    const pageToken = new URL(inspector.url).searchParams.get('token') ?? '';
    const body = batchOf([]);
    expect((await ingest(body, { [INGEST_TOKEN_HEADER]: '' })).status).toBe(401);
    expect((await ingest(body, { [INGEST_TOKEN_HEADER]: 'x'.repeat(24) })).status).toBe(401);
    // The page's token (which drives syncs) is not an ingest token...
    expect((await ingest(body, { [INGEST_TOKEN_HEADER]: pageToken })).status).toBe(401);
    // ...and the ingest token a web app holds opens neither the page, the stream nor the controls.
    const origin = inspector.origin;
    expect((await fetch(`${origin}/?token=${ingestToken}`)).status).toBe(401);
    expect(
      (await fetch(`${origin}/api/stream`, { headers: { 'x-inspector-token': ingestToken } })).status,
    ).toBe(401);
    const control = await fetch(`${origin}/api/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-inspector-token': ingestToken },
      body: JSON.stringify({ type: 'SYNC_ALL' }),
    });
    expect(control.status).toBe(401);
    expect((await ingest(body)).status).toBe(200);
    expect(inspector.ingest?.stats().refused.unauthorized).toBe(3);
    expect(ingestToken).not.toBe(pageToken);
    expect(ingestToken.length).toBeGreaterThanOrEqual(16);
  });

  it('refuses a page of an origin it was not told to allow (403), and answers the preflight of one it was', async () => {
    expect((await ingest(batchOf([]), { origin: 'http://evil.example' })).status).toBe(403);
    expect((await ingest(batchOf([]), { origin: 'null' })).status).toBe(403);
    const denied = await fetch(ingestUrl, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5174', 'access-control-request-method': 'POST' },
    });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();

    const preflight = await fetch(ingestUrl, {
      method: 'OPTIONS',
      headers: {
        origin: PAGE_ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': `content-type,${INGEST_TOKEN_HEADER}`,
        'access-control-request-private-network': 'true',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(PAGE_ORIGIN);
    expect(preflight.headers.get('access-control-allow-headers')).toContain(INGEST_TOKEN_HEADER);
    expect(preflight.headers.get('access-control-allow-private-network')).toBe('true');
    const allowed = await ingest(batchOf([]), { origin: PAGE_ORIGIN, 'sec-fetch-site': 'cross-site' });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(PAGE_ORIGIN);
    // A wrong token from an allowed page: a 401 the page can read.
    const unauthorized = await ingest(batchOf([]), { origin: PAGE_ORIGIN, [INGEST_TOKEN_HEADER]: 'nope' });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers.get('access-control-allow-origin')).toBe(PAGE_ORIGIN);
    expect(inspector.ingest?.stats().refused.origin).toBe(3);
    // Everything else on the inspector still refuses that origin.
    const control = await fetch(`${inspector.origin}/api/control`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-inspector-token': new URL(inspector.url).searchParams.get('token') ?? '',
        origin: PAGE_ORIGIN,
      },
      body: JSON.stringify({ type: 'SYNC_ALL' }),
    });
    expect(control.status).toBe(403);
  });

  it('refuses an oversized body with 413, whether it declares its length or not', async () => {
    const small = await createInspector({ ingest: { maxBodyBytes: 1024 } });
    cleanups.push(() => small.close());
    const big = batchOf([{ kind: 'event', at: 1, sessionId: 'x:0', type: 'X', payload: 'y'.repeat(4096) }]);
    const declared = await fetch(small.ingest?.url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INGEST_TOKEN_HEADER]: small.ingest?.token ?? '' },
      body: big,
    });
    expect(declared.status).toBe(413);
    // Chunked: the size is only known while reading.
    const { port } = new URL(small.origin);
    const chunked = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/api/ingest',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [INGEST_TOKEN_HEADER]: small.ingest?.token ?? '',
            'transfer-encoding': 'chunked',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
      req.write(big.slice(0, 2000));
      req.end(big.slice(2000));
    });
    expect(chunked).toBe(413);
    expect(small.ingest?.stats().refused.tooLarge).toBe(2);
    expect(small.tree()).toEqual([]);
  });

  it('counts malformed records and bodies without crashing, and takes the good records of a batch', async () => {
    expect((await ingest('{not json')).status).toBe(400);
    expect((await ingest(JSON.stringify({ source: '../../etc', records: [] }))).status).toBe(400);
    expect((await ingest(JSON.stringify({ source: 'p', records: 'x' }))).status).toBe(400);
    expect((await ingest(batchOf([]), { 'content-type': 'text/plain' })).status).toBe(415);
    const good: InspectorRecord = {
      kind: 'actor',
      at: 1,
      sessionId: 'x:0',
      id: 'x:0',
      systemId: 'coordinator',
      parent: undefined,
      machine: 'coordinator',
    };
    const response = await ingest(
      batchOf([
        null,
        42,
        { kind: 'actor' },
        { kind: 'snapshot', at: 1, sessionId: 'x:0', status: 'active', event: 'E', children: [1, 2] },
        { kind: 'event', at: 'yesterday', sessionId: 'x:0', type: 'E' },
        { kind: 'other', at: 1, sessionId: 'x:0' },
        { ...good, sessionId: 's'.repeat(10_000) },
        good,
      ]),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ accepted: 1, malformed: 7 });
    expect(inspector.ingest?.stats()).toMatchObject({
      acceptedRecords: 1,
      malformedRecords: 7,
      refused: { badRequest: 4 },
    });
    expect(inspector.tree()).toMatchObject([{ sessionId: 'test-page/x:0', systemId: 'coordinator' }]);
  });
});

describe('createRemoteInspector with the local inspector', () => {
  it("builds the inspector's tree and log exactly as an in-process coordinator's inspector does", async () => {
    const local = await createInspector();
    cleanups.push(() => local.close());
    const remote = sender();
    const coordinator = coordinatorWith((event) => {
      local.inspect(event);
      remote.inspect(event);
    });
    const { repository, remote: server } = makeRepo();
    await seed(repository, 250);
    const hold = server.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    // Mid-run: the batch actor is live on both sides.
    expect(await remote.flush()).toBe(true);
    const systemIds = (nodes: ActorNode[]) => nodes.map((node) => node.systemId);
    expect(systemIds(inspector.tree())).toEqual(
      expect.arrayContaining(['coordinator', 'entity:note', 'batch:note']),
    );
    expect(withoutSource(inspector.tree())).toEqual(withoutSource(local.tree()));
    hold.release();
    await run;
    expect(await remote.flush()).toBe(true);
    expect(withoutSource(inspector.tree())).toEqual(withoutSource(local.tree()));
    const [remoteInit, localInit] = [await pageInit(), await pageInit(local)];
    expect(withoutSource(remoteInit.log)).toEqual(withoutSource(localInit.log));
    expect(remoteInit.log.length).toBeGreaterThan(10);
    expect(remoteInit.ingest).toBe(true);
    expect(remote.stats()).toMatchObject({ droppedRecords: 0, queuedRecords: 0, refusedWith: undefined });
    // Closing the sender takes its actors out of the tree.
    await remote.close();
    expect(inspector.tree()).toEqual([]);
  });

  it('keeps the actors of two pages apart', async () => {
    const [first, second] = [sender(), sender()];
    for (const remote of [first, second]) {
      const coordinator = coordinatorWith(remote.inspect);
      const { repository } = makeRepo();
      await seed(repository, 3);
      await coordinator.sync(repository);
      expect(await remote.flush()).toBe(true);
    }
    const coordinators = inspector.tree().filter((node) => node.systemId === 'coordinator');
    expect(coordinators.map((node) => node.sessionId.split('/')[0]).sort()).toEqual(
      [first.source, second.source].sort(),
    );
    await first.close();
    expect(new Set(inspector.tree().map((node) => node.sessionId.split('/')[0]))).toEqual(
      new Set([second.source]),
    );
  });

  it('never sends the sync token: a record whose fields and headers hold it leaves the page redacted', async () => {
    // A stand-in for the inspector that keeps the raw bodies, to see exactly what leaves the page.
    const bodies: string[] = [];
    const capture: Server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk) => (text += chunk));
      req.on('end', () => {
        bodies.push(text);
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => capture.close(resolve)));
    const capturePort = (capture.address() as AddressInfo).port;
    // The real inspector is not told the sync token: only the sender can take the literal value out.
    const senders = [
      sender({ sanitize: { secretValues: [SYNC_TOKEN] } }),
      sender({ url: `http://127.0.0.1:${capturePort}/api/ingest`, sanitize: { secretValues: [SYNC_TOKEN] } }),
    ];
    const inspectBoth = (event: Parameters<RemoteInspector['inspect']>[0]) => {
      for (const remote of senders) remote.inspect(event);
    };
    const coordinator = coordinatorWith(inspectBoth);
    const { repository } = makeRepo();
    await repository.save({ id: 'secret-bearing', text: `the token is ${SYNC_TOKEN}` });
    await coordinator.sync(repository);
    // An actor that gets a request with the token in its headers, a field and a key named like a secret.
    const requests = createActor(createMachine({ id: 'requests', context: { lastUrl: '' } }), {
      inspect: inspectBoth,
    }).start();
    requests.send({
      type: 'HTTP.REQUEST',
      headers: { authorization: `Bearer ${SYNC_TOKEN}`, 'x-note': `token=${SYNC_TOKEN}` },
      apiKey: SYNC_TOKEN,
      url: `https://api.example/sync?access=${SYNC_TOKEN}`,
    } as never);
    requests.stop();
    for (const remote of senders) expect(await remote.flush()).toBe(true);

    const sent = bodies.join('\n');
    expect(sent).toContain('HTTP.REQUEST');
    expect(sent).toContain(REDACTED);
    expect(sent).not.toContain(SYNC_TOKEN);
    expect(sent).not.toContain(ingestToken);
    const { log, tree } = await pageInit();
    const request = log.find((record) => record.kind === 'event' && record.type === 'HTTP.REQUEST');
    expect(request).toMatchObject({
      payload: {
        headers: { authorization: REDACTED, 'x-note': `token=${REDACTED}` },
        apiKey: REDACTED,
        url: `https://api.example/sync?access=${REDACTED}`,
      },
    });
    expect(JSON.stringify({ log, tree })).not.toContain(SYNC_TOKEN);
  });

  it('while the inspector is away, drops and counts records without growing, never throws, and resends its tree', async () => {
    const port = Number(new URL(inspector.origin).port);
    const token = ingestToken;
    await inspector.close();
    const warnings: string[] = [];
    const remote = sender({
      maxQueuedRecords: 20,
      retry: { initialDelayMs: 5, maxDelayMs: 20 },
      logger: { warn: (message) => warnings.push(message) },
    });
    const coordinator = coordinatorWith(remote.inspect);
    const { repository } = makeRepo();
    await seed(repository, 300);
    // The actors sync as usual.
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 300 });
    expect(await remote.flush()).toBe(false);
    const away = remote.stats();
    expect(away.queuedRecords).toBeLessThanOrEqual(20);
    expect(away.droppedRecords).toBeGreaterThan(0);
    expect(away.failedRequests).toBeGreaterThan(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/dropping records/);

    // The inspector is back (same port and token): the sender's next batch restores the whole tree.
    inspector = await createInspector({ port, ingest: { token } });
    expect(await remote.flush()).toBe(true);
    expect(systemIdsAndStates(inspector.tree())).toEqual([
      ['coordinator', 'manual'],
      ['entity:note', { synced: 'still' }],
    ]);
    expect(inspector.tree().find((node) => node.systemId === 'entity:note')?.context).toMatchObject({
      progress: { totalItems: 300, syncedItems: 300 },
    });
  });

  it('a whole-tree resend the inspector refuses as too large is not sent again and again', async () => {
    const small = await createInspector({ ingest: { maxBodyBytes: 700 } });
    cleanups.push(() => small.close());
    // Records over 300 bytes (an entity's snapshot) are dropped in the page, so the sender owes a resend, whose
    // tree is over the inspector's 700 bytes.
    const remote = sender({
      url: small.ingest?.url ?? '',
      token: small.ingest?.token ?? '',
      maxBatchBytes: 1_000,
    });
    const coordinator = coordinatorWith(remote.inspect);
    const { repository } = makeRepo();
    await seed(repository, 3);
    await coordinator.sync(repository);
    await remote.flush();
    expect(remote.stats().droppedRecords).toBeGreaterThan(0);
    expect(remote.stats().queuedRecords).toBe(0);
    const refusals = small.ingest?.stats().refused.tooLarge ?? 0;
    expect(refusals).toBeGreaterThan(0);
    // Nothing more was owed, so a later flush sends nothing.
    expect(await remote.flush()).toBe(true);
    expect(small.ingest?.stats().refused.tooLarge).toBe(refusals);
  });

  it('stops once the inspector refuses its token, and says so once', async () => {
    const warnings: string[] = [];
    const remote = sender({ token: 'w'.repeat(24), logger: { warn: (message) => warnings.push(message) } });
    const coordinator = coordinatorWith(remote.inspect);
    const { repository } = makeRepo();
    await seed(repository, 3);
    await coordinator.sync(repository);
    expect(await remote.flush()).toBe(false);
    expect(remote.stats()).toMatchObject({ refusedWith: 401, queuedRecords: 0 });
    expect(remote.stats().droppedRecords).toBeGreaterThan(0);
    expect(warnings.filter((w) => /refused the ingest token/.test(w))).toHaveLength(1);
    expect(inspector.tree()).toEqual([]);
    expect(inspector.ingest?.stats().refused.unauthorized).toBe(1);
  });
});

function systemIdsAndStates(nodes: ActorNode[]): unknown[] {
  return nodes.map((node) => [node.systemId, node.value]);
}
