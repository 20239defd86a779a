import { describe, expect, it, onTestFinished } from 'vitest';
import { READ_STORED_ROWS } from '../../src/server/postgres/postgres-store.js';
import type { Scope } from '../../src/server/server-store.js';
import { PostgresServerStore } from '../../src/server-postgres.js';
import { sqlClient, testDatabase } from '../helpers/postgres.js';
import { batchOf, item } from './server-store-contract.js';

const events: Scope = { partition: 'alice', entityType: 'events' };
const STORED = 20_000;

/** The indexes a plan (EXPLAIN FORMAT JSON) reads, by name. */
function indexesOf(plan: unknown): string[] {
  return [
    ...new Set(
      [...JSON.stringify(plan).matchAll(/"Index Name":"([^"]+)"/g)].map((match) => match[1] as string),
    ),
  ];
}

describe('PostgreSQL store: query plans that must not grow with the table', () => {
  it("reads a batch's stored rows by primary key before the table has statistics", async () => {
    const { url } = await testDatabase();
    const store = await PostgresServerStore.open({ connectionString: url });
    onTestFinished(() => store.close());
    for (let from = 0; from < STORED; from += 1_000) {
      const items = Array.from({ length: 1_000 }, (_, i) => item(`e-${from + i}`, 1));
      await store.applyBatch(batchOf(events, `load-${from}`, items));
    }
    const sql = await sqlClient(url);
    // As a fresh deployment is until autovacuum's first ANALYZE: the planner knows nothing of the scope's size.
    const analyzed = await sql.query<{ reltuples: number }>(
      `SELECT reltuples FROM pg_class WHERE relname = 'actorsync_records'`,
    );
    expect(analyzed.rows[0]?.reltuples).toBe(-1);
    const ids = Array.from({ length: 100 }, (_, i) => `e-${(i * 7_919) % STORED}`);
    const explain = () =>
      sql.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${READ_STORED_ROWS}`, [
        events.partition,
        events.entityType,
        ids,
      ]);
    // The feed index shares the key's leading columns; through it, the read scanned the whole scope.
    expect(indexesOf((await explain()).rows[0]?.['QUERY PLAN'])).toEqual(['actorsync_records_pkey']);
    await sql.query('ANALYZE actorsync_records');
    expect(indexesOf((await explain()).rows[0]?.['QUERY PLAN'])).toEqual(['actorsync_records_pkey']);
  });
});
