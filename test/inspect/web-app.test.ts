import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_TOKEN_HEADER } from '../../src/inspect/ingest-wire.js';
import { createInspector, type LocalInspector } from '../../src/inspect/inspector-server.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { launchChromium } from '../helpers/chromium.js';

// Issue 15: a web app in real Chromium streams its actors to the local inspector, which a second tab shows.
// test/helpers/browser-page.ts (a shared page harness) was not on main yet: this file serves its own page.

const root = fileURLToPath(new URL('../..', import.meta.url));
const RECORDS = 1_000;

/** The web app: a coordinator with a memory store and the HTTP remote, its actors streamed to the inspector. */
const APP = `
import { MemoryLocalDataSource, Repository, SyncCoordinator } from './src/index.ts';
import { HttpRemoteDataSource } from './src/http.ts';
import { createRemoteInspector } from './src/inspect-browser.ts';

const params = new URLSearchParams(location.search);
const syncToken = params.get('syncToken');
// The sync token stays in the page: the sender scrubs it from every record.
const inspector = createRemoteInspector({
  url: params.get('ingest'),
  token: params.get('ingestToken'),
  sanitize: { secretValues: [syncToken] },
});
const repository = new Repository({
  entityType: 'note',
  local: new MemoryLocalDataSource(),
  remote: new HttpRemoteDataSource({ baseUrl: params.get('server'), getToken: () => syncToken }),
});
const coordinator = new SyncCoordinator({ inspect: inspector.inspect, batchSize: 50 });
coordinator.register(repository);
window.app = {
  seed: (count) =>
    repository.saveMany(
      Array.from({ length: count }, (_, i) => ({ id: 'n' + i, text: i === 0 ? 'holds ' + syncToken : 'note ' + i })),
    ).then(() => count),
  sync: () => coordinator.sync(repository).then(({ state, syncedItems }) => ({ state, syncedItems })),
  flush: () => inspector.flush(),
  stats: () => inspector.stats(),
};
`;

let browser: Browser;
let pageServer: Server;
let pageOrigin: string;
let syncServer: SyncServer;
let inspector: LocalInspector;

/** Serves the bundled app at `/` and `/app.js` on 127.0.0.1: the page's own origin, as a dev server would. */
async function servePage(script: string): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url?.startsWith('/app.js')) {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      return response.end(script);
    }
    if (request.url === '/' || request.url?.startsWith('/?')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return response.end(
        '<!doctype html><title>web app</title><script type="module" src="/app.js"></script>',
      );
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  const bundle = await build({
    stdin: { contents: APP, resolveDir: root, sourcefile: 'web-app.ts', loader: 'ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  pageServer = await servePage(bundle.outputFiles[0]?.text ?? '');
  pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  // Enough latency that a run outlasts the page's first look at it.
  syncServer = await createSyncServer({ cors: { origins: [pageOrigin] }, faults: { latencyMs: [20, 40] } });
  inspector = await createInspector({ ingest: { allowOrigins: [pageOrigin] } });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await inspector?.close();
  await syncServer?.close();
  await new Promise((resolve) => pageServer?.close(resolve));
});

describe('a web app streaming to `actorsync inspect --listen` in real Chromium', () => {
  it("the inspector's tab shows the app tab's entity and batch actors during a sync, with no secret sent", async () => {
    const ingest = inspector.ingest;
    if (!ingest) throw new Error('the inspector takes no records');
    const inspectorPage = await browser.newPage();
    const appPage = await browser.newPage();
    const errors: string[] = [];
    for (const page of [inspectorPage, appPage]) page.on('pageerror', (error) => errors.push(error.message));
    const sentBodies: string[] = [];
    appPage.on('request', (request) => {
      if (request.url() === ingest.url && request.method() === 'POST')
        sentBodies.push(request.postData() ?? '');
    });
    try {
      await inspectorPage.goto(inspector.url);
      expect(await inspector.waitForPage(5_000)).toBe(true);
      const query = new URLSearchParams({
        server: syncServer.url,
        syncToken: syncServer.token,
        ingest: ingest.url,
        ingestToken: ingest.token,
      });
      await appPage.goto(`${pageOrigin}/?${query}`);
      await appPage.waitForFunction(() => 'app' in window);
      expect(await appPage.evaluate((count) => window.app.seed(count), RECORDS)).toBe(RECORDS);

      const syncing = appPage.evaluate(() => window.app.sync());
      await inspectorPage.locator('[data-actor="batch:note"]').waitFor({ timeout: 10_000 });
      // (The batch actor starts before its entity's snapshot says `syncing`: a batch of records may fall between.)
      await inspectorPage
        .locator('[data-actor="entity:note"][data-state="syncing"]')
        .waitFor({ timeout: 10_000 });
      expect(await inspectorPage.locator('[data-actor="coordinator"]').count()).toBe(1);
      expect(await syncing).toEqual({ state: 'synced', syncedItems: RECORDS });
      expect(await appPage.evaluate(() => window.app.flush())).toBe(true);
      await inspectorPage.locator('[data-progress="note"][data-percent="100"]').waitFor({ timeout: 10_000 });
      await inspectorPage.locator('[data-actor^="batch:"]').waitFor({ state: 'detached', timeout: 10_000 });
      await inspectorPage
        .locator('[data-actor="entity:note"][data-state="synced"]')
        .waitFor({ timeout: 10_000 });
      expect(syncServer.state.get('note', 'n0')).toMatchObject({ appliedCount: 1 });

      // No Sync / Cancel for an app that runs elsewhere: the page says so.
      expect(await inspectorPage.locator('button[data-action="sync"]').count()).toBe(0);
      expect(await inspectorPage.locator('#controls-note').textContent()).toContain(
        'Sync / Cancel unavailable',
      );
      expect(await inspectorPage.locator('#controls-note').isVisible()).toBe(true);

      expect(await appPage.evaluate(() => window.app.stats())).toMatchObject({
        droppedRecords: 0,
        refusedWith: undefined,
      });
      expect(sentBodies.length).toBeGreaterThan(1);
      for (const body of sentBodies) {
        expect(body).not.toContain(syncServer.token);
        expect(body).not.toContain(ingest.token);
      }
      expect(sentBodies.join('')).toContain('[redacted]');
      expect(await inspectorPage.content()).not.toContain(syncServer.token);
      expect(errors).toEqual([]);

      // The app's page goes away (a reload or another page): its actors leave the inspector's tree.
      await appPage.goto('about:blank');
      await inspectorPage
        .locator('[data-actor="entity:note"]')
        .waitFor({ state: 'detached', timeout: 10_000 });
      expect(inspector.tree()).toEqual([]);
    } finally {
      await inspectorPage.close();
      if (!appPage.isClosed()) await appPage.close();
    }
  }, 60_000);

  it('a page from an origin the inspector was not told to allow is refused and named; the app syncs on', async () => {
    const refusedOrigins: string[] = [];
    const other = await createInspector({
      ingest: {
        allowOrigins: ['http://localhost:5173'],
        onOriginRefused: (origin) => refusedOrigins.push(origin),
      },
    });
    const appPage = await browser.newPage();
    try {
      const query = new URLSearchParams({
        server: syncServer.url,
        syncToken: syncServer.token,
        ingest: other.ingest?.url ?? '',
        ingestToken: other.ingest?.token ?? '',
      });
      await appPage.goto(`${pageOrigin}/?${query}`);
      await appPage.waitForFunction(() => 'app' in window);
      await appPage.evaluate(() => window.app.seed(3));
      expect(await appPage.evaluate(() => window.app.sync())).toEqual({ state: 'synced', syncedItems: 3 });
      expect(await appPage.evaluate(() => window.app.flush())).toBe(false);
      // The browser cannot read the refused preflight: to the sender it is a failed POST, retried with backoff.
      const stats = await appPage.evaluate(() => window.app.stats());
      expect(stats).toMatchObject({ sentRecords: 0 });
      expect(stats.failedRequests).toBeGreaterThan(0);
      // The inspector names the origin, so the developer knows which --allow-origin to add.
      expect(other.ingest?.stats().refused.origin).toBeGreaterThan(0);
      expect(new Set(refusedOrigins)).toEqual(new Set([pageOrigin]));
      expect(other.tree()).toEqual([]);
      // A request with the token, straight from the page, gets nothing either.
      const status = await appPage.evaluate(
        async ([url, header, token]) => {
          try {
            return (
              await fetch(url, {
                method: 'POST',
                headers: { 'content-type': 'application/json', [header]: token },
                body: '{"source":"x","records":[]}',
              })
            ).status;
          } catch {
            return 'blocked';
          }
        },
        [other.ingest?.url ?? '', INGEST_TOKEN_HEADER, other.ingest?.token ?? ''] as const,
      );
      expect(status).toBe('blocked');
    } finally {
      await appPage.close();
      await other.close();
    }
  }, 60_000);
});

interface WebApp {
  seed(count: number): Promise<number>;
  sync(): Promise<{ state: string; syncedItems: number }>;
  flush(): Promise<boolean>;
  stats(): {
    sentRecords: number;
    droppedRecords: number;
    failedRequests: number;
    refusedWith: number | undefined;
  };
}

declare global {
  interface Window {
    /** What the web app's page exposes to the test. */
    app: WebApp;
  }
}
