import { describe, expect, it, onTestFinished } from 'vitest';
import { MAX_ITEM_DEPTH } from '../../src/server/batch-checks.js';
import type { Scope } from '../../src/server/server-store.js';
import { PostgresServerStore } from '../../src/server-postgres.js';
import { sqlClient, testDatabase } from '../helpers/postgres.js';
import { batchOf, item, readAll } from './server-store-contract.js';

const SQL = [
  `'); DROP TABLE actorsync_records; --`,
  `' OR '1'='1`,
  `"; DELETE FROM actorsync_feeds; --`,
  '$1',
  '\\',
];

async function openStore() {
  const { url } = await testDatabase();
  const store = await PostgresServerStore.open({ connectionString: url });
  onTestFinished(() => store.close());
  return { store, url };
}

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let level = 1; level < depth; level += 1) value = { down: value };
  return value;
}

describe('PostgreSQL store: hostile input', () => {
  it('ids are data, whatever they hold: SQL, NUL, lone surrogates, __proto__, 10,000 characters', async () => {
    const { store, url } = await openStore();
    const scope: Scope = { partition: 'alice', entityType: 'notes' };
    const ids = [
      ...SQL,
      'a\u0000b',
      'a',
      '\ud800',
      '\ud801',
      '\udc00x',
      '__proto__',
      'constructor',
      'x'.repeat(10_000),
    ];
    const reply = await store.applyBatch(
      batchOf(
        scope,
        `'; DROP TABLE x; --\u0000`,
        ids.map((id) => item(id, 1)),
      ),
    );
    expect(reply).toEqual({ status: 'applied', reply: ids.map((id) => ({ id, status: 'ok' })) });
    // Every id is its own record (NUL and lone surrogates kept apart), served back exactly.
    const served = (await readAll(store, scope)).changes.map(({ id }) => id);
    expect(served).toEqual(ids);
    expect((await store.list(scope)).map(({ item }) => item.id)).toEqual(ids);
    // Each id is found again by the rules: the same version is the same record.
    const again = await store.applyBatch(
      batchOf(
        scope,
        'again',
        ids.map((id) => item(id, 1)),
      ),
    );
    expect(again).toEqual({ status: 'applied', reply: ids.map((id) => ({ id, status: 'ok' })) });
    expect((await store.list(scope)).every(({ appliedCount }) => appliedCount === 1)).toBe(true);
    const admin = await sqlClient(url);
    const tables = await admin.query(
      `SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 'actorsync_%'`,
    );
    expect(tables.rows[0]).toEqual({ n: 5 });
  });

  it('entity types are checked names: any name isEntityTypeName allows works, and no other reaches SQL', async () => {
    const { store } = await openStore();
    for (const entityType of ['a.b-c_d', 'notes--', 'constructor', 'X'.repeat(64), '0']) {
      const scope = { partition: 'alice', entityType };
      expect(await store.applyBatch(batchOf(scope, 'b1', [item('a', 1)]))).toMatchObject({
        status: 'applied',
      });
      expect((await readAll(store, scope)).changes).toHaveLength(1);
    }
    for (const entityType of [
      `notes'; DROP TABLE actorsync_records; --`,
      '__proto__',
      'a b',
      '',
      'X'.repeat(65),
    ]) {
      const scope = { partition: 'alice', entityType };
      await expect(store.applyBatch(batchOf(scope, 'b1', [item('a', 1)]))).rejects.toMatchObject({
        code: 'INVALID_OPTIONS',
      });
      await expect(store.changes(scope, undefined, 10)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    }
  });

  it('content round-trips exactly: SQL, NUL and lone surrogates in keys and values, __proto__ keys, deep and large JSON', async () => {
    const { store } = await openStore();
    const scope: Scope = { partition: 'alice', entityType: 'notes' };
    const hostile = JSON.parse(
      JSON.stringify({
        sql: SQL,
        nul: 'a\u0000b',
        lone: '\ud800 and \udfff',
        pair: '😀',
        'key\u0000with nul': 1,
        '\ud800': 'lone key',
        numbers: [0, -1.5, 1e308, 5e-324, Number.MAX_SAFE_INTEGER],
        nested: nested(MAX_ITEM_DEPTH - 1),
      }).replace('{', '{"__proto__":{"polluted":true},'),
    ) as Record<string, unknown>;
    expect(Object.hasOwn(hostile, '__proto__')).toBe(true);
    const large = {
      big: 'x'.repeat(2_000_000),
      many: Object.fromEntries(Array.from({ length: 10_000 }, (_, n) => [`f${n}`, n])),
    };
    const records = [item('hostile', 1, hostile), item('large', 1, large)];
    expect(await store.applyBatch(batchOf(scope, 'b1', records))).toMatchObject({
      status: 'applied',
      reply: [{ status: 'ok' }, { status: 'ok' }],
    });
    const served = (await readAll(store, scope)).changes.map(({ item }) => item);
    const expected = records.map((record) => ({ ...record, syncPending: false }));
    expect(JSON.stringify(served)).toBe(JSON.stringify(expected));
    expect(Object.hasOwn(served[0] as object, '__proto__')).toBe(true);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    // The same version with the same content, compared as JSON text after the round trip: the same record.
    expect(await store.applyBatch(batchOf(scope, 'b2', records))).toMatchObject({
      status: 'applied',
      reply: [{ status: 'ok' }, { status: 'ok' }],
    });
    expect((await store.list(scope)).map(({ appliedCount }) => appliedCount)).toEqual([1, 1]);
  });

  it("a principal reading another's partition gets nothing, whatever the partition names hold", async () => {
    const { store } = await openStore();
    const partitions = ['alice', 'alice\u0000', `alice' OR '1'='1`, 'ALICE', '\ud800', '', '__proto__'];
    for (const partition of partitions) {
      const scope = { partition, entityType: 'notes' };
      await store.applyBatch(batchOf(scope, 'same-key', [item('doc', 1, { owner: partition })]));
    }
    for (const partition of partitions) {
      const scope = { partition, entityType: 'notes' };
      const owners = (await readAll(store, scope)).changes.map(({ item }) => item.owner);
      expect(owners).toEqual([partition]);
      expect((await store.list(scope)).map(({ item }) => (item as { owner?: unknown }).owner)).toEqual([
        partition,
      ]);
    }
    const never = { partition: 'mallory', entityType: 'notes' };
    expect((await readAll(store, never)).changes).toEqual([]);
    expect(await store.list(never)).toEqual([]);
    // A partition too long to announce is refused before any SQL.
    await expect(store.list({ partition: 'p'.repeat(300), entityType: 'notes' })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
    });
  });
});
