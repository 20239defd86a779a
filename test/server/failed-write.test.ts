/**
 * Review of issue 11: after a failed write of its state file the reference server answered 500 with the batch
 * already applied in memory (and its reply cached), logged no reason, and answered 500 to every later sync. A
 * batch is now committed only once the file holds it; the chain of writes recovers; the cause is reported.
 */
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncServer, SyncServerOptions } from '../../src/server/sync-server.js';
import { Harness, note } from '../e2e/harness.js';
import { postSync } from '../helpers/post-sync.js';
import { useTempDir } from '../helpers/temp-dir.js';

const TOKEN = 'failed-write-token';
const h = new Harness();
afterEach(() => h.dispose());
let dir: string;
useTempDir('actorsync-failed-write-', (created) => (dir = created), { scope: 'all' });

const start = (options: SyncServerOptions): Promise<SyncServer> =>
  h.memoryServer({ token: TOKEN, ...options });

async function push(server: SyncServer, key: string, ids: string[]) {
  const body = JSON.stringify({ batchId: key, items: ids.map((id) => note(id)) });
  const response = await postSync(server.url, TOKEN, key, body);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function itemsOver(server: SyncServer): Promise<{ id: string; appliedCount: number }[]> {
  const response = await fetch(`${server.url}/v1/items/note`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const { items } = (await response.json()) as { items: { item: { id: string }; appliedCount: number }[] };
  return items
    .map(({ item, appliedCount }) => ({ id: item.id, appliedCount }))
    .sort((a, b) => a.id.localeCompare(b.id));
}

describe('the reference server after a failed write of its state file', () => {
  it('answers 500 with nothing applied, reports why, and applies the same batch once when the file is writable again', async () => {
    const file = join(dir, 'state.json');
    const errors: { error: unknown; method: string; path: string }[] = [];
    const server = await start({ file, onError: (error, request) => errors.push({ error, ...request }) });
    expect(await push(server, 'k1', ['a'])).toMatchObject({ status: 200 });

    // Tests run as root, where permissions block nothing: a directory where the temp file goes does.
    const blocker = join(dir, `.state.json.${process.pid}.tmp`);
    await mkdir(blocker);
    const failed = await push(server, 'k2', ['b', 'c']);
    expect(failed).toEqual({
      status: 500,
      body: { error: 'The server could not save its state; the batch was not applied' },
    });
    expect(await itemsOver(server)).toEqual([{ id: 'a', appliedCount: 1 }]);
    expect(server.state.replyFor('note', 'k2')).toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ method: 'POST', path: '/v1/sync/note' });
    expect(String(errors[0]?.error)).toContain(blocker);
    // Still unwritable: still refused, still reported, still nothing applied.
    expect((await push(server, 'k2', ['b', 'c'])).status).toBe(500);
    expect(errors).toHaveLength(2);
    expect(await itemsOver(server)).toEqual([{ id: 'a', appliedCount: 1 }]);

    await rmdir(blocker);
    expect(await push(server, 'k2', ['b', 'c'])).toEqual({
      status: 200,
      body: {
        results: [
          { id: 'b', status: 'ok', version: 1 },
          { id: 'c', status: 'ok', version: 1 },
        ],
      },
    });
    // The same key again is answered from the stored reply, not applied twice.
    expect((await push(server, 'k2', ['b', 'c'])).status).toBe(200);
    expect(await itemsOver(server)).toEqual([
      { id: 'a', appliedCount: 1 },
      { id: 'b', appliedCount: 1 },
      { id: 'c', appliedCount: 1 },
    ]);
    expect(server.stats()).toMatchObject({ batchesApplied: 2, duplicateBatches: 1 });
    expect(errors).toHaveLength(2);

    // What the file holds is what was answered: a restarted server knows k2 and does not apply it again.
    await server.close();
    const saved = JSON.parse(await readFile(file, 'utf8')) as { items: { note: Record<string, unknown> } };
    expect(Object.keys(saved.items.note).sort()).toEqual(['a', 'b', 'c']);
    const restarted = await start({ file });
    expect((await push(restarted, 'k2', ['b', 'c'])).status).toBe(200);
    expect(restarted.stats()).toMatchObject({ batchesApplied: 0, duplicateBatches: 1 });
  });

  it('a write that fails mid-stream does not hold back the batches queued behind it', async () => {
    const file = join(dir, 'queued.json');
    const errors: unknown[] = [];
    const server = await start({ file, onError: (error) => errors.push(error) });
    const blocker = join(dir, `.queued.json.${process.pid}.tmp`);
    await mkdir(blocker);
    expect((await push(server, 'q1', ['x'])).status).toBe(500);
    await rmdir(blocker);
    const results = await Promise.all(['q2', 'q3', 'q4'].map((key, i) => push(server, key, [`y${i}`])));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await itemsOver(server)).map((i) => i.id)).toEqual(['y0', 'y1', 'y2']);
    expect(errors).toHaveLength(1);
  });
});
