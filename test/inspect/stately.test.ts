import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { SyncCoordinator } from '../../src/index.js';
import { createStatelyWebSocketInspector } from '../../src/inspect/stately.js';
import { makeRepo, seed } from '../helpers/fixtures.js';

interface StatelyActorEvent {
  type: string;
  name?: string;
  sessionId: string;
  parentId?: string;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("Stately's inspector (@statelyai/inspect)", () => {
  it('a WebSocket relay on loopback receives @xstate.actor for all three machine levels, sanitised', async () => {
    // Our own relay bound to 127.0.0.1: @statelyai/inspect/server's binds every interface and has no auth.
    const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise((resolve) => relay.close(resolve)));
    await new Promise((resolve) => relay.once('listening', resolve));
    const raw: string[] = [];
    relay.on('connection', (socket) => socket.on('message', (data: Buffer) => raw.push(data.toString())));

    const secret = 'relay-secret-token-42';
    const inspector = createStatelyWebSocketInspector({
      url: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`,
      sanitize: { secretValues: [secret] },
    });
    cleanups.push(() => inspector.stop());
    const coordinator = new SyncCoordinator({ inspect: inspector.inspect });
    cleanups.push(() => coordinator.stop());
    const { repository } = makeRepo();
    await seed(repository, 3);
    await repository.save({ id: 'x', text: `Authorization: Bearer ${secret}` });
    await coordinator.sync(repository);

    await expect.poll(() => raw.some((m) => m.includes('"batch"')), { timeout: 5_000 }).toBe(true);
    const actors = raw
      .map((m) => JSON.parse(m) as StatelyActorEvent)
      .filter((e) => e.type === '@xstate.actor');
    const byName = new Map(actors.map((a) => [a.name, a]));
    const root = byName.get('coordinator');
    const entity = byName.get('entity:note');
    const batch = byName.get('batch');
    expect(root).toBeDefined();
    expect(entity?.parentId).toBe(root?.sessionId);
    expect(batch?.parentId).toBe(entity?.sessionId);
    expect(raw.join('\n')).not.toContain(secret);
  });
});
