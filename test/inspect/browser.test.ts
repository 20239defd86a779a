import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
} from '../../src/index.js';
import { ActorTree } from '../../src/inspect/inspector-model.js';
import { createInspector, type LocalInspector } from '../../src/inspect/inspector-server.js';
import { createTraceInspector, readTrace } from '../../src/inspect/trace.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { SyncServerState } from '../../src/server/server-state.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { launchChromium } from '../helpers/chromium.js';

interface Telemetry extends RepositoryEntity {
  name: string;
  value: number;
}

const TYPES = ['telemetry', 'model-info', 'configuration'] as const;
let browser: Browser;
let page: Page;
let server: SyncServer;
let store: LowdbLocalStore;
let inspector: LocalInspector;
let coordinator: SyncCoordinator;
let dir: string;
const repos = new Map<string, Repository<Telemetry>>();

beforeAll(async () => {
  browser = await launchChromium();
  dir = await mkdtemp(join(tmpdir(), 'actorsync-browser-'));
  server = await createSyncServer({ faults: { latencyMs: [10, 25] } });
  store = await LowdbLocalStore.open(join(dir, 'store.json'));
  inspector = await createInspector({ sanitize: { secretValues: [server.token] } });
  coordinator = new SyncCoordinator({ inspect: inspector.inspect, batchSize: 50 });
  inspector.attach(coordinator);
  for (const type of TYPES) {
    const repository = new Repository<Telemetry>({
      entityType: type,
      local: store.collection<Telemetry>(type),
      remote: new HttpRemoteDataSource<Telemetry>({ baseUrl: server.url, getToken: () => server.token }),
    });
    await repository.saveMany(
      // Enough batches that a run outlasts the page's first look at it, with two requests in flight.
      Array.from({ length: 1_000 }, (_, i) => ({ id: `${type}-${i}`, name: type, value: i })),
    );
    coordinator.register(repository);
    repos.set(type, repository);
  }
  page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
});

afterAll(async () => {
  await browser?.close();
  await coordinator?.stop();
  await inspector?.close();
  await store?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The top-level state of a state value: what an actor card's `data-state` shows (its `data-path` the rest). */
function topState(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'object' && value !== null ? (Object.keys(value)[0] ?? '') : '';
}

const stateOf = (systemId: string) =>
  page.locator(`[data-actor="${systemId}"]`).first().getAttribute('data-state');

describe('inspector in a real browser', () => {
  it('shows the live actor tree during a sync against the reference server, and progress reaching 100%', async () => {
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(inspector.url);
    // The token leaves the address bar once the page has it.
    expect(page.url()).toBe(`${inspector.origin}/`);
    // The page must be listening before the runs start, or a fast run is over before it sees a batch actor.
    expect(await inspector.waitForPage(5_000)).toBe(true);
    const all = coordinator.syncAll();
    await page.locator('[data-actor="batch:telemetry"]').waitFor({ timeout: 10_000 });
    // Read while the card is surely there: the run ends (and the card goes) within a second or so.
    const batchState = await stateOf('batch:telemetry');
    expect(await page.locator('[data-actor="coordinator"]').count()).toBe(1);
    for (const type of TYPES) expect(await page.locator(`[data-actor="entity:${type}"]`).count()).toBe(1);
    expect([
      'opening',
      'next',
      'pushing',
      'headResult',
      'handOff',
      'awaitingCommit',
      'backingOff',
      'draining',
      '',
    ]).toContain(batchState);
    expect(await page.locator('[data-actor="batch:telemetry"] rect.current').count()).toBeLessThanOrEqual(1);

    const results = await all;
    expect(results.map((r) => r.state)).toEqual(['synced', 'synced', 'synced']);
    for (const type of TYPES) {
      await page.locator(`[data-progress="${type}"][data-percent="100"]`).waitFor({ timeout: 10_000 });
    }
    // Once the tree settles, every card shows the state its actor is in.
    await page.locator('[data-actor^="batch:"]').waitFor({ state: 'detached', timeout: 10_000 });
    const system = coordinator.actor.system;
    for (const id of ['coordinator', ...TYPES.map((t) => `entity:${t}`)]) {
      await expect
        .poll(() => stateOf(id), { timeout: 5_000 })
        .toBe(topState(system.get(id)?.getSnapshot().value));
    }
    expect(
      await page.locator('[data-actor="entity:telemetry"] rect.current').getAttribute('data-state'),
    ).toBe('synced');
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/inspector.png', fullPage: true });
    expect(errors).toEqual([]);
    expect(await page.content()).not.toContain(server.token);
  });

  it('a click on Sync starts a run for that type, which the server observes', async () => {
    const before = server.stats().syncRequests;
    await repos.get('configuration')?.save({ id: 'configuration-new', name: 'configuration', value: 1 });
    const finished = new Promise<void>((resolve) =>
      coordinator.progress.subscribe(
        (p) => p.entityType === 'configuration' && p.runId === 2 && p.isComplete && resolve(),
      ),
    );
    await page.locator('button[data-action="sync"][data-entity="configuration"]').click();
    await finished;
    expect(server.stats().syncRequests).toBe(before + 1);
    expect(server.state.get('configuration', 'configuration-new')).toMatchObject({ appliedCount: 1 });
    await page.locator('#log li[data-type="SYNC"]').first().waitFor();
  });

  it('the page refuses to talk to another origin, and the server refuses a request from one', async () => {
    const status = await page.evaluate(async () => {
      try {
        await fetch('http://127.0.0.1:9/api/control', { method: 'POST' });
        return 'reached';
      } catch {
        return 'blocked';
      }
    });
    expect(status).toBe('blocked');
    const other = await browser.newPage();
    try {
      // A page served from another origin tries to drive the inspector with a stolen token: refused.
      await other.goto(`${server.url}/healthz`);
      const token = new URL(inspector.url).searchParams.get('token');
      const answer = await other.evaluate(
        async ([origin, stolen]) => {
          try {
            const response = await fetch(`${origin}/api/control`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', 'x-inspector-token': String(stolen) },
              body: JSON.stringify({ type: 'SYNC_ALL' }),
            });
            return response.status;
          } catch {
            return 'blocked';
          }
        },
        [inspector.origin, token] as const,
      );
      expect(answer).toBe('blocked');
    } finally {
      await other.close();
    }
  });
});

describe('trace replay in a real browser', () => {
  it('the time slider rebuilds the tree as it was at any record', async () => {
    const file = join(dir, 'replay.jsonl');
    const trace = createTraceInspector({ file });
    const local = new MemoryLocalDataSource<Telemetry>();
    const replayed = new Repository<Telemetry>({
      entityType: 'replayed',
      local,
      remote: new HttpRemoteDataSource<Telemetry>({ baseUrl: server.url, getToken: () => server.token }),
    });
    await replayed.saveMany(Array.from({ length: 120 }, (_, i) => ({ id: `r-${i}`, name: 'r', value: i })));
    const recorder = new SyncCoordinator({ inspect: trace.inspect, batchSize: 50 });
    await recorder.sync(replayed);
    await recorder.stop();
    await trace.close();
    const loaded = await readTrace(file);
    // Pick a moment when the batch actor was pushing, by replaying the records the way the page does.
    const tree = new ActorTree();
    let pushingAt = -1;
    loaded.records.forEach((record, index) => {
      tree.apply(record);
      if (
        pushingAt < 0 &&
        tree.nodes().some((n) => n.systemId === 'batch:replayed' && n.value === 'pushing')
      ) {
        pushingAt = index;
      }
    });
    expect(pushingAt).toBeGreaterThan(0);

    const replay = await createInspector();
    try {
      replay.loadTrace(loaded);
      const replayPage = await browser.newPage();
      await replayPage.goto(replay.url);
      await replayPage.locator('#replay').waitFor();
      expect(await replayPage.locator('#mode').textContent()).toBe('replay');
      await replayPage.locator('#slider').evaluate((slider, at) => {
        (slider as unknown as { value: string }).value = String(at);
        slider.dispatchEvent(new Event('input'));
      }, pushingAt);
      await replayPage
        .locator('[data-actor="batch:replayed"][data-state="pushing"]')
        .waitFor({ timeout: 5_000 });
      expect(await replayPage.locator('[data-actor="entity:replayed"]').getAttribute('data-state')).toBe(
        'syncing',
      );
      // No controls in replay: the past cannot be driven.
      expect(await replayPage.locator('button[data-action="sync"]').count()).toBe(0);
      await replayPage.close();
    } finally {
      await replay.close();
    }
  });
});

describe('issue 11: the page after an empty run, and its failed items', () => {
  it("keeps the last real run's bar after an empty run and lists the dead-lettered item with its reason", async () => {
    const inspected = await createInspector();
    const state = new SyncServerState();
    const reviewed = new Repository<Telemetry>({
      entityType: 'reviewed',
      local: new MemoryLocalDataSource<Telemetry>(),
      remote: {
        syncBatch: async (items, { batchId, entityType }) =>
          state.apply(entityType, batchId, items, (item) =>
            item.value < 0 ? { error: 'value must not be negative', retryable: false } : undefined,
          ),
      },
    });
    await reviewed.saveMany(
      Array.from({ length: 5 }, (_, i) => ({ id: `v-${i}`, name: 'v', value: i === 3 ? -1 : i })),
    );
    const local = new SyncCoordinator({ inspect: inspected.inspect });
    const reviewPage = await browser.newPage();
    const consoleErrors: string[] = [];
    reviewPage.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    try {
      await reviewPage.goto(inspected.url);
      expect(await inspected.waitForPage(5_000)).toBe(true);
      expect((await local.sync(reviewed)).failedItems).toBe(1);
      // v-3 is dead-lettered: the next run has nothing to do and ends synced 0/0.
      expect(await local.sync(reviewed)).toMatchObject({ state: 'synced', runId: 2, totalItems: 0 });
      await reviewPage
        .locator('[data-actor="entity:reviewed"]')
        .and(reviewPage.locator('[data-state="synced"]'))
        .waitFor({ timeout: 5_000 });
      const bar = reviewPage.locator('[data-progress="reviewed"]');
      expect(await bar.textContent()).toContain('4/5 synced, 1 failed (run 1; nothing to sync since)');
      expect(await bar.getAttribute('data-percent')).toBe('100');
      const failed = reviewPage.locator('[data-failures="reviewed"] li[data-failed="v-3"]');
      expect(await failed.textContent()).toBe('v-3 dead-lettered (attempts 1) value must not be negative');
      expect(consoleErrors).toEqual([]);
    } finally {
      await reviewPage.close();
      await local.stop();
      await inspected.close();
    }
  });
});
