/**
 * Reads what a server store holds under an id, tombstones included, the same way from either store: for tests that
 * check what a delete left behind and what was applied (`appliedCount`, `appliedVersions`) to it, which neither the
 * protocol nor `ServerStore.list` (live records only) serves. Reads only: writes go through `applyBatch`.
 */
import pg from 'pg';
import { MemoryServerStore, stateKey } from '../../src/server/memory-server-store.js';
import { sqlKey } from '../../src/server/postgres/sql-keys.js';
import type { StoredItem } from '../../src/server/server-state.js';
import type { Scope, ServerStore } from '../../src/server/server-store.js';

/** A store's records as stored: expired tombstones too, until the store purges them (on its next read or write). */
export interface ServerRecordReader {
  /** The record or tombstone stored under `id`. */
  get(scope: Scope, id: string): Promise<StoredItem | undefined>;
  /** The scope's tombstones, by id (stores keep them in no order the protocol names). */
  tombstones(scope: Scope): Promise<StoredItem[]>;
  close(): Promise<void>;
}

/** The memory store's records, from its state. */
export function memoryRecordReader(store: MemoryServerStore): ServerRecordReader {
  return {
    get: async (scope, id) => store.state.get(stateKey(scope), id),
    tombstones: async (scope) => byId(store.state.tombstones(stateKey(scope))),
    close: async () => undefined,
  };
}

interface RecordRow {
  item: string;
  applied_count: number;
  applied_versions: string;
}

/** The PostgreSQL store's records, read with SQL from its database: one connection, opened on first use. */
export function postgresRecordReader(databaseUrl: string): ServerRecordReader {
  let connected: Promise<pg.Client> | undefined;
  const select = async (scope: Scope, where: string, values: readonly unknown[]): Promise<StoredItem[]> => {
    connected ??= (async () => {
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    })();
    const result = await (await connected).query<RecordRow>(
      `SELECT item::text AS item, applied_count, to_json(applied_versions)::text AS applied_versions
       FROM actorsync_records WHERE partition = $1 AND entity_type = $2 ${where}`,
      [sqlKey(scope.partition), scope.entityType, ...values],
    );
    return result.rows.map((row) => ({
      item: JSON.parse(row.item),
      appliedCount: row.applied_count,
      appliedVersions: JSON.parse(row.applied_versions),
    }));
  };
  return {
    get: async (scope, id) => (await select(scope, 'AND id = $3', [sqlKey(id)]))[0],
    tombstones: async (scope) => byId(await select(scope, 'AND deleted', [])),
    close: async () => {
      await (await connected)?.end();
    },
  };
}

/** The reader of a store a test opened: the memory store's state, or the database a PostgreSQL store is on. */
export function recordReaderOf(store: ServerStore, databaseUrl?: string): ServerRecordReader {
  if (store instanceof MemoryServerStore) return memoryRecordReader(store);
  if (databaseUrl !== undefined) return postgresRecordReader(databaseUrl);
  throw new Error('No record reader for this server store: give the URL of the database it is on');
}

/** `records` sorted by id (a copy of the array, the records themselves). */
export function byId(records: StoredItem[]): StoredItem[] {
  return [...records].sort((a, b) => (a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0));
}
