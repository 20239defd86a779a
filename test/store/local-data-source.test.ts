import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// idb checks what it wraps against the IndexedDB classes, which Node lacks: fake-indexeddb's, as globals.
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalDataSource, MemoryLocalDataSource, Repository } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import {
  type Doc,
  indexedDbStoreFactory,
  localDataSourceContract,
  type StoreFactory,
  type StoreTraits,
} from './local-data-source.contract.js';

// The cases live in local-data-source.contract.ts: test/browser-chromium/indexeddb-store.test.ts runs the same ones
// on the IndexedDB store in real Chromium.
const implementations: [string, StoreFactory, StoreTraits?][] = [
  ['MemoryLocalDataSource', async () => new MemoryLocalDataSource<Doc>()],
  [
    'LowdbLocalStore',
    async (cleanup) => {
      const dir = await mkdtemp(join(tmpdir(), 'actorsync-store-'));
      const store = await LowdbLocalStore.open(join(dir, 'store.json'));
      cleanup(async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      });
      return store.collection<Doc>('doc');
    },
  ],
  [
    'IndexedDbLocalStore',
    indexedDbStoreFactory(expect, () => ({ name: 'contract', indexedDB: new IDBFactory() })),
    { sharedWriters: true },
  ],
];

/** Node's uncaught errors while `body` runs: a store reports a listener's error as one (`setTimeout` and throw). */
async function collectUncaught(body: () => Promise<void>): Promise<unknown[]> {
  const thrown: unknown[] = [];
  const onUncaught = (error: unknown) => thrown.push(error);
  process.on('uncaughtException', onUncaught);
  try {
    await body();
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  return thrown;
}

localDataSourceContract({ describe, it, afterEach, expect, collectUncaught }, implementations);

it('Repository.subscribe on a store that cannot report changes throws a typed error naming the type', () => {
  const memory = new MemoryLocalDataSource<Doc>();
  // A custom store: every method but subscribe.
  const bare: LocalDataSource<Doc> = {
    get: (id, options) => memory.get(id, options),
    getAll: (options) => memory.getAll(options),
    save: (entity) => memory.save(entity),
    saveMany: (entities) => memory.saveMany(entities),
    delete: (id) => memory.delete(id),
    outbox: (now) => memory.outbox(now),
    pending: (query) => memory.pending(query),
    commit: (commit) => memory.commit(commit),
    failures: () => memory.failures(),
    requeueFailures: (ids) => memory.requeueFailures(ids),
  };
  const repository = new Repository<Doc>({ entityType: 'doc', local: bare });
  expect(() => repository.subscribe(() => {})).toThrow(
    expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('"doc"') }),
  );
});
