// Several tabs on one IndexedDB database: each tab is an IndexedDbLocalStore opened on the same IDBFactory and name.
// idb checks what it wraps against the IndexedDB classes, which Node lacks: fake-indexeddb's, as globals.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import fc from 'fast-check';
import { openDB } from 'idb';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type LocalChange,
  type LocalDataSource,
  type PulledChange,
  Repository,
  StalePageError,
} from '../../src/index.js';
import { IndexedDbLocalStore, type StoreAnnouncements } from '../../src/indexeddb.js';
import { recordDigest, serverContent } from '../../src/protocol/record-digest.js';
import { live, page } from '../helpers/pulled-pages.js';
import { type Doc, persistedView } from './local-data-source.contract.js';

const NAME = 'tabs';
const serverWins = { conflicts: 'server-wins' as const, now: 1 };

const open: IndexedDbLocalStore[] = [];
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

/** A BroadcastChannel stand-in: each message reaches every other connection, in a later task. */
function announcementHub() {
  const listeners = new Set<(message: unknown) => void>();
  return {
    connect(): StoreAnnouncements {
      let mine: ((message: unknown) => void) | undefined;
      return {
        post: (message) => {
          for (const listener of listeners) {
            if (listener !== mine) setTimeout(() => listener(structuredClone(message)), 0);
          }
        },
        subscribe: (listener) => {
          mine = listener;
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      };
    },
  };
}

async function openTab(
  indexedDB: IDBFactory,
  options: { announcements?: StoreAnnouncements | null; changeLogLength?: number } = {},
) {
  const store = await IndexedDbLocalStore.open({
    name: NAME,
    indexedDB,
    announcements: options.announcements ?? null,
    changeLogLength: options.changeLogLength,
  });
  open.push(store);
  return store;
}

/** A tab's repository of docs, on a clock that every tab shares. */
function repositoryOf(store: IndexedDbLocalStore, clock = () => 1_000) {
  return new Repository<Doc>({ entityType: 'doc', local: store.collection<Doc>('doc'), now: clock });
}

/** The view a fresh connection shows (the database's truth). */
async function freshView(indexedDB: IDBFactory) {
  const store = await IndexedDbLocalStore.open({ name: NAME, indexedDB, announcements: null });
  try {
    return await persistedView(store.collection<Doc>('doc'));
  } finally {
    await store.close();
  }
}

/** The fingerprint of the version `version` of doc `id` saved with `title` by a repository at time 1,000. */
const digestOf = (id: string, title: string, version: number) =>
  recordDigest({ id, title, createdAt: 1_000, updatedAt: 1_000, version });

/** Resolves with the next change a collection tells its subscribers of that matches. */
function nextChange(local: LocalDataSource<Doc>, matches: (change: LocalChange) => boolean) {
  return new Promise<LocalChange>((resolve) => {
    const subscription = local.subscribe?.((change) => {
      if (!matches(change)) return;
      subscription?.unsubscribe();
      resolve(change);
    });
  });
}

describe('IndexedDbLocalStore with several tabs on one database', () => {
  it('two tabs saving one record in turn write versions 1, 2, 3, 4, each on top of the last (no lost update)', async () => {
    const indexedDB = new IDBFactory();
    const tabs = [await openTab(indexedDB), await openTab(indexedDB)];
    const repos = tabs.map((tab) => repositoryOf(tab));
    const titles = ['A1', 'B1', 'A2', 'B2'];
    for (const [i, title] of titles.entries()) {
      // Each tab saves from what it shows: the other tab's last save has not reached its memory. The version the
      // save returns is the one stored, not the one the stale read suggested.
      await expect(repos[i % 2]?.save({ id: 'n1', title })).resolves.toMatchObject({ version: i + 1, title });
    }
    const stored = (await freshView(indexedDB)).records;
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ id: 'n1', title: 'B2', version: 4, syncPending: true });
    // The versions the record went through, each the content saved in that turn.
    expect(stored[0]?.ownVersions).toEqual(
      titles.slice(0, 3).map((title, i) => ({ version: i + 1, digest: digestOf('n1', title, i + 1) })),
    );
  });

  it('two tabs saving one record at the same moment never write two records of one version', async () => {
    const indexedDB = new IDBFactory();
    const tabs = [await openTab(indexedDB), await openTab(indexedDB)];
    const [a, b] = tabs.map((tab) => repositoryOf(tab));
    if (!a || !b) throw new Error('two tabs');
    await Promise.all([a.save({ id: 'n1', title: 'A1' }), b.save({ id: 'n1', title: 'B1' })]);
    await Promise.all([a.save({ id: 'n1', title: 'A2' }), b.save({ id: 'n1', title: 'B2' })]);
    const [stored] = (await freshView(indexedDB)).records;
    expect(stored?.version).toBe(4);
    const own = stored?.ownVersions ?? [];
    expect(own.map((v) => v.version)).toEqual([1, 2, 3]);
    // Versions 1 and 2 are the first two saves in some order, 3 and 4 the next two; each content kept once.
    const contentOf = (version: number, digest: string | undefined) =>
      titles(version).find((title) => digestOf('n1', title, version) === digest);
    const titles = (version: number) => (version <= 2 ? ['A1', 'B1'] : ['A2', 'B2']);
    const history = [
      ...own.map((v) => contentOf(v.version, v.digest)),
      contentOf(4, recordDigest(stored ?? {})),
    ];
    expect(new Set(history.slice(0, 2))).toEqual(new Set(['A1', 'B1']));
    expect(new Set(history.slice(2))).toEqual(new Set(['A2', 'B2']));
  });

  it("gives order numbers unique across tabs: pending() in every tab is the order of the tabs' changes", async () => {
    const indexedDB = new IDBFactory();
    const [a, b] = [await openTab(indexedDB), await openTab(indexedDB)];
    const docsA = a.collection<Doc>('doc');
    const docsB = b.collection<Doc>('doc');
    const doc = (id: string, version = 1): Doc => ({
      id,
      title: id,
      createdAt: 1,
      updatedAt: 1,
      version,
      syncPending: true,
    });
    await docsA.save(doc('x'));
    await docsB.save(doc('y'));
    await docsA.save(doc('z'));
    await docsB.save(doc('x', 2));
    await Promise.all([a.refresh(), b.refresh()]);
    for (const docs of [docsA, docsB]) {
      const pending = await docs.pending({ limit: 10, now: 0 });
      expect(pending.items.map((item) => `${item.id}@${item.version}`)).toEqual(['y@1', 'z@1', 'x@2']);
    }
    expect((await freshView(indexedDB)).pending.map((item) => item.id)).toEqual(['y', 'z', 'x']);
  });

  it("the syncing tab's acks, pulled page and checkpoint reach the other tab, whose edit in flight stays pending on top", async () => {
    const indexedDB = new IDBFactory();
    const [syncing, editing] = [await openTab(indexedDB), await openTab(indexedDB)];
    const docsA = syncing.collection<Doc>('doc');
    const docsB = editing.collection<Doc>('doc');
    const repoB = repositoryOf(editing);
    await repoB.saveMany([
      { id: 'n1', title: 'first' },
      { id: 'm1', title: 'm' },
    ]);
    // A pushes what B saved; B edits n1 while the push is in flight.
    await syncing.refresh();
    const inFlight = await docsA.pending({ limit: 10, now: 0 });
    expect(inFlight.items.map((item) => `${item.id}@${item.version}`)).toEqual(['n1@1', 'm1@1']);
    await repoB.save({ id: 'n1', title: 'second' });
    await docsA.applyPulledPage?.(page([live('p1', 3)], 'c1'), serverWins);
    const acked = await docsA.commit({
      acks: inFlight.items.map(({ id, version }) => ({ id, version })),
      now: 0,
    });
    expect(acked).toMatchObject({ syncedIds: ['m1'], stale: ['n1'] });

    // B has not heard of any of it: its next write plans against the database, not its memory.
    expect(await docsB.get('m1')).toMatchObject({ syncPending: true });
    await expect(docsB.applyPulledPage?.(page([live('p1', 2)], 'c0'), serverWins)).rejects.toThrow(
      StalePageError,
    );
    expect(await docsB.checkpoint?.()).toBe('c1');
    expect(await docsB.get('m1')).toMatchObject({ version: 1, syncPending: false });
    expect(await docsB.get('n1')).toMatchObject({
      version: 2,
      title: 'second',
      baseVersion: 1,
      syncPending: true,
    });
    expect(await docsB.get('p1')).toMatchObject({ version: 3, syncPending: false });
    // A save from what B showed before (m1 pending) is built on the acknowledged version, not written back pending.
    await repoB.save({ id: 'm1', title: 'm, edited' });
    expect(await docsB.get('m1')).toMatchObject({ version: 2, baseVersion: 1, syncPending: true });

    await syncing.refresh();
    const truth = await freshView(indexedDB);
    expect(await persistedView(docsA)).toEqual(truth);
    expect(await persistedView(docsB)).toEqual(truth);
    expect(truth.pending.map((item) => `${item.id}@${item.version}`)).toEqual(['n1@2', 'm1@2']);
    expect(truth.checkpoint).toBe('c1');
  });

  it("an announced write reaches the other tab's memory and its subscribers as an 'external' change", async () => {
    const indexedDB = new IDBFactory();
    const hub = announcementHub();
    const a = await openTab(indexedDB, { announcements: hub.connect() });
    const b = await openTab(indexedDB, { announcements: hub.connect() });
    const docsA = a.collection<Doc>('doc');
    const docsB = b.collection<Doc>('doc');
    const saved = nextChange(docsB, (change) => change.source === 'external');
    await repositoryOf(a).saveMany([
      { id: 'n1', title: 'one' },
      { id: 'n2', title: 'two' },
    ]);
    expect(await saved).toEqual({ entityType: 'doc', ids: ['n1', 'n2'], source: 'external' });
    expect(await docsB.get('n1')).toMatchObject({ title: 'one', syncPending: true });

    const pulled = nextChange(docsB, (change) => change.source === 'external');
    await docsA.applyPulledPage?.(page([live('p1', 1)], 'c1'), serverWins);
    expect(await pulled).toEqual({ entityType: 'doc', ids: ['p1'], source: 'external' });
    expect(await docsB.checkpoint?.()).toBe('c1');
    const acked = nextChange(docsB, (change) => change.source === 'external');
    await docsA.commit({ acks: [{ id: 'n2', version: 1 }], now: 0 });
    expect(await acked).toEqual({ entityType: 'doc', ids: ['n2'], source: 'external' });
    expect(await docsB.get('n2')).toMatchObject({ syncPending: false });

    // The tab's own writes are 'local' to it, never 'external'.
    const own: LocalChange[] = [];
    docsA.subscribe?.((change) => own.push(change));
    await docsA.save({ ...(await docsA.get('n1')), title: 'again', version: 2 } as Doc);
    expect(own).toEqual([{ entityType: 'doc', ids: ['n1'], source: 'local' }]);
  });

  it('without announcements, another tab catches up at its next write or refresh()', async () => {
    const indexedDB = new IDBFactory();
    const [a, b] = [await openTab(indexedDB), await openTab(indexedDB)];
    const docsB = b.collection<Doc>('doc');
    const changes: LocalChange[] = [];
    docsB.subscribe?.((change) => changes.push(change));
    await repositoryOf(a).save({ id: 'n1', title: 'one' });
    expect(await docsB.get('n1')).toBeUndefined();
    await b.refresh();
    expect(await docsB.get('n1')).toMatchObject({ title: 'one' });
    expect(changes).toEqual([{ entityType: 'doc', ids: ['n1'], source: 'external' }]);
    await repositoryOf(a).save({ id: 'n2', title: 'two' });
    await repositoryOf(b).save({ id: 'n3', title: 'three' });
    expect(changes.slice(1)).toEqual([
      { entityType: 'doc', ids: ['n2'], source: 'external' },
      { entityType: 'doc', ids: ['n3'], source: 'local' },
    ]);
    expect(await persistedView(docsB)).toEqual(await freshView(indexedDB));
  });

  it('a tab that missed announcements (asleep) catches up when its page wakes (visibilitychange, resume, pageshow)', async () => {
    const indexedDB = new IDBFactory();
    const page = new EventTarget();
    const a = await openTab(indexedDB);
    const b = await IndexedDbLocalStore.open({
      name: NAME,
      indexedDB,
      announcements: null,
      wakeEvents: [page],
    });
    open.push(b);
    const docsB = b.collection<Doc>('doc');
    const told: LocalChange[] = [];
    docsB.subscribe?.((change) => told.push(change));
    for (const [i, event] of ['visibilitychange', 'resume', 'pageshow'].entries()) {
      await repositoryOf(a).save({ id: `n${i}`, title: event });
      expect(await docsB.get(`n${i}`)).toBeUndefined();
      page.dispatchEvent(new Event(event));
      await expect.poll(() => docsB.get(`n${i}`)).toMatchObject({ title: event });
    }
    expect(told.map((change) => [change.source, change.ids])).toEqual([
      ['external', ['n0']],
      ['external', ['n1']],
      ['external', ['n2']],
    ]);
    await b.close();
    // Closed: it stops listening.
    page.dispatchEvent(new Event('resume'));
  });

  it('a tab further behind than the change log reloads every type whole, and shows what a reopen shows', async () => {
    const indexedDB = new IDBFactory();
    const a = await openTab(indexedDB, { changeLogLength: 3 });
    const b = await openTab(indexedDB, { changeLogLength: 3 });
    const repoA = repositoryOf(a);
    await repoA.saveMany([
      { id: 'gone', title: 'x' },
      { id: 'kept', title: 'k' },
    ]);
    await b.refresh();
    const docsA = a.collection<Doc>('doc');
    await docsA.commit({ acks: [{ id: 'kept', version: 1 }], now: 0 });
    await docsA.delete('gone');
    for (const title of ['1', '2', '3', '4']) await repoA.save({ id: 'busy', title });
    await a
      .collection<Doc>('other')
      .save({ id: 'o', title: 'o', createdAt: 1, updatedAt: 1, version: 1, syncPending: true });
    globalThis.indexedDB = indexedDB;
    const raw = await openDB(NAME);
    const kept = await raw.getAllKeys('log');
    raw.close();
    expect(kept).toEqual([6, 7, 8]);

    const changes: LocalChange[] = [];
    b.collection<Doc>('doc').subscribe?.((change) => changes.push(change));
    b.collection<Doc>('other').subscribe?.((change) => changes.push(change));
    await b.refresh();
    expect(await persistedView(b.collection<Doc>('doc'))).toEqual(await freshView(indexedDB));
    expect(await b.collection<Doc>('doc').get('gone', { includeDeleted: true })).toBeUndefined();
    expect(await b.collection<Doc>('other').get('o')).toMatchObject({ title: 'o' });
    expect(changes.map((change) => [change.entityType, [...change.ids].sort()])).toEqual([
      ['doc', ['busy', 'gone', 'kept']],
      ['other', ['o']],
    ]);
    // And it writes on from there.
    await repositoryOf(b).save({ id: 'busy', title: '5' });
    expect(await b.collection<Doc>('doc').get('busy')).toMatchObject({ version: 5, title: '5' });
  });

  it('opens a version-1 database (written before several tabs) with every row kept, and orders on after its last', async () => {
    const indexedDB = new IDBFactory();
    globalThis.indexedDB = indexedDB;
    const v1 = await openDB(NAME, 1, {
      upgrade(db) {
        db.createObjectStore('records', { keyPath: ['type', 'id'] }).createIndex('order', 'order');
        db.createObjectStore('failures', { keyPath: ['type', 'id'] });
        db.createObjectStore('pull', { keyPath: 'type' });
      },
    });
    const entity = (id: string, syncPending: boolean): Doc => ({
      id,
      title: id,
      createdAt: 1,
      updatedAt: 1,
      version: 1,
      syncPending,
    });
    await v1.put('records', { type: 'doc', id: 'b', order: 7, entity: entity('b', true) });
    await v1.put('records', { type: 'doc', id: 'a', order: 3, entity: entity('a', true) });
    await v1.put('records', { type: 'doc', id: 's', order: 5, entity: entity('s', false) });
    await v1.put('failures', {
      type: 'doc',
      id: 'a',
      record: {
        id: 'a',
        version: 1,
        attempts: 1,
        lastError: 'busy',
        retryable: true,
        nextAttemptAt: 50,
        deadLettered: false,
        failedAt: 0,
      },
    });
    await v1.put('pull', { type: 'doc', checkpoint: 'c9', resetting: false });
    v1.close();

    const [a, b] = [await openTab(indexedDB), await openTab(indexedDB)];
    const docs = a.collection<Doc>('doc');
    expect((await docs.getAll()).map((record) => record.id)).toEqual(['a', 's', 'b']);
    expect((await docs.pending({ limit: 10, now: 100 })).items.map((item) => item.id)).toEqual(['a', 'b']);
    expect(await docs.failures()).toMatchObject([{ id: 'a', attempts: 1 }]);
    expect(await docs.checkpoint?.()).toBe('c9');
    await docs.save({ ...entity('new', true) });
    await b.collection<Doc>('doc').save({ ...entity('a', true), version: 2 });
    await a.refresh();
    expect((await docs.pending({ limit: 10, now: 100 })).items.map((item) => item.id)).toEqual([
      'b',
      'new',
      'a',
    ]);
    const raw = await openDB(NAME);
    const orders = (await raw.getAll('records')).map((row) => [row.id, row.order]);
    raw.close();
    expect(Object.fromEntries(orders)).toEqual({ a: 9, b: 7, new: 8, s: 5 });
  });

  it('random interleavings of saves, deletes, pushes and pulled pages across 2-3 tabs end with every tab showing the database, no acknowledged version lost', async () => {
    const tab = fc.nat(2);
    const id = fc.constantFrom('a', 'b', 'c');
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('save' as const), tab, id, title: fc.constantFrom('x', 'y', 'z') }),
      fc.record({ kind: fc.constant('delete' as const), tab, id }),
      fc.record({ kind: fc.constant('pull' as const), tab }),
      fc.record({ kind: fc.constant('refresh' as const), tab }),
    );
    // A push reads pending items from its tab's memory, stale or not, and may run beside other tabs' saves and
    // deletes: a record saved and deleted in another tab may be in flight. The store never removes a delete at once
    // (any tab may have pushed the record), so the server always gets the tombstone.
    const step = fc.array(fc.oneof(edit, fc.record({ kind: fc.constant('push' as const), tab })), {
      minLength: 1,
      maxLength: 3,
    });
    let runs = 0;
    let operations = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 3 }),
        fc.array(step, { maxLength: 14 }),
        async (count, steps) => {
          runs += 1;
          const indexedDB = new IDBFactory();
          const hub = announcementHub();
          let clock = 1_000;
          const now = () => ++clock;
          const tabs: IndexedDbLocalStore[] = [];
          // Every other tab hears announcements; the rest catch up at their writes or refresh().
          for (let i = 0; i < count; i += 1) {
            tabs.push(await openTab(indexedDB, { announcements: i % 2 === 0 ? hub.connect() : null }));
          }
          const repos = tabs.map((store) => repositoryOf(store, now));
          const docs = tabs.map((store) => store.collection<Doc>('doc'));
          /** The server: every version it accepted of each record, by fingerprint, and its latest record. */
          const accepted = new Map<string, Map<number, string>>();
          const latest = new Map<string, Record<string, unknown>>();
          const lost: string[] = [];
          let checkpoints = 0;
          // The collection pulls from the start, so an acknowledged tombstone is kept and a record saved again counts
          // on from it (a push-only one forgets it, and would reuse version 1: not a tabs matter).
          await docs[0]?.applyPulledPage?.(page([], `c${++checkpoints}`), serverWins);
          const run = async (op: { kind: string; tab: number; id?: string; title?: string }) => {
            operations += 1;
            const t = op.tab % count;
            const local = docs[t] as LocalDataSource<Doc>;
            const repo = repos[t] as Repository<Doc>;
            switch (op.kind) {
              case 'save':
                await repo.save({ id: op.id, title: op.title ?? '' });
                return;
              case 'delete':
                await repo.delete(op.id ?? '');
                return;
              case 'refresh':
                await tabs[t]?.refresh();
                return;
              case 'push': {
                const { items } = await local.pending({ limit: 10, now: Number.MAX_SAFE_INTEGER });
                for (const item of items) {
                  const versions = accepted.get(item.id) ?? new Map<number, string>();
                  accepted.set(item.id, versions);
                  const digest = recordDigest(item);
                  const known = versions.get(item.version);
                  if (known !== undefined && known !== digest) lost.push(`${item.id}@${item.version}`);
                  versions.set(item.version, digest);
                  const current = latest.get(item.id);
                  if (!current || (current.version as number) <= item.version)
                    latest.set(item.id, serverContent(item));
                }
                await local.commit({ acks: items.map(({ id, version }) => ({ id, version })), now: 0 });
                return;
              }
              case 'pull': {
                const changes: PulledChange[] = [...latest.values()].map((record) => ({
                  id: record.id as string,
                  version: record.version as number,
                  deleted: record.deleted === true,
                  item: { ...record, syncPending: false },
                }));
                const since = await local.checkpoint?.();
                try {
                  await local.applyPulledPage?.(page(changes, `c${++checkpoints}`, { since }), serverWins);
                } catch (error) {
                  // Pulled from a checkpoint another tab has moved on from: refused whole, as a late page is.
                  if (!(error instanceof StalePageError)) throw error;
                }
                return;
              }
            }
          };
          for (const group of steps) await Promise.all(group.map(run));
          await Promise.all(tabs.map((store) => store.refresh()));
          const truth = await freshView(indexedDB);
          for (const local of docs) expect(await persistedView(local)).toEqual(truth);
          expect(lost).toEqual([]);
          // Every version the server acknowledged is still the record's, or below a later one.
          for (const [id, versions] of accepted) {
            const stored = truth.records.find((record) => record.id === id);
            expect(stored?.version ?? 0).toBeGreaterThanOrEqual(Math.max(...versions.keys()));
          }
          for (const store of tabs) await store.close();
          open.splice(0);
        },
      ),
      { numRuns: 1_000 },
    );
    console.log(`indexeddb tabs property: ${runs} runs, ${operations} operations`);
  });
});
