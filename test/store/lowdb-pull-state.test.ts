/**
 * Issue 13, lowdb only: tombstones, checkpoints and a reset in progress across reopens (journal replay and
 * snapshot), a kill between the server's ack of a tombstone and the local commit, and a torn page line.
 */
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PulledPage, Repository, type RepositoryEntity, StalePageError } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { PULLED_PAGE_JOURNAL_RATIO } from '../../src/store/lowdb-store.js';
import { live, page, tombstone } from '../helpers/pulled-pages.js';

interface Doc extends RepositoryEntity {
  title?: string;
}

let dir: string;
let file: string;
const open: LowdbLocalStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-pull-state-'));
  file = join(dir, 'store.json');
});
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(storeOptions: { compactAfterBytes?: number } = {}) {
  const store = await LowdbLocalStore.open(file, storeOptions);
  open.push(store);
  return store;
}
async function reopen(store: LowdbLocalStore, compactFirst = false) {
  if (compactFirst) await store.compact();
  await store.close();
  open.splice(open.indexOf(store), 1);
  return openStore();
}

const options = { conflicts: 'server-wins' as const, now: 5 };

function collection(store: LowdbLocalStore) {
  const local = store.collection<Doc>('doc');
  const { checkpoint, applyPulledPage } = local;
  if (!checkpoint || !applyPulledPage) throw new Error('lowdb collections take pulled pages');
  return {
    local,
    checkpoint: () => checkpoint.call(local),
    apply: (p: PulledPage) => applyPulledPage.call(local, p, options),
    ids: async () =>
      (await local.getAll({ includeDeleted: true })).map((d) => [d.id, d.version, d.syncPending]),
  };
}

describe.each([
  ['the journal', false],
  ['the snapshot', true],
])('LowdbLocalStore pull state across a reopen, from %s', (_, compact) => {
  it('keeps the checkpoint and the records of every page applied', async () => {
    let store = await openStore();
    await collection(store).apply(page([live('a', 1), live('b', 1)], 'c1'));
    await collection(store).apply(page([live('a', 2)], 'c2', { since: 'c1' }));
    store = await reopen(store, compact);
    const doc = collection(store);
    expect(await doc.checkpoint()).toBe('c2');
    expect(await doc.ids()).toEqual([
      ['b', 1, false],
      ['a', 2, false],
    ]);
  });

  it('remembers a reset in progress: the pull from the beginning after the reopen continues it, flag or not', async () => {
    let store = await openStore();
    await collection(store).apply(page([live('a', 1), live('b', 1), live('c', 1)], 'c1'));
    await new Repository<Doc>({ entityType: 'doc', local: collection(store).local }).save({ id: 'mine' });
    await collection(store).apply(page([live('a', 2)], 'r1', { reset: true, hasMore: true }));
    store = await reopen(store, compact);
    const doc = collection(store);
    expect(await doc.checkpoint()).toBeUndefined();
    // Pulled from the beginning again (the reset's progress was not kept), without saying it is a reset.
    expect(await doc.apply(page([live('a', 2), live('c', 1)], 'r9'))).toMatchObject({
      dropped: 1,
      echoes: 2,
    });
    expect(await doc.checkpoint()).toBe('r9');
    expect(await doc.ids()).toEqual([
      ['c', 1, false],
      ['mine', 1, true],
      ['a', 2, false],
    ]);
    store = await reopen(store, compact);
    expect(await collection(store).checkpoint()).toBe('r9');
  });

  it('refuses a late page after the reopen: the deleted record stays gone, the checkpoint and the files unchanged', async () => {
    let store = await openStore();
    await collection(store).apply(page([live('b', 1)], 'c1'));
    await collection(store).apply(page([tombstone('b', 2)], 'c2', { since: 'c1' }));
    store = await reopen(store, compact);
    const files = async () => [
      await readFile(file, 'utf8').catch(() => ''),
      await readFile(`${file}.journal`, 'utf8').catch(() => ''),
    ];
    const before = await files();
    for (const since of ['c0', 'c1', undefined]) {
      await expect(collection(store).apply(page([live('b', 1)], 'c1', { since }))).rejects.toBeInstanceOf(
        StalePageError,
      );
    }
    expect(await files()).toEqual(before);
    store = await reopen(store, compact);
    expect(await collection(store).checkpoint()).toBe('c2');
    // The deleted record is the server's synced tombstone, hidden; no late page brought it back.
    expect(await collection(store).ids()).toEqual([['b', 2, false]]);
    expect(await collection(store).local.get('b')).toBeUndefined();
    // The store still takes the page that follows it.
    await collection(store).apply(page([live('c', 1)], 'c3', { since: 'c2' }));
    expect(await collection(store).ids()).toEqual([
      ['b', 2, false],
      ['c', 1, false],
    ]);
  });

  it('keeps a pending tombstone until its ack, and removes it with the ack for good', async () => {
    let store = await openStore();
    const repo = new Repository<Doc>({ entityType: 'doc', local: collection(store).local });
    await repo.save({ id: 'a', title: 'a' });
    await collection(store).local.pending({ limit: 10, now: 0 });
    await collection(store).local.commit({ acks: [{ id: 'a', version: 1 }], now: 0 });
    await repo.delete('a');
    // Killed after the server applied the delete, before the local commit: the tombstone is still pending.
    store = await reopen(store, compact);
    expect(await collection(store).ids()).toEqual([['a', 2, true]]);
    expect((await collection(store).local.pending({ limit: 10, now: 0 })).items).toHaveLength(1);
    // The restarted push is acknowledged (the server holds that version) and the ack's own write removes it.
    await collection(store).local.commit({ acks: [{ id: 'a', version: 2 }], now: 0 });
    store = await reopen(store, compact);
    expect(await collection(store).ids()).toEqual([]);
  });
});

describe('LowdbLocalStore page lines', () => {
  it('drops a torn page line whole: neither its records nor its checkpoint', async () => {
    let store = await openStore();
    await collection(store).apply(page([live('a', 1)], 'c1'));
    await store.close();
    open.splice(0);
    const line = `${JSON.stringify({ op: 'page', c: 'doc', d: { put: [], removed: ['a'], checkpoint: 'c2', resetting: false } })}\n`;
    await appendFile(`${file}.journal`, line.slice(0, line.length - 10));
    store = await openStore();
    expect(await collection(store).checkpoint()).toBe('c1');
    expect(await collection(store).ids()).toEqual([['a', 1, false]]);
  });

  it('refuses a page line that would leave no checkpoint outside a reset', async () => {
    const store = await openStore();
    await collection(store).apply(page([live('a', 1)], 'c1'));
    await store.close();
    open.splice(0);
    const journal = await readFile(`${file}.journal`, 'utf8');
    await writeFile(`${file}.journal`, journal.replace('"checkpoint":"c1",', ''));
    await expect(openStore()).rejects.toThrow(/no checkpoint, and no reset is in progress/);
  });
});

describe('LowdbLocalStore compaction while pulling', () => {
  const size = async (path: string) => (await stat(path)).size;

  it('lets pulled pages grow the journal to three times the snapshot; the next other write compacts', async () => {
    let store = await openStore({ compactAfterBytes: 16 * 1024 });
    const { apply } = collection(store);
    let pageNumber = 0;
    /** One page of 20 new records after the last one, from its checkpoint. */
    const pullNext = async () => {
      pageNumber += 1;
      const changes = Array.from({ length: 20 }, (_, i) => live(`p${pageNumber}-${i}`, 1, 'x'.repeat(200)));
      const since = pageNumber === 1 ? undefined : `c${pageNumber - 1}`;
      await apply(page(changes, `c${pageNumber}`, { since, hasMore: true }));
      // A compaction runs beside later writes; the sizes below are of the files once it is done.
      await store.whenCompacted();
    };
    // The first compaction: the journal passed compactAfterBytes.
    while (store.stats.compactions === 0) await pullNext();
    const snapshot = await size(file);
    expect(snapshot).toBeGreaterThan(16 * 1024);
    // Pages go on well past the snapshot's size (where any other write compacts) without compacting.
    while ((await size(`${file}.journal`)) < 2 * snapshot) await pullNext();
    expect(store.stats.compactions).toBe(1);
    // Until the journal passes three times the snapshot.
    let journalBefore = 0;
    while (store.stats.compactions === 1) {
      journalBefore = await size(`${file}.journal`);
      await pullNext();
    }
    expect(journalBefore).toBeGreaterThan((PULLED_PAGE_JOURNAL_RATIO - 0.5) * snapshot);
    expect(journalBefore).toBeLessThanOrEqual(PULLED_PAGE_JOURNAL_RATIO * snapshot);

    // Past the snapshot again: a save (not a page) compacts at once.
    const second = await size(file);
    while ((await size(`${file}.journal`)) <= second) await pullNext();
    expect(store.stats.compactions).toBe(2);
    await new Repository<Doc>({ entityType: 'doc', local: store.collection<Doc>('doc') }).save({
      id: 'local',
      title: 'a save',
    });
    await store.whenCompacted();
    expect(store.stats.compactions).toBe(3);
    expect((await size(`${file}.journal`)) < 1024).toBe(true);

    const pulled = pageNumber * 20;
    await pullNext();
    store = await reopen(store);
    expect(await collection(store).checkpoint()).toBe(`c${pageNumber}`);
    expect((await collection(store).ids()).length).toBe(pulled + 20 + 1);
  });
});
