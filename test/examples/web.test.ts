// The web example (examples/web, `npm run example:web`) in real Chromium: offline edits, a reload in the middle of
// a sync, two tabs with one syncing, and live changes from another device.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { NotesApp } from '../../examples/web/src/notes.js';
import { startWebExample, type WebExample } from '../../examples/web/start.js';
import { HttpRemoteDataSource } from '../../src/http.js';
import { MemoryLocalDataSource, Repository, SyncCoordinator } from '../../src/index.js';
import { DEFAULT_PARTITION } from '../../src/server.js';
import { launchChromium } from '../helpers/chromium.js';
import type { Note } from '../helpers/fixtures.js';

declare const notesApp: NotesApp;

let browser: Browser;
let example: WebExample;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  // Every batch waits 150 ms at the server, so a test can act while a sync is under way.
  [browser, example] = await Promise.all([
    launchChromium(),
    startWebExample({ appPort: 0, server: { faults: { latencyMs: 150 } } }),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await example?.close();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close();
});

/** A fresh browser profile: its own IndexedDB, locks and channels, like another device. */
async function newDevice(): Promise<BrowserContext> {
  const context = await browser.newContext();
  contexts.push(context);
  return context;
}

async function openApp(context: BrowserContext): Promise<Page> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(example.appUrl);
  await page.waitForFunction(() => 'notesApp' in globalThis, undefined, { timeout: 30_000 });
  expect(errors).toEqual([]);
  return page;
}

const serverNotes = async () =>
  new Map(
    (await example.server.store.list({ partition: DEFAULT_PARTITION, entityType: 'notes' })).map((stored) => [
      stored.item.id,
      (stored.item as Note).text,
    ]),
  );

/** The live notes the page holds, by id. */
const pageNotes = (page: Page) =>
  page.evaluate(async () => Object.fromEntries((await notesApp.notes.getAll()).map((n) => [n.id, n.text])));

const pending = (page: Page) => page.evaluate(() => notesApp.notes.pendingCount());

async function eventually<T>(read: () => Promise<T>, expected: T, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  let last: T = await read();
  while (JSON.stringify(last) !== JSON.stringify(expected)) {
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms, not ${JSON.stringify(expected)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await read();
  }
}

describe('the web example in Chromium', () => {
  it('edits and deletes made offline sync once the network is back', async () => {
    const context = await newDevice();
    const page = await openApp(context);
    await page.getByLabel('new note').fill('written online');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByLabel('new note').fill('to delete offline');
    await page.getByRole('button', { name: 'Add' }).click();
    await eventually(() => pending(page), 0, 'pending before going offline');
    const ids = await page.evaluate(async () =>
      Object.fromEntries((await notesApp.notes.getAll()).map((note) => [note.text, note.id])),
    );
    const [kept, deleted] = [ids['written online'] as string, ids['to delete offline'] as string];

    await context.setOffline(true);
    await expect.poll(() => page.getByTestId('network').textContent()).toBe('offline');
    await page.locator(`li[data-id="${kept}"]`).getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('edit note').fill('edited offline');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator(`li[data-id="${deleted}"]`).getByRole('button', { name: 'Delete' }).click();
    await page.getByLabel('new note').fill('added offline');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('button', { name: 'Sync now' }).click();
    // The run fails (no network) and the app shows it; nothing is lost meanwhile.
    await expect
      .poll(() => page.getByTestId('state').textContent(), { timeout: 15_000 })
      .toMatch(/error|syncing/);
    expect(await pending(page)).toBe(3);
    expect(await serverNotes()).toEqual(
      new Map([
        [kept, 'written online'],
        [deleted, 'to delete offline'],
      ]),
    );

    await context.setOffline(false);
    await eventually(() => pending(page), 0, 'pending after coming back online');
    const added = Object.entries(await pageNotes(page)).find(([, text]) => text === 'added offline')?.[0];
    expect(added).toBeDefined();
    expect(await serverNotes()).toEqual(
      new Map([
        [kept, 'edited offline'],
        [added as string, 'added offline'],
      ]),
    );
    await expect.poll(() => page.getByTestId('state').textContent()).toBe('synced');
  }, 60_000);

  it('loses nothing when the page reloads in the middle of a sync', async () => {
    const context = await newDevice();
    const page = await openApp(context);
    // 600 notes: six batches of 100, each held 150 ms by the server.
    await page.evaluate(() =>
      notesApp.notes.saveMany(
        Array.from({ length: 600 }, (_, i) => ({ id: `bulk-${i}`, text: `note ${i}` })),
      ),
    );
    await page.evaluate(() => void notesApp.tabs.sync('notes').catch(() => {}));
    await eventually(
      async () => {
        const left = await pending(page);
        return left > 0 && left < 600;
      },
      true,
      'a sync under way',
    );
    await page.reload();
    await page.waitForFunction(() => 'notesApp' in globalThis, undefined, { timeout: 30_000 });
    await page.evaluate(() => void notesApp.tabs.sync('notes').catch(() => {}));
    await eventually(() => pending(page), 0, 'pending after the reload', 30_000);
    const onServer = await serverNotes();
    for (let i = 0; i < 600; i += 1) expect(onServer.get(`bulk-${i}`)).toBe(`note ${i}`);
    expect(Object.keys(await pageNotes(page)).filter((id) => id.startsWith('bulk-'))).toHaveLength(600);
  }, 90_000);

  it('two tabs: exactly one syncs, a change in one shows in the other, and closing the syncing tab hands over', async () => {
    const context = await newDevice();
    const first = await openApp(context);
    const second = await openApp(context);
    const roles = async () =>
      (await Promise.all([first, second].map((page) => page.getByTestId('role').textContent()))).sort();
    await eventually(roles, ['another tab syncs', 'this tab syncs'], 'one leader among two tabs');
    const [leader, follower] = (await first.evaluate(() => notesApp.tabs.isLeader))
      ? [first, second]
      : [second, first];

    // Saved in the follower: the leader's view follows, and the leader pushes it.
    await follower.getByLabel('new note').fill('from the follower');
    await follower.getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => leader.getByTestId('notes').textContent()).toContain('from the follower');
    await eventually(
      async () => [...(await serverNotes()).values()].includes('from the follower'),
      true,
      'pushed',
    );
    await eventually(() => pending(follower), 0, "the follower sees the leader's acknowledgement");

    await leader.close();
    await expect
      .poll(() => follower.getByTestId('role').textContent(), { timeout: 10_000 })
      .toBe('this tab syncs');
    await follower.getByLabel('new note').fill('after the handover');
    await follower.getByRole('button', { name: 'Add' }).click();
    await eventually(
      async () => [...(await serverNotes()).values()].includes('after the handover'),
      true,
      'pushed',
    );
  }, 60_000);

  it('a syncing tab that stops running (frozen, or paused in a debugger) is displaced within seconds, and rejoins as a follower', async () => {
    const context = await newDevice();
    const first = await openApp(context);
    const second = await openApp(context);
    await eventually(
      async () =>
        (
          await Promise.all([first, second].map((page) => page.evaluate(() => notesApp.tabs.isLeader)))
        ).sort(),
      [false, true],
      'one leader among two tabs',
    );
    const [leader, follower] = (await first.evaluate(() => notesApp.tabs.isLeader))
      ? [first, second]
      : [second, first];
    // The leader's page stops running script but keeps its Web Lock, as a frozen tab does. (CDP's
    // Page.setWebLifecycleState freezes only hidden pages; headless pages are visible, so the debugger pauses it.)
    const cdp = await context.newCDPSession(leader);
    await cdp.send('Debugger.enable');
    await cdp.send('Debugger.pause');
    const pausedAt = Date.now();
    await expect
      .poll(() => follower.getByTestId('role').textContent(), { timeout: 15_000 })
      .toBe('this tab syncs');
    const takeover = Date.now() - pausedAt;
    await follower.getByLabel('new note').fill('while the other tab sleeps');
    await follower.getByRole('button', { name: 'Add' }).click();
    await eventually(
      async () => [...(await serverNotes()).values()].includes('while the other tab sleeps'),
      true,
      'pushed by the new leader',
    );
    await cdp.send('Debugger.resume');
    // Woken, it learns its lock was taken and follows; its view catches up with the other tab's writes.
    await expect.poll(() => leader.evaluate(() => notesApp.tabs.isLeader), { timeout: 10_000 }).toBe(false);
    await expect
      .poll(() => leader.getByTestId('notes').textContent())
      .toContain('while the other tab sleeps');
    expect(await follower.evaluate(() => notesApp.tabs.isLeader)).toBe(true);
    // The default heartbeat timeout (4 s) plus at most a second of jitter and a tick.
    expect(takeover).toBeLessThan(8_000);
  }, 60_000);

  it('shows a change another device pushed, through the live pull', async () => {
    const context = await newDevice();
    const page = await openApp(context);
    await page.evaluate(() => notesApp.tabs.sync('notes'));
    const other = new Repository<Note>({
      entityType: 'notes',
      local: new MemoryLocalDataSource<Note>(),
      remote: new HttpRemoteDataSource<Note>({
        baseUrl: example.server.url,
        getToken: () => example.server.token,
      }),
      direction: 'push',
    });
    const coordinator = new SyncCoordinator();
    coordinator.register(other);
    try {
      await other.save({ id: 'from-another-device', text: 'hello from the laptop' });
      const pushedAt = Date.now();
      expect((await coordinator.sync('notes')).state).toBe('synced');
      await expect
        .poll(() => page.getByTestId('notes').textContent(), { timeout: 10_000 })
        .toContain('hello from the laptop');
      // The held request brings it within about a second (the 150 ms server latency included).
      expect(Date.now() - pushedAt).toBeLessThan(3_000);
    } finally {
      await coordinator.stop();
    }
  }, 60_000);
});
