import { get } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SyncCoordinator } from '../../src/index.js';
import { createInspector, type LocalInspector } from '../../src/inspect/inspector-server.js';
import { makeRepo, seed } from '../helpers/fixtures.js';

let inspector: LocalInspector;
let coordinator: SyncCoordinator;
let token: string;

beforeEach(async () => {
  inspector = await createInspector({ sanitize: { secretValues: ['remote-api-token-123'] } });
  token = new URL(inspector.url).searchParams.get('token') ?? '';
  coordinator = new SyncCoordinator({ inspect: inspector.inspect });
});

afterEach(async () => {
  await coordinator.stop();
  await inspector.close();
});

/** Reads the SSE stream until `until` matches what arrived, then closes it. */
async function readStream(
  until: (text: string) => boolean,
  headers: Record<string, string> = {},
): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(`${inspector.origin}/api/stream?token=${token}`, {
    signal: controller.signal,
    headers,
  });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  const decoder = new TextDecoder();
  while (!until(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  controller.abort();
  return text;
}

describe('local inspector server', () => {
  it('binds loopback and refuses other addresses unless asked', async () => {
    expect(new URL(inspector.url).hostname).toBe('127.0.0.1');
    await expect(createInspector({ host: '0.0.0.0' })).rejects.toThrow(/binds loopback unless allowRemote/);
  });

  it('serves nothing without the token, and refuses other origins, hosts and cross-site requests', async () => {
    expect((await fetch(`${inspector.origin}/`)).status).toBe(401);
    expect((await fetch(`${inspector.origin}/?token=wrong`)).status).toBe(401);
    expect((await fetch(`${inspector.origin}/api/stream`)).status).toBe(401);
    const page = await fetch(inspector.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await page.text()).toContain('<title>actorsync inspector</title>');

    const control = (headers: Record<string, string>) =>
      fetch(`${inspector.origin}/api/control`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-inspector-token': token, ...headers },
        body: JSON.stringify({ type: 'SYNC_ALL' }),
      });
    expect((await control({ origin: 'http://evil.example' })).status).toBe(403);
    expect((await control({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await control({ 'x-inspector-token': 'nope' })).status).toBe(401);
    // No coordinator attached yet.
    expect((await control({})).status).toBe(409);
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 (fetch cannot set Host, node:http can).
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      const { port } = new URL(inspector.origin);
      get(
        { host: '127.0.0.1', port, path: `/?token=${token}`, headers: { host: `attacker.example:${port}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      ).on('error', reject);
    });
    expect(rebound).toBe(403);
  });

  it('drives an attached coordinator: a SYNC from the page starts a run the remote observes', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 3);
    coordinator.register(repository);
    inspector.attach(coordinator);
    const done = new Promise<void>((resolve) =>
      coordinator.progress.subscribe((p) => p.state === 'synced' && resolve()),
    );
    const response = await fetch(`${inspector.origin}/api/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-inspector-token': token, origin: inspector.origin },
      body: JSON.stringify({ type: 'SYNC', entityType: 'note' }),
    });
    expect(response.status).toBe(202);
    await done;
    expect(remote.calls).toHaveLength(1);
    const bad = await fetch(`${inspector.origin}/api/control`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-inspector-token': token },
      body: JSON.stringify({ type: 'DROP_TABLES' }),
    });
    expect(bad.status).toBe(400);
  });

  it('sends a late-opened page the whole tree, sanitised, and never the tokens', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 120);
    await repository.save({ id: 'secret-bearing', text: 'header: Bearer remote-api-token-123' });
    const hold = remote.holdNext();
    const run = coordinator.sync(repository);
    await hold.reached;
    const text = await readStream((t) => t.includes('event: init'));
    const init = JSON.parse(/event: init\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as {
      tree: { systemId?: string; value: unknown }[];
      machines: { id: string }[];
    };
    expect(init.tree.map((n) => [n.systemId, n.value])).toEqual(
      expect.arrayContaining([
        ['coordinator', 'manual'],
        ['entity:note', { syncing: 'pushing' }],
        ['batch:note', 'pushing'],
      ]),
    );
    expect(init.machines.map((m) => m.id)).toEqual(['coordinator', 'entitySync', 'batchPush']);
    hold.release();
    await run;
    const everything = await readStream((t) => t.includes('event: init'));
    for (const output of [text, everything, JSON.stringify(inspector.tree())]) {
      expect(output).not.toContain('remote-api-token-123');
      expect(output).not.toContain(token);
    }
  });

  it('issue 11: answers /favicon.ico without the token, so a browser logs no 401; the page declares its icon', async () => {
    const favicon = await fetch(`${inspector.origin}/favicon.ico`);
    expect(favicon.status).toBe(204);
    expect(await (await fetch(inspector.url)).text()).toContain('<link rel="icon" href="data:," />');
    // Nothing else opens up without the token.
    expect((await fetch(`${inspector.origin}/favicon.ico/../`)).status).toBe(401);
  });

  it("issue 11: an empty run after a real one keeps the real run's counts and its failed items on the entity", async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 5);
    remote.reject('n2', 'text must not be "note 2" (secret-ish: Bearer remote-api-token-123)', false);
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'error', failedItems: 1 });
    // n2 is dead-lettered, so the next run has nothing to do.
    expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', totalItems: 0 });
    const entity = inspector.tree().find((node) => node.systemId === 'entity:note');
    expect(entity?.context).toMatchObject({ runId: 2, progress: { totalItems: 0, percent: 100 } });
    expect(entity?.lastActiveRun).toMatchObject({
      runId: 1,
      // The snapshot value: `error` has the live watch's substates (`still` for a type that is not live).
      state: { error: 'still' },
      progress: { totalItems: 5, syncedItems: 4, failedItems: 1, percent: 100 },
      failures: [
        { id: 'n2', deadLettered: true, attempts: 1, error: expect.stringContaining('must not be') },
      ],
    });
    expect(JSON.stringify(inspector.tree())).not.toContain('remote-api-token-123');
  });

  it('review of issue 10: waitForPage clamps a timeout above 2^31-1 ms instead of giving up after 1 ms', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let settled: boolean | undefined;
      void inspector.waitForPage(2 ** 31 + 1_000).then((opened) => (settled = opened));
      // Fake timers fire an overflowing delay after 1 ms, as Node does.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(settled).toBeUndefined();
      await vi.advanceTimersByTimeAsync(2 ** 31);
      expect(settled).toBe(false);
      let now: boolean | undefined;
      void inspector.waitForPage(Number.NaN).then((opened) => (now = opened));
      await vi.advanceTimersByTimeAsync(0);
      expect(now).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('close() answers every waitForPage still waiting with false at once', async () => {
    const waiting = inspector.waitForPage(60_000);
    await inspector.close();
    await expect(waiting).resolves.toBe(false);
  });
});
