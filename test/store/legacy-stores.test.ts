/**
 * Stores written by the version before issue 10 (commit 089d3b1) open with today's code, keep everything they
 * held, and keep it through a compaction and a reopen. That version accepted any collection name (only
 * `Repository` checked names) and wrote failure records with `null` for a non-finite next attempt or clock, so
 * refusing either on read would lock its users out of their data. The fixtures in test/fixtures/legacy-089d3b1
 * were written by that version's own store code (see generate.ts there), with `*.view.json` holding what it read
 * back from them.
 */
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidEntityError, type RepositoryEntity } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { useTempDir } from '../helpers/temp-dir.js';

const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'legacy-089d3b1');

interface LegacyView {
  now: number;
  collections: {
    name: string;
    records: RepositoryEntity[];
    failures: Record<string, unknown>[];
    outbox: { total: number; pending: number; nextDueAt?: number };
  }[];
}

let file: string;
useTempDir('actorsync-legacy-', (created) => (file = join(created, 'store.json')));

async function install(name: string): Promise<LegacyView> {
  await copyFile(join(FIXTURES, `${name}.snapshot`), file);
  await copyFile(join(FIXTURES, `${name}.snapshot.journal`), `${file}.journal`);
  return JSON.parse(await readFile(join(FIXTURES, `${name}.view.json`), 'utf8')) as LegacyView;
}

/**
 * What today's store must show for what the old one showed. A next attempt stored as null (a non-finite delay)
 * is no next attempt, so the item is due, as it was for the old version after a reopen; a clock stored as null
 * reads as 0, which is where the old version sorted it.
 */
function expected(view: LegacyView): LegacyView['collections'] {
  return view.collections.map((collection) => ({
    ...collection,
    failures: collection.failures.map(({ nextAttemptAt, failedAt, ...rest }) => ({
      ...rest,
      ...(nextAttemptAt === null ? {} : { nextAttemptAt }),
      failedAt: failedAt ?? 0,
    })),
    outbox: {
      total: collection.outbox.total,
      pending: collection.outbox.pending,
      nextDueAt: collection.outbox.nextDueAt,
    },
  }));
}

async function viewOf(store: LowdbLocalStore, now: number): Promise<LegacyView['collections']> {
  const collections: LegacyView['collections'] = [];
  for (const name of store.entityTypes) {
    const local = store.collection(name);
    const { total, pending, nextDueAt } = await local.outbox(now);
    collections.push({
      name,
      records: await local.getAll(),
      failures: (await local.failures()) as unknown as Record<string, unknown>[],
      outbox: { total, pending, nextDueAt },
    });
  }
  return collections;
}

describe.each([
  ['compacted', 'a compacted snapshot with a journal after it'],
  ['journal', 'a journal only, with a "__proto__" collection'],
])('a store of 089d3b1: %s (%s)', (name) => {
  it('opens, writable and read-only, with every collection, record and failure record it held', async () => {
    const view = await install(name);
    for (const readOnly of [false, true]) {
      const store = await LowdbLocalStore.open(file, { readOnly });
      expect(store.entityTypes).toEqual(view.collections.map((collection) => collection.name));
      expect(await viewOf(store, view.now)).toEqual(expected(view));
      await store.close();
    }
  });

  it('keeps all of it through a compaction and a reopen, and twice over', async () => {
    const view = await install(name);
    for (let round = 0; round < 2; round += 1) {
      const store = await LowdbLocalStore.open(file);
      await store.compact();
      await store.close();
      const reopened = await LowdbLocalStore.open(file, { readOnly: true });
      expect(await viewOf(reopened, view.now)).toEqual(expected(view));
      await reopened.close();
    }
  });

  it('its old collections take new writes; a new collection with such a name is still refused', async () => {
    const view = await install(name);
    const store = await LowdbLocalStore.open(file);
    const names = view.collections.map((collection) => collection.name);
    for (const entityType of names) {
      await store.collection(entityType).save({
        id: 'new',
        createdAt: 1,
        updatedAt: 1,
        version: 1,
        syncPending: true,
      });
    }
    expect(() => store.collection('other events')).toThrow(InvalidEntityError);
    await store.compact();
    await store.close();
    const reopened = await LowdbLocalStore.open(file);
    expect(reopened.entityTypes).toEqual(names);
    for (const entityType of names) {
      expect(await reopened.collection(entityType).get('new')).toMatchObject({
        id: 'new',
        syncPending: true,
      });
    }
    await reopened.close();
  });
});

describe('names and ids an earlier version could write, in hand-written files', () => {
  /** Names that version kept in a journal ("__proto__" too) or a snapshot; today's compaction keeps them all. */
  const NAMES = [
    '__proto__',
    '',
    'a/b',
    'x'.repeat(65),
    'a\u0000b',
    'constructor\n',
    'constructor',
    'toString',
  ];
  const entity = (id: string) => ({ id, createdAt: 1, updatedAt: 2, version: 3, syncPending: true });
  const failure = (id: string) => ({
    id,
    version: 3,
    attempts: 1,
    lastError: 'busy',
    retryable: true,
    nextAttemptAt: null,
    deadLettered: false,
    failedAt: null,
  });
  const IDS = ['__proto__', 'constructor', 'a'];

  async function expectAllThere(readOnly: boolean) {
    const store = await LowdbLocalStore.open(file, { readOnly });
    expect([...store.entityTypes].sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) {
      const local = store.collection(name);
      expect((await local.getAll()).map((record) => record.id).sort()).toEqual([...IDS].sort());
      expect(await local.failures()).toEqual([
        { ...failure('__proto__'), nextAttemptAt: undefined, failedAt: 0 },
      ]);
      // No next attempt: due now, not held back forever.
      expect(await local.outbox(0)).toMatchObject({ total: 3, pending: 3 });
    }
    await store.close();
    expect(({} as Record<string, unknown>).version).toBeUndefined();
  }

  it.each([
    ['a snapshot', 'snapshot'],
    ['a journal', 'journal'],
  ])('in %s: they open, writable and read-only, and survive a compaction and a reopen', async (_, where) => {
    // Without a prototype, so "__proto__" is written as a key like any other.
    const keyed = (entries: [string, object][]) =>
      Object.assign(Object.create(null), Object.fromEntries(entries));
    if (where === 'snapshot') {
      const collections = keyed(
        NAMES.map((name) => [
          name,
          {
            records: keyed(IDS.map((id) => [id, entity(id)])),
            failures: keyed([['__proto__', failure('__proto__')]]),
          },
        ]),
      );
      await writeFile(
        file,
        JSON.stringify({ format: 'actorsync-store', version: 1, generation: 4, collections }),
      );
    } else {
      const lines: object[] = [{ format: 'actorsync-journal', generation: 0 }];
      for (const name of NAMES) {
        const d = { synced: [], stale: [], replaced: [], failures: [failure('__proto__')] };
        lines.push({ op: 'put', c: name, e: IDS.map(entity) }, { op: 'commit', c: name, d });
      }
      await writeFile(`${file}.journal`, lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    }
    await expectAllThere(true);
    await expectAllThere(false);
    const store = await LowdbLocalStore.open(file);
    await store.compact();
    await store.close();
    await expectAllThere(true);
    await expectAllThere(false);
  });
});

describe('failure records an earlier version wrote, under an ordinary name', () => {
  const record = { id: 'a', createdAt: 1, updatedAt: 2, version: 1, syncPending: true };
  const written = {
    id: 'a',
    version: 1,
    attempts: 1,
    lastError: 'busy',
    retryable: true,
    deadLettered: false,
  };
  // A retry delay of Infinity or NaN and a NaN clock: JSON wrote each as null.
  it.each([
    ['a null next attempt', { ...written, nextAttemptAt: null, failedAt: 5 }, 5],
    ['a null clock', { ...written, nextAttemptAt: null, failedAt: null }, 0],
  ])(
    '%s: opens from a snapshot and from a journal, due now, and survives a compaction',
    async (_, failure, at) => {
      const snapshot = {
        format: 'actorsync-store',
        version: 1,
        generation: 1,
        collections: { doc: { records: { a: record }, failures: { a: failure } } },
      };
      const journal = [
        { format: 'actorsync-journal', generation: 0 },
        { op: 'put', c: 'doc', e: [record] },
        { op: 'commit', c: 'doc', d: { synced: [], stale: [], replaced: [], failures: [failure] } },
      ];
      for (const source of ['snapshot', 'journal']) {
        await rm(`${file}.journal`, { force: true });
        await rm(file, { force: true });
        if (source === 'snapshot') await writeFile(file, JSON.stringify(snapshot));
        else await writeFile(`${file}.journal`, journal.map((line) => `${JSON.stringify(line)}\n`).join(''));
        for (const compact of [false, true]) {
          const store = await LowdbLocalStore.open(file);
          const local = store.collection('doc');
          expect(await local.failures()).toEqual([{ ...written, nextAttemptAt: undefined, failedAt: at }]);
          expect(await local.outbox(0)).toMatchObject({ total: 1, pending: 1, nextDueAt: undefined });
          expect((await local.pending({ limit: 10, now: 0 })).items.map((item) => item.id)).toEqual(['a']);
          if (compact) await store.compact();
          await store.close();
        }
      }
    },
  );
});
