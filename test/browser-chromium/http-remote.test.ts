import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { type PageHarness, startPageHarness } from '../helpers/browser-page.js';
import type { PushOutcome } from './http-remote.page.js';

// Issue 15: in a page, fetch fails with a bare "Failed to fetch" whether the browser is offline, the server is
// down or the server refuses the page's origin (CORS). The remote's message says which it can tell apart.
const TOKEN = 'http-remote-page-token';
let harness: PageHarness;
let page: Page;
/** Allows the page's origin. */
let allowing: SyncServer;
/** Allows only another origin. */
let refusing: SyncServer;

beforeAll(async () => {
  harness = await startPageHarness({
    entry: 'test/browser-chromium/http-remote.page.ts',
    // Chromium logs every refused request itself; the test reads the remote's messages instead.
    ignoreConsole: /CORS policy|Failed to load resource|ERR_/,
  });
  allowing = await createSyncServer({ token: TOKEN, cors: { origins: [harness.origin] } });
  refusing = await createSyncServer({ token: TOKEN, cors: { origins: ['http://localhost:1'] } });
  page = await harness.open();
  await page.waitForFunction(() => window.pushOnce !== undefined);
}, 60_000);

afterAll(async () => {
  await harness?.close();
  await allowing?.close();
  await refusing?.close();
});

const pushOnce = (baseUrl: string) =>
  page.evaluate(([url, token]) => window.pushOnce?.(url, token), [
    baseUrl,
    TOKEN,
  ] as const) as Promise<PushOutcome>;

describe('the HTTP remote in Chromium', () => {
  it('pushes to a server that allows the page', async () => {
    expect(await pushOnce(allowing.url)).toEqual({ ok: true, statuses: ['ok'] });
  });

  it('names CORS among the causes when the server refuses the page, and never says offline', async () => {
    const outcome = await pushOnce(refusing.url);
    expect(outcome).toMatchObject({ ok: false, name: 'RemoteUnavailableError' });
    const message = (outcome as { message: string }).message;
    expect(message).toMatch(
      /^Network error: .+ \(the browser gives no reason: .*refuses this page's origin: CORS/,
    );
    expect(message).not.toContain('offline');
    expect(message).not.toContain(TOKEN);
  });

  it('says the browser is offline when it is', async () => {
    await harness.context.setOffline(true);
    try {
      const outcome = await pushOnce(allowing.url);
      expect(outcome).toMatchObject({ ok: false, name: 'RemoteUnavailableError' });
      expect((outcome as { message: string }).message).toMatch(
        /^Network error: .+ \(the browser is offline\)$/,
      );
    } finally {
      await harness.context.setOffline(false);
    }
    expect(await pushOnce(allowing.url)).toEqual({ ok: true, statuses: ['ok'] });
  });
});
