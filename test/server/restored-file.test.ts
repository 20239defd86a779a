/**
 * A reference server restarted from an older copy of its `file` keeps the copy's epoch, so a checkpoint handed out
 * by the newer state passes the epoch check. Its sequence number is past the restored feed's end: answered with an
 * empty page, the client's checkpoint would point past changes it never gets. Over HTTP, with the client's remote.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import type { PulledChanges, RepositoryEntity } from '../../src/index.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';

const TOKEN = 'restored-file-token-41d7';
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

async function start(file: string): Promise<{ server: SyncServer; remote: HttpRemoteDataSource }> {
  const server = await createSyncServer({ token: TOKEN, file });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  cleanup.push(close);
  const remote = new HttpRemoteDataSource({ baseUrl: server.url, getToken: () => TOKEN, timeoutMs: 5_000 });
  return { server: Object.assign(server, { close }), remote };
}

const note = (id: string, version = 1): RepositoryEntity & { text: string } => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 1,
  syncPending: true,
  text: `${id} v${version}`,
});

let keys = 0;
async function push(remote: HttpRemoteDataSource, items: RepositoryEntity[]) {
  keys += 1;
  const results = await remote.syncBatch(items, {
    signal: AbortSignal.timeout(5_000),
    batchId: `restored-${keys}`,
    entityType: 'note',
  });
  expect(results.every((result) => result.status === 'ok')).toBe(true);
}

/** Pulls from `since` to the end of the feed; the checkpoint of the last page. */
async function pullToEnd(remote: HttpRemoteDataSource, since?: string) {
  const ids: string[] = [];
  for (;;) {
    const reply = await remote.pullChanges({
      entityType: 'note',
      since,
      limit: 2,
      signal: AbortSignal.timeout(5_000),
    });
    if (reply.reset) throw new Error('unexpected reset');
    ids.push(...(reply as PulledChanges).changes.map((change) => change.id));
    since = reply.checkpoint;
    if (!reply.hasMore) return { checkpoint: since, ids };
  }
}

it('a checkpoint past the end of a feed restored from an older file is answered 410 reset, never an empty page', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-restored-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'server.json');
  const older = join(dir, 'server.older.json');

  const first = await start(file);
  await push(first.remote, [note('a'), note('b')]);
  await copyFile(file, older);
  await push(first.remote, [note('c'), note('a', 2)]);
  const end = await pullToEnd(first.remote);
  expect(end.ids).toEqual(['b', 'c', 'a']);
  const epoch = first.server.state.epoch;
  await first.server.close();

  // The operator puts the older copy back.
  await copyFile(older, file);
  const restored = await start(file);
  expect(restored.server.state.epoch).toBe(epoch);
  expect(
    await restored.remote.pullChanges({
      entityType: 'note',
      since: end.checkpoint,
      limit: 10,
      signal: AbortSignal.timeout(5_000),
    }),
  ).toEqual({ reset: true });
  const raw = await fetch(
    `${restored.server.url}/v1/changes/note?since=${encodeURIComponent(end.checkpoint)}`,
    {
      headers: { authorization: `Bearer ${TOKEN}` },
    },
  );
  expect(raw.status).toBe(410);
  expect(await raw.json()).toMatchObject({ reset: true });
  // Pulled again from the beginning, the client gets the restored state whole.
  expect((await pullToEnd(restored.remote)).ids).toEqual(['a', 'b']);
});
