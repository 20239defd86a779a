import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_TOKEN_HEADER } from '../../src/inspect/ingest-wire.js';
import { createInspector, type LocalInspector } from '../../src/inspect/inspector-server.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { type PageHarness, startPageHarness } from '../helpers/browser-page.js';

// Issue 15: a web app in real Chromium (test/inspect/web-app.page.ts, served from its own origin as a dev server
// would) streams its actors to the local inspector, which a second tab shows.

const RECORDS = 1_000;

let harness: PageHarness;
let syncServer: SyncServer;
let inspector: LocalInspector;

beforeAll(async () => {
  harness = await startPageHarness({ entry: 'test/inspect/web-app.page.ts' });
  // Enough latency that a run outlasts the page's first look at it.
  syncServer = await createSyncServer({
    cors: { origins: [harness.origin] },
    faults: { latencyMs: [20, 40] },
  });
  inspector = await createInspector({ ingest: { allowOrigins: [harness.origin] } });
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await inspector?.close();
  await syncServer?.close();
});

describe('a web app streaming to `actorsync inspect --listen` in real Chromium', () => {
  it("the inspector's tab shows the app tab's entity and batch actors during a sync, with no secret sent", async () => {
    const ingest = inspector.ingest;
    if (!ingest) throw new Error('the inspector takes no records');
    const errorsBefore = harness.pageErrors.length;
    const inspectorPage = await harness.open(inspector.url);
    let appPage: Page | undefined;
    const sentBodies: string[] = [];
    try {
      expect(await inspector.waitForPage(5_000)).toBe(true);
      const query = new URLSearchParams({
        server: syncServer.url,
        syncToken: syncServer.token,
        ingest: ingest.url,
        ingestToken: ingest.token,
      });
      appPage = await harness.open(`/?${query}`, (page) =>
        page.on('request', (request) => {
          if (request.url() === ingest.url && request.method() === 'POST')
            sentBodies.push(request.postData() ?? '');
        }),
      );
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
      expect(harness.pageErrors.slice(errorsBefore)).toEqual([]);

      // The app's page goes away (a reload or another page): its actors leave the inspector's tree.
      await appPage.goto('about:blank');
      await inspectorPage
        .locator('[data-actor="entity:note"]')
        .waitFor({ state: 'detached', timeout: 10_000 });
      expect(inspector.tree()).toEqual([]);
    } finally {
      await inspectorPage.close();
      if (appPage && !appPage.isClosed()) await appPage.close();
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
    let appPage: Page | undefined;
    try {
      const query = new URLSearchParams({
        server: syncServer.url,
        syncToken: syncServer.token,
        ingest: other.ingest?.url ?? '',
        ingestToken: other.ingest?.token ?? '',
      });
      appPage = await harness.open(`/?${query}`);
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
      expect(new Set(refusedOrigins)).toEqual(new Set([harness.origin]));
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
      await appPage?.close();
      await other.close();
    }
  }, 60_000);
});
