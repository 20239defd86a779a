import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { MemoryLocalDataSource, Repository, SyncCoordinator, type SyncResult } from '../../src/index.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { type PageHarness, startPageHarness } from '../helpers/browser-page.js';
import type { Note } from './page/app.js';

// actorsync/react in real Chromium, under StrictMode, against the reference server over HTTP (CORS): the page
// (test/react/page/app.tsx) shows the progress and the records of one type; the test drives it through
// `window.harness` and reads the DOM.
const TOKEN = 'react-page-token';
let pageHarness: PageHarness;
let page: Page;
let server: SyncServer;
/** Another device: pushes through the same server, so the page sees its changes on its next pull. */
let other: { repository: Repository<Note>; coordinator: SyncCoordinator };

beforeAll(async () => {
  pageHarness = await startPageHarness({
    entry: 'test/react/page/app.tsx',
    // React's development build: StrictMode's double renders and effects, and its warnings (an uncached
    // getSnapshot, an update loop) happen only there.
    define: { 'process.env.NODE_ENV': '"development"' },
    html: '<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="/app.js"></script>',
    consoleWarnings: true,
    // A 500 the server was told to answer is logged by Chromium as a failed resource load: expected.
    ignoreConsole: /^Failed to load resource/,
  });
  server = await createSyncServer({ token: TOKEN, cors: { origins: [pageHarness.origin] } });
  other = {
    repository: new Repository<Note>({
      entityType: 'notes',
      local: new MemoryLocalDataSource<Note>(),
      remote: new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: () => TOKEN }),
    }),
    coordinator: new SyncCoordinator({ batchSize: 500 }),
  };
  const query = new URLSearchParams({ server: server.url, token: TOKEN });
  page = await pageHarness.open(`/?${query}`);
  await page.locator('#notes[data-loading="false"]').waitFor(ATTACHED);
}, 60_000);

afterAll(async () => {
  await pageHarness?.close();
  await other?.coordinator.stop();
  await server?.close();
});

/** Elements are checked by their data attributes, present or not on screen (an empty list has no size). */
const ATTACHED = { state: 'attached' } as const;
const harness = <T>(run: string): Promise<T> => page.evaluate(run) as Promise<T>;
const sync = () => harness<SyncResult>('window.harness.sync()');
const progress = () => page.locator('#progress');

describe('actorsync/react in Chromium, under StrictMode', () => {
  it('mounting starts nothing; progress goes idle → syncing → synced, one run per sync()', async () => {
    // StrictMode mounted, unmounted and mounted every component: no request, no run.
    expect(server.stats()).toMatchObject({ syncRequests: 0, changeRequests: 0 });
    await expect.poll(() => progress().getAttribute('data-state')).toBe('idle');
    expect(await progress().getAttribute('data-entity-state')).toBe('idle');

    for (const [id, title] of [
      ['a', 'Alpha'],
      ['b', 'Bravo'],
      ['c', 'Charlie'],
    ]) {
      await page.evaluate(([i, t]) => window.harness.save(String(i), String(t)), [id, title]);
    }
    await page.locator('#notes[data-count="3"][data-pending="3"]').waitFor(ATTACHED);

    const first = await sync();
    expect(first).toMatchObject({ state: 'synced', runId: 1, syncedItems: 3 });
    await page
      .locator('#progress[data-state="synced"][data-synced="3"][data-entity-state="synced"]')
      .waitFor(ATTACHED);
    await page.locator('#notes[data-pending="0"]').waitFor(ATTACHED);
    expect(await harness<string[]>('window.harness.states')).toEqual(['idle@0', 'syncing@1', 'synced@1']);
    // One push (three items fit a batch) and one pull page: one run.
    expect(server.stats()).toMatchObject({ syncRequests: 1, changeRequests: 1 });

    const second = await sync();
    expect(second).toMatchObject({ state: 'synced', runId: 2, totalItems: 0 });
    await page.locator('#progress[data-run="2"]').waitFor(ATTACHED);
    expect(server.stats()).toMatchObject({ syncRequests: 1, changeRequests: 2 });
    expect(await harness<string[]>('window.harness.states')).toEqual([
      'idle@0',
      'syncing@1',
      'synced@1',
      'syncing@2',
      'synced@2',
    ]);
  });

  it('records re-render on a local save, on a change pulled from another device, and on a delete', async () => {
    await page.evaluate(() => window.harness.save('first', 'Saved here'));
    await page.locator('#first[data-title="Saved here"]').waitFor(ATTACHED);
    await page.locator('li[data-id="first"]').waitFor(ATTACHED);
    await page.locator('#notes[data-count="4"][data-pending="1"]').waitFor(ATTACHED);

    await other.repository.save({ id: 'from-phone', title: 'Pushed by the phone' });
    expect(await other.coordinator.sync(other.repository)).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await page.locator('li[data-id="from-phone"]').count()).toBe(0);
    expect(await sync()).toMatchObject({ state: 'synced', syncedItems: 1, pulledItems: 1 });
    await expect
      .poll(() => page.locator('li[data-id="from-phone"]').textContent())
      .toBe('Pushed by the phone');
    await page.locator('#notes[data-count="5"][data-pending="0"]').waitFor(ATTACHED);

    expect(await page.evaluate(() => window.harness.remove('first'))).toBe(true);
    // The tombstone is pending but hidden, as Repository.getAll hides it.
    await page.locator('#notes[data-count="4"][data-pending="1"]').waitFor(ATTACHED);
    await page.locator('#first[data-title=""][data-loading="false"]').waitFor(ATTACHED);
    expect(await page.locator('li[data-id="first"]').count()).toBe(0);
    expect(await sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    await page.locator('#notes[data-pending="0"]').waitFor(ATTACHED);
    expect(server.state.get('notes', 'first')).toMatchObject({ item: { deleted: true } });
  });

  it('a 1,000-record pulled page renders the list a bounded number of times', async () => {
    await other.repository.saveMany(
      Array.from({ length: 1_000 }, (_, i) => ({ id: `bulk-${i}`, title: `Bulk ${i}` })),
    );
    expect(await other.coordinator.sync(other.repository)).toMatchObject({ syncedItems: 1_000 });
    await page.evaluate(() => {
      window.harness.commits.notes = 0;
      window.harness.commits.progress = 0;
    });
    const result = await sync();
    expect(result).toMatchObject({ state: 'synced', pulledItems: 1_000 });
    await page.locator('#notes[data-count="1004"]').waitFor(ATTACHED);
    const commits = await harness<{ notes: number; progress: number }>('window.harness.commits');
    console.log(
      `1,000 pulled records: ${commits.notes} commits of the list, ${commits.progress} of the progress`,
    );
    // One pulled page is one store write: its read, and at most one more for the run's own writes around it.
    expect(commits.notes).toBeGreaterThanOrEqual(1);
    expect(commits.notes).toBeLessThanOrEqual(4);
  });

  it('a failing sync (500s) shows the error state; nothing throws and the page stays alive', async () => {
    await page.evaluate(() => window.harness.save('doomed', 'Not yet'));
    // The run's one batch gets a 500; with maxAttempts 1 its item is recorded as failed, retried in a minute.
    server.faults.queue('error500');
    const failed = await sync();
    expect(failed).toMatchObject({ state: 'error', failedItems: 1 });
    await page.locator('#progress[data-state="error"][data-entity-state="error"]').waitFor(ATTACHED);
    expect(await progress().getAttribute('data-error')).toContain('failed to sync');
    expect(await harness<string[]>('window.harness.states')).toContain(`error@${failed.runId}`);
    expect(await harness<string[]>('window.harness.boundaryErrors')).toEqual([]);
    expect(await page.locator('#crashed').count()).toBe(0);
    // Still alive: the records still follow local writes, and a retry syncs.
    await page.evaluate(() => window.harness.save('alive', 'Still here'));
    await page.locator('li[data-id="alive"]').waitFor(ATTACHED);
    const retried = await harness<SyncResult>('window.harness.retryFailed()');
    expect(retried).toMatchObject({ state: 'synced', syncedItems: 2 });
    await page.locator('#progress[data-state="synced"][data-entity-state="synced"]').waitFor(ATTACHED);
  });

  it('a stopped server shows the error state too, and the page stays alive', async () => {
    await server.close();
    await page.evaluate(() => window.harness.save('offline', 'Saved offline'));
    const failed = await sync();
    expect(failed).toMatchObject({ state: 'error', errorCode: 'UNAVAILABLE' });
    await page.locator('#progress[data-state="error"][data-entity-state="error"]').waitFor(ATTACHED);
    await page.locator('li[data-id="offline"]').waitFor(ATTACHED);
    await page.locator('#notes[data-pending="1"]').waitFor(ATTACHED);
    expect(await harness<string[]>('window.harness.boundaryErrors')).toEqual([]);
    // Nothing uncaught, and none of the development build's warnings (an uncached getSnapshot, an update loop).
    expect(pageHarness.pageErrors).toEqual([]);
  });
});
