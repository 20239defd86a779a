import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  type SyncLogger,
} from '../../src/index.js';
import { createInspector, createTraceInspector } from '../../src/inspect.js';
import { createSyncServer } from '../../src/server.js';

interface Doc extends RepositoryEntity {
  text: string;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('security', () => {
  it('the reference server refuses missing and wrong tokens of any length, oversized bodies and public binds', async () => {
    const token = 'correct-horse-battery-staple';
    const server = await createSyncServer({ token, maxBodyBytes: 2_048 });
    cleanups.push(() => server.close());
    const post = (headers: Record<string, string>, body = '{"batchId":"b","items":[]}') =>
      fetch(`${server.url}/v1/sync/doc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'b', ...headers },
        body,
      });
    for (const wrong of ['', 'x', token.slice(0, -1), `${token}x`, token.toUpperCase(), 'a'.repeat(4_000)]) {
      expect((await post({ authorization: `Bearer ${wrong}` })).status).toBe(401);
    }
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: token })).status).toBe(401);
    expect((await fetch(`${server.url}/v1/items/doc`)).status).toBe(401);
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
    const big = JSON.stringify({ batchId: 'b2', items: [{ id: 'x', version: 1, text: 'y'.repeat(4_000) }] });
    expect((await post({ authorization: `Bearer ${token}`, 'idempotency-key': 'b2' }, big)).status).toBe(413);
    await expect(createSyncServer({ host: '0.0.0.0' })).rejects.toThrow(/binds loopback unless allowRemote/);
    await expect(createSyncServer({ token: 'short' })).rejects.toThrow(/at least 8 characters/);
  });

  it('no token appears in logs, errors, results, progress, traces or inspector output', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-security-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const token = 'tok-9f8e7d6c5b4a-secret';
    const requestLog: string[] = [];
    const server = await createSyncServer({
      token,
      onRequest: (entry) => requestLog.push(JSON.stringify(entry)),
    });
    cleanups.push(() => server.close());
    const inspector = await createInspector({ sanitize: { secretValues: [token] } });
    cleanups.push(() => inspector.close());
    const trace = createTraceInspector({
      file: join(dir, 'trace.jsonl'),
      sanitize: { secretValues: [token] },
    });
    const logs: string[] = [];
    const logger: SyncLogger = {
      debug: (m, d) => logs.push(m, JSON.stringify(d)),
      info: (m, d) => logs.push(m, JSON.stringify(d)),
      warn: (m, d) => logs.push(m, JSON.stringify(d)),
      error: (m, d) => logs.push(m, JSON.stringify(d)),
    };
    const events: unknown[] = [];
    const coordinator = new SyncCoordinator({
      logger,
      inspect: (event) => {
        trace.inspect(event);
        inspector.inspect(event);
      },
      retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 },
    });
    cleanups.push(() => trace.close());
    cleanups.push(() => coordinator.stop());
    coordinator.progress.subscribe((p) => events.push(p));

    // One type with the right token, one with a wrong one (auth failures), one whose records quote the token.
    let refreshes = 0;
    const types: [string, () => string][] = [
      ['good', () => token],
      ['bad', () => `${token}-revoked`],
      [
        'refresh',
        () => {
          refreshes += 1;
          return refreshes === 1 ? 'stale' : token;
        },
      ],
    ];
    for (const [type, getToken] of types) {
      const repository = new Repository<Doc>({
        entityType: type,
        local: new MemoryLocalDataSource<Doc>(),
        remote: new HttpRemoteDataSource<Doc>({ baseUrl: server.url, getToken }),
      });
      await repository.saveMany([
        { id: `${type}-1`, text: 'plain' },
        { id: `${type}-2`, text: `Authorization: Bearer ${token}` },
      ]);
      coordinator.register(repository);
    }
    const results = await coordinator.syncAll();
    expect(results.map((r) => [r.entityType, r.state])).toEqual([
      ['good', 'synced'],
      ['bad', 'error'],
      ['refresh', 'synced'],
    ]);
    expect(results[1]?.errorMessage).toMatch(/Authentication failed: Server answered 401/);
    server.faults.queue('error500', 'malformed');
    await coordinator.sync('good');
    await trace.close();

    const stream = await fetch(
      `${inspector.origin}/api/stream?token=${new URL(inspector.url).searchParams.get('token')}`,
    );
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    await reader.cancel();

    const outputs = {
      logs: logs.join('\n'),
      requestLog: requestLog.join('\n'),
      results: JSON.stringify(results),
      progress: JSON.stringify(events),
      trace: await readFile(join(dir, 'trace.jsonl'), 'utf8'),
      inspectorStream: new TextDecoder().decode(value),
      inspectorTree: JSON.stringify(inspector.tree()),
    };
    for (const [channel, text] of Object.entries(outputs)) {
      expect(text.length, `${channel} captured nothing`).toBeGreaterThan(0);
      expect(text.includes(token), `the token leaked into ${channel}`).toBe(false);
    }
  });
});
