/**
 * "Nothing that can be written may later stop a store from opening" (issue 10, point 6 and the general rule),
 * through the public API only: whatever names, ids and values a store accepts come back the same after
 * save → compact → close → reopen, and whatever it cannot keep is refused at once with a typed error.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidEntityError, MemoryLocalDataSource, type RepositoryEntity } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { useTempDir } from '../helpers/temp-dir.js';

let file: string;
useTempDir('actorsync-names-', (created) => (file = join(created, 'store.json')));

const record = (id: string, fields: Record<string, unknown> = {}): RepositoryEntity => ({
  ...fields,
  id,
  createdAt: 1,
  updatedAt: 1,
  version: 1,
  syncPending: true,
});

const policy = { maxItemAttempts: 5, retryDelayMs: () => 60_000 };

/**
 * Everything a reader sees of a store: per collection, records, failure records and the outbox counts. Not
 * `highWater`, a change counter a compaction renumbers, nor collections only ever read (they hold nothing).
 */
async function view(store: LowdbLocalStore) {
  const result: Record<string, unknown> = Object.create(null);
  for (const type of store.entityTypes) {
    const local = store.collection(type);
    const records = await local.getAll();
    const failures = await local.failures();
    const { total, pending, nextDueAt } = await local.outbox(0);
    if (records.length || failures.length) result[type] = { records, failures, total, pending, nextDueAt };
  }
  return result;
}

/** Reopens `file` three ways (journal replay, after a compaction, after a compaction of the replay) and compares. */
async function expectSameAfterReopen(store: LowdbLocalStore): Promise<void> {
  const before = await view(store);
  await store.close();
  let reopened = await LowdbLocalStore.open(file);
  expect(await view(reopened), 'replayed from the journal').toEqual(before);
  await reopened.compact();
  await reopened.close();
  reopened = await LowdbLocalStore.open(file);
  expect(await view(reopened), 'read from a compacted snapshot').toEqual(before);
  await reopened.close();
}

const HOSTILE_IDS = [
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  '__defineGetter__',
  'valueOf',
  '\u200b',
  '\u00a0',
  ' ',
  '\u0000',
  '\n',
  '"',
  '\\',
  '\ud800',
  '😀',
  '..',
  '../../etc/passwd',
  'x'.repeat(100_000),
];

describe('names and values a store must keep or refuse', () => {
  it('refuses collection names it cannot keep, with InvalidEntityError, and writes nothing', async () => {
    const store = await LowdbLocalStore.open(file);
    for (const name of [
      '__proto__',
      '',
      'a/b',
      '../x',
      'x'.repeat(65),
      'a\u0000b',
      'tab\there',
      ' doc',
      '_x',
      'ü',
    ]) {
      expect(() => store.collection(name), JSON.stringify(name)).toThrow(InvalidEntityError);
    }
    await expect(
      Promise.resolve().then(() => store.collection('__proto__').save(record('a'))),
    ).rejects.toThrow(/entityType must be/);
    expect(store.entityTypes).toEqual([]);
    await store.close();
  });

  it('keeps collections named like Object.prototype members across compaction and reopen', async () => {
    const names = [
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'valueOf',
      'x'.repeat(64),
      'a.b-c_d',
    ];
    const store = await LowdbLocalStore.open(file);
    for (const name of names) await store.collection(name).save(record(`in ${name}`, { name }));
    await store.compact();
    await store.collection('constructor').save(record('after the compaction'));
    await expectSameAfterReopen(store);
    const reopened = await LowdbLocalStore.open(file, { readOnly: true });
    expect(reopened.entityTypes).toEqual(names);
    expect((await reopened.collection('constructor').getAll()).map((r) => r.id)).toEqual([
      'in constructor',
      'after the compaction',
    ]);
    await reopened.close();
  });

  it('keeps record ids like "__proto__", unicode oddities and 100,000-character ids, with their sync state', async () => {
    const store = await LowdbLocalStore.open(file);
    const local = store.collection('doc');
    await local.saveMany(HOSTILE_IDS.map((id) => record(id, { label: id.slice(0, 20) })));
    await local.commit({
      acks: [
        { id: 'constructor', version: 1 },
        { id: '\u0000', version: 1 },
      ],
      now: 1,
    });
    await local.commit({
      failures: HOSTILE_IDS.slice(0, 6).map((id) => ({
        id,
        version: 1,
        error: `failed ${id}`,
        retryable: true,
      })),
      failurePolicy: policy,
      now: 1_000,
    });
    await store.compact();
    await local.commit({
      failures: [{ id: '__proto__', version: 1, error: 'again', retryable: false }],
      failurePolicy: policy,
      now: 2_000,
    });
    await local.delete('prototype');
    const seen = await local.getAll();
    expect(seen.map((r) => r.id)).toEqual(HOSTILE_IDS.filter((id) => id !== 'prototype'));
    expect(await local.get('__proto__')).toMatchObject({ id: '__proto__', syncPending: true });
    await expectSameAfterReopen(store);
    const reopened = await LowdbLocalStore.open(file);
    const failures = await reopened.collection('doc').failures();
    expect(failures.find((f) => f.id === '__proto__')).toMatchObject({ attempts: 2, deadLettered: true });
    expect(await reopened.collection('doc').get('prototype')).toBeUndefined();
    await reopened.close();
  });

  it('keeps "__proto__" and "constructor" field names inside records as plain data', async () => {
    const fields = JSON.parse(
      '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "nested": {"__proto__": [1, 2]}}',
    ) as Record<string, unknown>;
    const store = await LowdbLocalStore.open(file);
    await store.collection('doc').save(record('p', fields));
    await store.compact();
    await store.collection('doc').save(record('q', fields));
    await expectSameAfterReopen(store);
    const reopened = await LowdbLocalStore.open(file);
    for (const id of ['p', 'q']) {
      const stored = (await reopened.collection('doc').get(id)) as unknown as Record<string, unknown>;
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect(Object.keys(stored)).toContain('__proto__');
      expect(Object.getOwnPropertyDescriptor(stored, '__proto__')?.value).toEqual({ polluted: true });
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await reopened.close();
  });

  it('keeps extreme numbers exactly, and -0 as JSON has it (0)', async () => {
    const numbers = {
      max: Number.MAX_VALUE,
      min: Number.MIN_VALUE,
      unsafe: Number.MAX_SAFE_INTEGER + 2,
      negative: -Number.MAX_VALUE,
      tiny: 5e-324,
      zero: -0,
      list: [1e308, -1e-308, 0.1 + 0.2],
    };
    const store = await LowdbLocalStore.open(file);
    await store.collection('doc').save(record('n', numbers));
    const saved = await store.collection('doc').get('n');
    expect(saved).toMatchObject({ ...numbers, zero: 0 });
    expect(Object.is((saved as unknown as { zero: number }).zero, 0)).toBe(true);
    await expectSameAfterReopen(store);
  });

  it.each([
    ['nested 65 deep', 65],
    ['nested 1,500 deep (the depth structuredClone fails at)', 1_500],
    ['nested 3,000 deep', 3_000],
    ['nested 10,000 deep', 10_000],
    ['nested 100,000 deep', 100_000],
  ])('refuses a value %s at save with InvalidEntityError, and the store still opens', async (_, depth) => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < depth - 1; i += 1) deep = { d: deep };
    for (const local of [new MemoryLocalDataSource(), null]) {
      const store = local ? undefined : await LowdbLocalStore.open(file);
      const target = local ?? store?.collection('doc');
      await target?.save(record('ok', { shallow: { a: { b: 1 } } }));
      const error = await target?.save(record('deep', { deep })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidEntityError);
      expect((error as Error).message).toMatch(/nested deeper than 64 levels/);
      if (store) {
        await store.compact();
        await expectSameAfterReopen(store);
      }
    }
  });

  it('keeps a value nested exactly as deep as allowed (64 levels with the record)', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 62; i += 1) deep = { d: deep };
    const store = await LowdbLocalStore.open(file);
    await store.collection('doc').save(record('deep', { deep }));
    await expectSameAfterReopen(store);
  });

  it('refuses non-finite numbers at save instead of storing them as null', async () => {
    const store = await LowdbLocalStore.open(file);
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      await expect(store.collection('doc').save(record('n', { value }))).rejects.toThrow(InvalidEntityError);
    }
    expect(await store.collection('doc').getAll()).toEqual([]);
    await expectSameAfterReopen(store);
  });

  it('refuses a commit whose failure policy would write a failure record a reopen could not read', async () => {
    const store = await LowdbLocalStore.open(file);
    const local = store.collection('doc');
    await local.save(record('a'));
    const error = await local
      .commit({
        failures: [{ id: 'a', version: 1, error: 'x', retryable: true }],
        failurePolicy: { maxItemAttempts: 5, retryDelayMs: () => Number.NaN },
        now: 1,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEntityError);
    expect(await local.failures()).toEqual([]);
    await expectSameAfterReopen(store);
  });

  it('names a bad bookkeeping field by its kind, never by its whole value (no function source in an error)', async () => {
    const store = await LowdbLocalStore.open(file);
    const local = store.collection('doc');
    const token = 'sk-live-0123456789';
    const cases: [string, Record<string, unknown>, string][] = [
      ['a function id', { ...record('a'), id: () => 'sk-live-0123456789' }, 'got a function'],
      ['a function createdAt', { ...record('a'), createdAt: () => 'sk-live-0123456789' }, 'got a function'],
      ['a symbol version', { ...record('a'), version: Symbol('sk-live-0123456789') }, 'got a symbol'],
      ['an object updatedAt', { ...record('a'), updatedAt: { token } }, 'got an object'],
    ];
    for (const [label, entity, expected] of cases) {
      const error = await local.save(entity as unknown as RepositoryEntity).catch((e: unknown) => e);
      expect(error, label).toBeInstanceOf(InvalidEntityError);
      expect((error as Error).message, label).toContain(expected);
      expect((error as Error).message, label).not.toContain(token);
    }
    expect(await local.getAll()).toEqual([]);
    await store.close();
  });
});
