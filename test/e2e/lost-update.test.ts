/**
 * No lost update between two clients (issue 13): versions are per-writer counters, so a higher number is not a
 * later write. Clients A and B both hold n1 at version 1. A edits once (v2) and syncs; B, offline, edits twice (v2,
 * v3). Before base versions the server took B's v3 over A's v2 because 3 > 2, and A's edit was gone without a
 * conflict anywhere. Every pending change now names the server version it was made on (`baseVersion`), so B's change
 * is a conflict, pushed or pulled, resolved by the policy. Real parts only: the reference server over HTTP, two lowdb
 * stores in temp dirs, `HttpRemoteDataSource`, `SyncCoordinator`.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConflictPolicy, Repository } from '../../src/index.js';
import { ENTITY, Harness, type Note, serverRecord, type TestServer } from './harness.js';

let harness: Harness;
afterEach(() => harness.dispose());

/** One device: its own store file and repository, syncing to `server` through its own coordinator. */
async function client(server: TestServer, name: string, conflicts: ConflictPolicy<Note>) {
  const store = await harness.store(join(await harness.tempDir(), `${name}.json`));
  const local = store.collection<Note>(ENTITY);
  const remote = harness.remote(server);
  const repository = new Repository<Note>({ entityType: ENTITY, local, remote });
  const coordinator = harness.coordinator({ conflicts: conflicts as ConflictPolicy });
  const { checkpoint, applyPulledPage } = local;
  if (!checkpoint || !applyPulledPage) throw new Error('the lowdb store takes pulled pages');
  /** Brings the server's changes into the store, page by page, through the store's own pull API. */
  const pull = async () => {
    let since = await checkpoint.call(local);
    for (;;) {
      const reply = await remote.pullChanges({
        entityType: ENTITY,
        since,
        limit: 100,
        signal: AbortSignal.timeout(5_000),
      });
      if (reply.reset) throw new Error('unexpected reset');
      const result = await applyPulledPage.call(local, { ...reply, since }, { conflicts, now: Date.now() });
      since = reply.checkpoint;
      if (!reply.hasMore) return result;
    }
  };
  return { local, repository, sync: () => coordinator.sync(repository), pull };
}

/** Both clients hold n1 at version 1, synced: A wrote it, B pulled it. A then edits once and syncs. */
async function bothHoldV1ThenAEdits(conflicts: ConflictPolicy<Note>) {
  harness = new Harness();
  const server = await harness.server();
  const a = await client(server, 'a', conflicts);
  const b = await client(server, 'b', conflicts);
  await a.repository.save({ id: 'n1', text: 'first' });
  expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
  expect(await b.pull()).toMatchObject({ pulled: 1 });
  expect(await b.local.get('n1')).toMatchObject({ version: 1, text: 'first', syncPending: false });
  await a.repository.save({ id: 'n1', text: 'A' });
  expect(await a.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
  // B was offline: two edits, both on version 1.
  await b.repository.save({ id: 'n1', text: 'B once' });
  await b.repository.save({ id: 'n1', text: 'B' });
  expect(await b.local.get('n1')).toMatchObject({ version: 3, baseVersion: 1 });
  expect(await serverRecord(server, 'n1')).toMatchObject({ item: { version: 2, text: 'A' } });
  return { server, a, b };
}

describe('A edits once, B offline edits twice: B pushes its v3', () => {
  it("server-wins: a conflict, B ends with A's edit at v2 and the server keeps it", async () => {
    const { server, b } = await bothHoldV1ThenAEdits('server-wins');
    const result = await b.sync();
    expect(result).toMatchObject({ state: 'synced', conflicts: 1, failedItems: 0 });
    expect(await serverRecord(server, 'n1')).toMatchObject({
      item: { version: 2, text: 'A' },
      appliedVersions: [1, 2],
    });
    expect(await b.local.get('n1')).toEqual({
      id: 'n1',
      text: 'A',
      version: 2,
      createdAt: expect.any(Number),
      updatedAt: expect.any(Number),
      syncPending: false,
    });
    expect(await b.repository.pendingCount()).toBe(0);
  });

  it("client-wins: a conflict, B pushes its edit on A's version and the server ends at v4 with B's content", async () => {
    const { server, b } = await bothHoldV1ThenAEdits('client-wins');
    const result = await b.sync();
    expect(result).toMatchObject({ state: 'synced', conflicts: 1, failedItems: 0 });
    const stored = await serverRecord(server, 'n1');
    expect(stored).toMatchObject({ item: { version: 4, text: 'B' }, appliedVersions: [1, 2, 4] });
    expect(stored?.item).not.toHaveProperty('baseVersion');
    expect(await b.local.get('n1')).toMatchObject({ version: 4, text: 'B', syncPending: false });
    expect(await b.local.get('n1')).not.toHaveProperty('baseVersion');
  });

  it("a merge function sees both edits; the merged record goes out on A's version", async () => {
    const merge: ConflictPolicy<Note> = (mine, theirs) => ({ ...mine, text: `${theirs.text}+${mine.text}` });
    const { server, b } = await bothHoldV1ThenAEdits(merge);
    expect(await b.sync()).toMatchObject({ state: 'synced', conflicts: 1 });
    expect(await serverRecord(server, 'n1')).toMatchObject({ item: { version: 4, text: 'A+B' } });
  });

  it("A, in turn, gets no silent overwrite either: its next edit on v2 meets B's v4 as a conflict", async () => {
    const { server, a, b } = await bothHoldV1ThenAEdits('client-wins');
    await b.sync();
    // A never pulled B's v4: its edit is made on v2 and would, by number alone, be lower anyway; with a base it
    // is refused as what it is, a change made on a version the server no longer holds.
    await a.repository.save({ id: 'n1', text: 'A again' });
    expect(await a.local.get('n1')).toMatchObject({ version: 3, baseVersion: 2 });
    expect(await a.sync()).toMatchObject({ state: 'synced', conflicts: 1 });
    expect(await serverRecord(server, 'n1')).toMatchObject({ item: { version: 5, text: 'A again' } });
  });
});

describe("A edits once, B offline edits twice: B pulls A's v2 before it pushes", () => {
  it("server-wins: the pulled v2 is a conflict, not an echo; B takes A's edit and has nothing to push", async () => {
    const { b } = await bothHoldV1ThenAEdits('server-wins');
    expect(await b.pull()).toMatchObject({ conflicts: 1, echoes: 0, pulled: 0 });
    expect(await b.local.get('n1')).toMatchObject({ version: 2, text: 'A', syncPending: false });
    expect(await b.repository.pendingCount()).toBe(0);
  });

  it("client-wins: B's edit goes out on A's version and the server ends at v4 with B's content", async () => {
    const { server, b } = await bothHoldV1ThenAEdits('client-wins');
    expect(await b.pull()).toMatchObject({ conflicts: 1, repush: ['n1'] });
    expect(await b.local.get('n1')).toMatchObject({
      version: 4,
      baseVersion: 2,
      text: 'B',
      syncPending: true,
    });
    expect(await b.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
    expect(await serverRecord(server, 'n1')).toMatchObject({
      item: { version: 4, text: 'B' },
      appliedVersions: [1, 2, 4],
    });
  });
});
