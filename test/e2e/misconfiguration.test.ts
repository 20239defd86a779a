/**
 * Issue 11: a reply that says the endpoint or the request is wrong for the whole batch (404, 405, a 400 for the
 * batch) stops the run with a fatal error naming the URL and never dead-letters items; a 400 that names invalid
 * items fails exactly those and sends the rest again (docs/protocol.md).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { FatalSyncError, PermanentSyncError, Repository } from '../../src/index.js';
import { hostileServer } from '../helpers/hostile-server.js';
import { context, ENTITY, Harness, type Note, note, noteId, serverItems } from './harness.js';

const h = new Harness();
afterEach(() => h.dispose());

interface Batch {
  key: string;
  items: Note[];
}

/** A server that answers each batch with `answer(batch)`; keeps every batch it saw. */
async function scripted(answer: (batch: Batch) => [number, unknown]) {
  const batches: Batch[] = [];
  const server = await hostileServer(
    (request, response, body) => {
      const batch = {
        key: String(request.headers['idempotency-key']),
        items: (JSON.parse(body) as { items: Note[] }).items,
      };
      batches.push(batch);
      const [status, reply] = answer(batch);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(reply));
    },
    { harness: h },
  );
  return { url: server.url, batches };
}

const ok = (items: Note[]) => ({
  results: items.map((i) => ({ id: i.id, status: 'ok', version: i.version })),
});

async function storeWithNotes(texts: string[]) {
  const dir = await h.tempDir();
  const store = await h.store(join(dir, 'store.json'));
  const local = store.collection<Note>(ENTITY);
  const repositoryFor = (remote: HttpRemoteDataSource<Note>) =>
    new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'push' });
  await repositoryFor(new HttpRemoteDataSource<Note>({ baseUrl: 'http://127.0.0.1:1' })).saveMany(
    texts.map((text, n) => ({ id: noteId(n), text })),
  );
  return { local, repositoryFor };
}

describe('a misconfigured endpoint stops the run; it never dead-letters items', () => {
  it('a mistyped base URL (404 for every batch): fatal, naming the URL; the fixed URL then syncs everything', async () => {
    const server = await h.memoryServer();
    const { local, repositoryFor } = await storeWithNotes(['a', 'b', 'c']);
    const token = () => server.token;
    const wrong = repositoryFor(
      new HttpRemoteDataSource<Note>({ baseUrl: `${server.url}/api`, getToken: token }),
    );
    const first = h.coordinator();
    const result = await first.sync(wrong);

    expect(result).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 0 });
    expect(result.errorMessage).toContain(
      `Server answered 404 (Not found) for POST ${server.url}/api/v1/sync/note`,
    );
    expect(result.errorMessage).toContain('check baseUrl');
    expect(await local.failures()).toEqual([]);
    expect((await local.getAll()).every((n) => n.syncPending)).toBe(true);
    await first.stop();

    const fixed = repositoryFor(new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: token }));
    const second = await h.coordinator().sync(fixed);
    expect(second).toMatchObject({ state: 'synced', syncedItems: 3, failedItems: 0 });
    expect((await serverItems(server, [0, 1, 2].map(noteId))).map((s) => s.appliedVersions)).toEqual([
      [1],
      [1],
      [1],
    ]);
    expect(await fixed.pendingCount()).toBe(0);
  });

  it.each([
    [404, { error: 'No such route' }],
    [405, { error: 'Method not allowed' }],
    [410, {}],
    [400, { error: 'Malformed request' }],
    [400, { error: 'Bad batch', rejected: [{ id: 'not-in-the-batch', error: 'x' }] }],
    [400, { rejected: [] }],
  ])('a %i for the whole batch (%j) is fatal and names the URL', async (status, reply) => {
    const server = await scripted(() => [status, reply]);
    const baseUrl = `${server.url.replace('//', '//user:secret-key-1@')}/base`;
    const error = await new HttpRemoteDataSource<Note>({ baseUrl })
      .syncBatch([note('a')], context('b1'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FatalSyncError);
    expect((error as Error).message).toMatch(
      new RegExp(`^Server answered ${status}.* for POST ${server.url}/base/v1/sync/note:`),
    );
    expect((error as Error).message).not.toContain('secret-key-1');
  });

  it('a 422 still fails the batch as permanent (its content was refused, not the endpoint)', async () => {
    const server = await scripted(() => [
      422,
      { error: 'Idempotency-Key was already used for a different batch' },
    ]);
    const error = await new HttpRemoteDataSource<Note>({ baseUrl: server.url })
      .syncBatch([note('a')], context('b1'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentSyncError);
  });
});

describe('a 400 that names invalid items', () => {
  /** Refuses a batch holding any note whose text is "invalid" (naming them), applies nothing; else ok. */
  const validating = (batch: Batch): [number, unknown] => {
    const invalid = batch.items.filter((i) => i.text === 'invalid');
    if (invalid.length === 0) return [200, ok(batch.items)];
    return [
      400,
      {
        error: 'Invalid items',
        rejected: invalid.map((i) => ({ id: i.id, error: `${i.id}: text is invalid` })),
      },
    ];
  };

  it('dead-letters exactly those items with the reason and syncs the rest, resent under a derived batch id', async () => {
    const server = await scripted(validating);
    const { local, repositoryFor } = await storeWithNotes(['fine', 'invalid', 'fine too', 'invalid']);
    const repository = repositoryFor(new HttpRemoteDataSource<Note>({ baseUrl: server.url }));
    const result = await h.coordinator({ batchSize: 10 }).sync(repository);

    expect(result).toMatchObject({ state: 'error', totalItems: 4, syncedItems: 2, failedItems: 2 });
    const [first, second] = server.batches;
    expect(server.batches).toHaveLength(2);
    expect(second?.key).toBe(`${first?.key}/valid`);
    expect(second?.items.map((i) => i.id)).toEqual([noteId(0), noteId(2)]);
    const failures = await local.failures();
    expect(failures.map((f) => [f.id, f.deadLettered, f.lastError])).toEqual([
      [noteId(1), true, `${noteId(1)}: text is invalid`],
      [noteId(3), true, `${noteId(3)}: text is invalid`],
    ]);
    expect((await local.getAll()).filter((n) => n.syncPending).map((n) => n.id)).toEqual([
      noteId(1),
      noteId(3),
    ]);
  });

  it('against the reference server: the unstorable item fails, the rest is applied once under {batchId}/valid', async () => {
    const server = await h.memoryServer();
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: () => server.token });
    const results = await remote.syncBatch([note('a'), { ...note('b'), createdAt: -1 }], context('b1'));

    expect(results).toEqual([
      { id: 'b', status: 'failed', error: 'createdAt must be a non-negative number', retryable: false },
      { id: 'a', status: 'ok' },
    ]);
    expect(server.state.get(ENTITY, 'a')?.appliedCount).toBe(1);
    expect(server.state.get(ENTITY, 'b')).toBeUndefined();
    // The same batch again (a retry): the derived key gets the stored reply, nothing is applied twice.
    expect(await remote.syncBatch([note('a'), { ...note('b'), createdAt: -1 }], context('b1'))).toEqual(
      results,
    );
    expect(server.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 1 });
  });

  it('a batch of only invalid items sends nothing again', async () => {
    const server = await scripted(validating);
    const results = await new HttpRemoteDataSource<Note>({ baseUrl: server.url }).syncBatch(
      [{ ...note('x'), text: 'invalid' }],
      context('b1'),
    );
    expect(results).toEqual([{ id: 'x', status: 'failed', error: 'x: text is invalid', retryable: false }]);
    expect(server.batches).toHaveLength(1);
  });
});
