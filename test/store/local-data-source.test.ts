import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidEntityError,
  type LocalDataSource,
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';

interface Doc extends RepositoryEntity {
  title: string;
  tags?: string[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

type Factory = () => Promise<LocalDataSource<Doc>>;
const implementations: [string, Factory][] = [
  ['MemoryLocalDataSource', async () => new MemoryLocalDataSource<Doc>()],
  [
    'LowdbLocalStore',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'actorsync-store-'));
      const store = await LowdbLocalStore.open(join(dir, 'store.json'));
      cleanups.push(async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      });
      return store.collection<Doc>('doc');
    },
  ],
];

async function makeStoreWith(factory: Factory) {
  let clock = 1_000;
  const local = await factory();
  const repository = new Repository<Doc>({ entityType: 'doc', local, now: () => clock });
  return { local, repository, tick: (ms = 1) => (clock += ms) };
}

const policy = { maxItemAttempts: 3, retryDelayMs: () => 1_000 };

describe.each(implementations)('Repository over %s', (_, factory) => {
  const makeStore = () => makeStoreWith(factory);
  it('sets createdAt once, bumps version and updatedAt on every save, and marks the record pending', async () => {
    const { repository, tick } = await makeStore();
    const first = await repository.save({ id: 'd1', title: 'a' });
    expect(first).toEqual({
      id: 'd1',
      title: 'a',
      createdAt: 1_000,
      updatedAt: 1_000,
      version: 1,
      syncPending: true,
    });
    tick(5);
    const second = await repository.save({ id: 'd1', title: 'b' });
    expect(second).toMatchObject({ createdAt: 1_000, updatedAt: 1_005, version: 2, title: 'b' });
    expect(await repository.pendingCount()).toBe(1);
    const generated = await repository.save({ title: 'no id given' });
    expect(generated.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a bad entity type name', () => {
    expect(() => new Repository({ entityType: '../etc', local: new MemoryLocalDataSource() })).toThrow(
      InvalidEntityError,
    );
  });
});

describe.each(implementations)('%s (the LocalDataSource contract)', (_, factory) => {
  const makeStore = () => makeStoreWith(factory);
  it('pages pending items in change order, bounded by the run high-water mark', async () => {
    const { local, repository } = await makeStore();
    await repository.saveMany(['a', 'b', 'c', 'd'].map((id) => ({ id, title: id })));
    const { total, highWater } = await local.outbox(0);
    expect(total).toBe(4);
    await repository.save({ id: 'b', title: 'edited' });
    await repository.save({ id: 'e', title: 'new' });
    const page1 = await local.pending({ limit: 2, upTo: highWater, now: 0 });
    expect(page1.items.map((i) => i.id)).toEqual(['a', 'c']);
    const page2 = await local.pending({ limit: 2, after: page1.next, upTo: highWater, now: 0 });
    // b and e changed after the high-water mark: they belong to the next run.
    expect(page2).toEqual({ items: [expect.objectContaining({ id: 'd' })], next: undefined });
    const nextRun = await local.pending({ limit: 10, now: 0 });
    expect(nextRun.items.map((i) => i.id)).toEqual(['a', 'c', 'd', 'b', 'e']);
  });

  it('markSynced clears only items whose stored version still equals the acknowledged one', async () => {
    const { local, repository } = await makeStore();
    await repository.saveMany([
      { id: 'a', title: 'a' },
      { id: 'b', title: 'b' },
    ]);
    await repository.save({ id: 'b', title: 'b2' });
    const result = await local.markSynced([
      { id: 'a', version: 1 },
      { id: 'b', version: 1 },
      { id: 'gone', version: 1 },
    ]);
    expect(result).toMatchObject({ synced: ['a'], stale: ['b', 'gone'] });
    expect(await local.get('a')).toMatchObject({ syncPending: false });
    expect(await local.get('b')).toMatchObject({ syncPending: true, version: 2 });
  });

  it('keeps failed items out until their next attempt, dead letters for good, and requeues on demand', async () => {
    const { local, repository } = await makeStore();
    await repository.saveMany(['a', 'b', 'c'].map((id) => ({ id, title: id })));
    await local.commit({
      failures: [
        { id: 'a', version: 1, error: 'busy', retryable: true },
        { id: 'b', version: 1, error: 'invalid', retryable: false },
      ],
      failurePolicy: policy,
      now: 0,
    });
    expect((await local.pending({ limit: 10, now: 999 })).items.map((i) => i.id)).toEqual(['c']);
    expect((await local.pending({ limit: 10, now: 1_000 })).items.map((i) => i.id)).toEqual(['a', 'c']);
    expect(await local.outbox(0)).toMatchObject({ total: 1, pending: 3 });
    expect((await local.failures()).map((f) => [f.id, f.deadLettered])).toEqual([
      ['a', false],
      ['b', true],
    ]);
    expect(await local.requeueFailures(['b'])).toBe(1);
    expect((await local.pending({ limit: 10, now: 0 })).items.map((i) => i.id)).toEqual(['b', 'c']);
  });

  it('conditional replace writes only over the expected version', async () => {
    const { local, repository } = await makeStore();
    await repository.save({ id: 'a', title: 'mine' });
    const theirs = { id: 'a', title: 'theirs', version: 5, createdAt: 1, updatedAt: 2, syncPending: false };
    expect(await local.commit({ replace: [{ expectedVersion: 2, entity: theirs }], now: 0 })).toMatchObject({
      replaced: [],
    });
    expect(await local.commit({ replace: [{ expectedVersion: 1, entity: theirs }], now: 0 })).toMatchObject({
      replaced: ['a'],
    });
    expect(await local.get('a')).toEqual(theirs);
  });

  it('hands out copies and refuses what JSON cannot hold, leaving the store untouched', async () => {
    const { local, repository } = await makeStore();
    const saved = await repository.save({ id: 'a', title: 'a', tags: ['x'] });
    const copy = await local.get('a');
    copy?.tags?.push('mutated');
    expect((await local.get('a'))?.tags).toEqual(['x']);
    await expect(local.save({ ...saved, title: (() => 1) as unknown as string })).rejects.toThrow(
      /holds a function in field "title"/,
    );
    const circular: Record<string, unknown> = { ...saved };
    circular.self = circular;
    await expect(local.save(circular as unknown as Doc)).rejects.toBeInstanceOf(InvalidEntityError);
    expect(await local.getAll()).toEqual([saved]);
  });
});
