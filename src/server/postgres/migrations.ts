/**
 * The PostgreSQL store's schema as versioned migrations (docs/server-postgres.md). Each runs once, in order, and is
 * recorded in `actorsync_migrations`; the whole run is one transaction under an advisory lock, so two processes
 * starting at once apply each migration once and neither sees a half-made schema.
 */
import type { ClientBase } from 'pg';
import { SchemaVersionError } from './errors.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Text columns hold keys as `sqlKey` spells them (any JavaScript string, NUL and lone surrogates included). Items
 * are `json`, not `jsonb`: jsonb reorders keys and refuses `\u0000`, and "the same version with the same content"
 * compares the JSON text. Times are milliseconds of the store's clock (`now`), so tests can move it.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'records, change feeds and batch replies',
    sql: `
      CREATE TABLE actorsync_meta (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        -- Names this database's sequence numbers in checkpoints: made once, never changed.
        epoch text NOT NULL
      );
      INSERT INTO actorsync_meta (epoch) VALUES (replace(gen_random_uuid()::text, '-', ''));

      -- One row per scope: writers of a scope lock it first, so sequence numbers commit in order.
      CREATE TABLE actorsync_feeds (
        partition text NOT NULL,
        entity_type text NOT NULL,
        head bigint NOT NULL DEFAULT 0,
        horizon bigint NOT NULL DEFAULT 0,
        -- The latest delete time given out: delete times never go down within a feed, so purging takes a prefix.
        last_deleted_at bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (partition, entity_type)
      );

      CREATE TABLE actorsync_records (
        partition text NOT NULL,
        entity_type text NOT NULL,
        id text NOT NULL,
        version bigint NOT NULL,
        deleted boolean NOT NULL,
        item json NOT NULL,
        seq bigint NOT NULL,
        deleted_at bigint,
        applied_count integer NOT NULL,
        applied_versions bigint[] NOT NULL,
        PRIMARY KEY (partition, entity_type, id),
        CHECK (deleted = (deleted_at IS NOT NULL))
      );
      CREATE UNIQUE INDEX actorsync_records_feed ON actorsync_records (partition, entity_type, seq);
      CREATE INDEX actorsync_records_tombstones ON actorsync_records (partition, entity_type, deleted_at, seq)
        WHERE deleted;

      CREATE TABLE actorsync_replies (
        partition text NOT NULL,
        entity_type text NOT NULL,
        batch_id text NOT NULL,
        digest text NOT NULL,
        reply json NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (partition, entity_type, batch_id)
      );
      CREATE INDEX actorsync_replies_created ON actorsync_replies (created_at);
    `,
  },
  {
    version: 2,
    name: 'feed index that only feed reads can use',
    // A batch's read of its ids (partition = … AND entity_type = … AND id = ANY …) must take the primary key. With
    // the feed index on the same leading columns, a table without statistics yet (before autovacuum's first
    // ANALYZE, or a scope that grew since) is estimated at a few rows per scope, and the planner scanned the
    // scope's whole feed index and filtered the ids: per batch cost growing with the scope (25 ms at 100k
    // records). Keyed with the "C" collation, the feed index matches only quals written with it (the feed's own
    // reads); equality means the same bytes either way.
    sql: `
      DROP INDEX actorsync_records_feed;
      CREATE UNIQUE INDEX actorsync_records_feed
        ON actorsync_records (partition COLLATE "C", entity_type COLLATE "C", seq);
    `,
  },
];

/** The schema version this code reads and writes. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map(({ version }) => version));

/** Any fixed number: the advisory lock every migrating process takes, so runs never overlap. */
const MIGRATION_LOCK = 0x6163_7473_796e_63n; // "actsync"

/**
 * Applies the migrations the database lacks, in one transaction, and returns their versions. Throws
 * `SchemaVersionError` when the database was migrated by a newer actorsync (its schema may not be what this code
 * writes).
 */
export async function migrate(client: ClientBase): Promise<number[]> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS actorsync_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = await appliedVersions(client);
    assertNotNewer(done);
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO actorsync_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Throws `SchemaVersionError` unless the database holds exactly the migrations this code knows. */
export async function assertMigrated(client: ClientBase): Promise<void> {
  const exists = await client.query<{ found: boolean }>(
    `SELECT to_regclass('actorsync_migrations') IS NOT NULL AS found`,
  );
  const done = exists.rows[0]?.found ? await appliedVersions(client) : new Set<number>();
  assertNotNewer(done);
  const missing = MIGRATIONS.filter(({ version }) => !done.has(version)).map(({ version }) => version);
  if (missing.length > 0) {
    throw new SchemaVersionError(
      `The database lacks actorsync migration${missing.length === 1 ? '' : 's'} ${missing.join(', ')}: open the store with migrate: true (or run actorsync migrate) first`,
    );
  }
}

async function appliedVersions(client: ClientBase): Promise<Set<number>> {
  const result = await client.query<{ version: number }>('SELECT version FROM actorsync_migrations');
  return new Set(result.rows.map(({ version }) => version));
}

function assertNotNewer(done: ReadonlySet<number>): void {
  const newest = Math.max(0, ...done);
  if (newest > SCHEMA_VERSION) {
    throw new SchemaVersionError(
      `The database is at actorsync schema version ${newest}, newer than this code's ${SCHEMA_VERSION}: upgrade actorsync before serving from it`,
    );
  }
}
