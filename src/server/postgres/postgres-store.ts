import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ActorSyncError, InvalidOptionsError } from '../../domain/errors.js';
import { isEntityTypeName } from '../../domain/names.js';
import type { ItemResult, RepositoryEntity } from '../../domain/types.js';
import type { FeedChange, FeedItem } from '../change-feed.js';
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint.js';
import { type ChangesRead, DEFAULT_TOMBSTONE_RETENTION_MS, type StoredItem } from '../server-state.js';
import type { Scope, ServerBatch, ServerBatchOutcome, ServerStore } from '../server-store.js';
import { type FeedPosition, isTombstone, planWrites, resetReason } from '../version-rules.js';
import { DatabaseUnavailableError, redactedUrl, StoreClosedError, WriteGuardError } from './errors.js';
import { assertMigrated, migrate } from './migrations.js';
import { isHashedKey, MAX_PLAIN_KEY_BYTES, sqlKey } from './sql-keys.js';

export interface PostgresServerStoreOptions {
  /** `postgres://user:password@host:port/database`. Either this or `pool`. */
  connectionString?: string;
  /**
   * A pool of the app's own (its settings apply: `maxConnections` and `statementTimeoutMs` do not). The store never
   * ends it; end it after `close()`.
   */
  pool?: pg.Pool;
  /** The most connections the store's own pool opens (a LISTEN connection comes on top once watched). Default 10. */
  maxConnections?: number;
  /** Every statement of the store's own pool is cancelled after this long, in ms. Default 15 s. */
  statementTimeoutMs?: number;
  /** How long `check()` waits for the database, in ms. Default 2 s. */
  checkTimeoutMs?: number;
  /** How long a tombstone is served after it was stored, in ms. Default 7 days (as the memory state). */
  tombstoneRetentionMs?: number;
  /** How long a batch's reply is kept for a retry with the same key, in ms. Default 7 days. */
  replyRetentionMs?: number;
  /** The clock tombstones and replies are dated and expired by, in ms. Default `Date.now`. */
  now?: () => number;
  /** Apply missing migrations on open (default). When false, open fails unless the schema is current. */
  migrate?: boolean;
}

/** The default `replyRetentionMs`: 7 days. */
export const DEFAULT_REPLY_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** At most this many expired tombstones are purged per call, so a purge never holds a scope's writers for long. */
export const PURGE_LIMIT = 10_000;

/** At most this many expired replies are deleted per cleanup. */
export const REPLY_CLEANUP_LIMIT = 1_000;

/** Batches run a reply cleanup at most this often (per store), in ms. */
const REPLY_CLEANUP_INTERVAL_MS = 60_000;

/** The channel every store announces committed writes on. */
const CHANGES_CHANNEL = 'actorsync_changes';

/** Reconnect delays of the LISTEN connection, in ms: doubling from the first to the last. */
const LISTEN_RETRY_MS = [100, 5_000] as const;

/** SQLSTATE classes and codes that mean the database is out of reach or cancelled us, not that we erred. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0|57014)/;

/** A scope as its key columns spell it. */
interface ScopeKeys {
  partition: string;
  entityType: string;
}

interface FeedRow {
  head: number;
  horizon: number;
  lastDeletedAt: number;
}

interface RecordRow {
  key: string;
  stored: StoredItem;
}

/**
 * A `ServerStore` on PostgreSQL (docs/server-postgres.md): any number of server processes may share one database.
 * Each batch is one transaction that first locks its scope's feed row, so writers of a scope take their sequence
 * numbers one after another and commit in that order, and a change feed never skips a change that commits late.
 * Writes are decided by the same rules as the memory state (`version-rules.ts`), so both answer alike.
 */
export class PostgresServerStore implements ServerStore {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  /** The database, for messages: never with its password. */
  readonly #where: string;
  readonly #epoch: string;
  readonly #now: () => number;
  readonly #tombstoneRetentionMs: number;
  readonly #replyRetentionMs: number;
  readonly #checkTimeoutMs: number;
  /** Tells this store's own notifications from other processes' (its listeners heard those at commit). */
  readonly #instance = randomBytes(9).toString('base64url');
  readonly #listeners = new Set<(scope: Scope) => void>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #listener: pg.Client | undefined;
  #listenRetry: NodeJS.Timeout | undefined;
  #listenAttempt = 0;
  #lastReplyCleanup = Number.NEGATIVE_INFINITY;
  #closing: Promise<void> | undefined;

  private constructor(init: {
    pool: pg.Pool;
    ownsPool: boolean;
    where: string;
    epoch: string;
    options: PostgresServerStoreOptions;
  }) {
    this.#pool = init.pool;
    this.#ownsPool = init.ownsPool;
    this.#where = init.where;
    this.#epoch = init.epoch;
    this.#now = init.options.now ?? Date.now;
    this.#tombstoneRetentionMs = init.options.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
    this.#replyRetentionMs = init.options.replyRetentionMs ?? DEFAULT_REPLY_RETENTION_MS;
    this.#checkTimeoutMs = init.options.checkTimeoutMs ?? 2_000;
  }

  /**
   * Connects, applies missing migrations (unless `migrate: false`) and reads the store's epoch. Throws
   * `DatabaseUnavailableError` naming the database (without its password) when it cannot be reached, and
   * `SchemaVersionError` when its schema is not this code's.
   */
  static async open(options: PostgresServerStoreOptions): Promise<PostgresServerStore> {
    checkOptions(options);
    const ownsPool = options.pool === undefined;
    const statementTimeoutMs = options.statementTimeoutMs ?? 15_000;
    const pool =
      options.pool ??
      new pg.Pool({
        connectionString: options.connectionString,
        max: options.maxConnections ?? 10,
        statement_timeout: statementTimeoutMs,
        // A transaction left open (a stalled process) must not hold its scope's lock for ever.
        idle_in_transaction_session_timeout: statementTimeoutMs,
        connectionTimeoutMillis: Math.min(statementTimeoutMs, 10_000),
        application_name: 'actorsync',
      });
    const where = describeDatabase(options.connectionString ?? pool.options.connectionString, pool.options);
    // An idle connection the server drops emits here; unheard, it would end the process.
    if (ownsPool) pool.on('error', () => undefined);
    try {
      const client = await checkOut(pool);
      try {
        if (options.migrate ?? true) await migrate(client);
        else await assertMigrated(client);
        const meta = await client.query<{ epoch: string }>('SELECT epoch FROM actorsync_meta');
        const epoch = meta.rows[0]?.epoch;
        if (epoch === undefined) throw new Error('actorsync_meta holds no epoch');
        return new PostgresServerStore({ pool, ownsPool, where, epoch, options });
      } finally {
        client.release();
      }
    } catch (error) {
      if (ownsPool) await pool.end().catch(() => undefined);
      if (error instanceof ActorSyncError) throw error;
      // Unreachable, refused credentials, no such database: all mean the store cannot serve from there.
      throw new DatabaseUnavailableError(
        `Cannot open the actorsync store in PostgreSQL at ${where}: ${messageOf(error)}`,
        { cause: error },
      );
    }
  }

  /** Names this database's sequence numbers: checkpoints of any other store are answered "reset". */
  get epoch(): string {
    return this.#epoch;
  }

  applyBatch<T extends RepositoryEntity>(batch: ServerBatch<T>): Promise<ServerBatchOutcome<T>> {
    return this.#track(async () => {
      const keys = scopeKeys(batch.scope);
      const outcome = await this.#transaction(async (client) => {
        // First, and held until commit: the scope's writers queue here, so sequence numbers commit in order.
        const feed = await lockFeed(client, keys);
        const previous = await client.query<{ digest: string; reply: string }>(
          `SELECT digest, reply::text AS reply FROM actorsync_replies
           WHERE partition = $1 AND entity_type = $2 AND batch_id = $3`,
          [keys.partition, keys.entityType, sqlKey(batch.batchId)],
        );
        const stored = previous.rows[0];
        if (stored) {
          if (stored.digest !== batch.digest) return { status: 'keyReused' as const, written: false };
          const reply = JSON.parse(stored.reply) as ItemResult<T>[];
          return { status: 'duplicate' as const, reply, written: false };
        }
        const at = this.#now();
        // Housekeeping, not part of the batch, as in the memory state: it moves the horizon.
        const horizon = await purgeExpired(client, keys, feed.horizon, at - this.#tombstoneRetentionMs);
        const table = await readRecords(client, keys, batch.items);
        const { writes, reply } = planWrites(batch.items, (key) => table.get(key), batch.reject, sqlKey);
        const written = await writeRecords(client, keys, writes, feed, at);
        await client.query(
          `WITH feed AS (
             UPDATE actorsync_feeds SET head = $3, horizon = $4, last_deleted_at = $5
             WHERE partition = $1 AND entity_type = $2
           ), reply AS (
             INSERT INTO actorsync_replies (partition, entity_type, batch_id, digest, reply, created_at)
             VALUES ($1, $2, $6, $7, $8::json, $9)
           )
           SELECT pg_notify($10, $11) WHERE $12`,
          [
            keys.partition,
            keys.entityType,
            written.head,
            horizon,
            written.lastDeletedAt,
            sqlKey(batch.batchId),
            batch.digest,
            JSON.stringify(reply),
            at,
            CHANGES_CHANNEL,
            JSON.stringify([this.#instance, batch.scope.partition, batch.scope.entityType]),
            writes.size > 0,
          ],
        );
        return { status: 'applied' as const, reply, written: writes.size > 0 };
      });
      if (outcome.written) this.#announce(batch.scope);
      if (outcome.status === 'applied') this.#maybeCleanupReplies();
      return outcome.status === 'keyReused'
        ? { status: 'keyReused' }
        : { status: outcome.status, reply: outcome.reply };
    });
  }

  changes(scope: Scope, since: string | undefined, limit: number): Promise<ChangesRead> {
    return this.#track(async () => {
      const decoded = since ? decodeCheckpoint(since) : undefined;
      if (since && !decoded)
        return { status: 'malformed', error: 'since is not a checkpoint of this server' };
      const keys = scopeKeys(scope);
      let read = await this.#readFeed(keys, decoded?.seq ?? 0, limit);
      if (read.expired) {
        await this.#purgeScope(keys);
        read = await this.#readFeed(keys, decoded?.seq ?? 0, limit);
      }
      const { feed, rows } = read;
      // From the beginning, every live record and kept tombstone is served: nothing purged so far was missed.
      const checkpoint = decoded ?? { epoch: this.#epoch, seq: 0, floor: feed.horizon };
      const reset = decoded ? resetReason(decoded, this.#epoch, feed) : undefined;
      if (reset) return { status: 'reset', error: reset };
      const entries = rows.slice(0, limit);
      const changes = entries.map(({ item }): FeedChange => {
        return { id: item.id, version: item.version, deleted: item.deleted === true, item };
      });
      const last = entries.at(-1)?.seq ?? feed.head;
      const floor = Math.max(checkpoint.floor, feed.horizon);
      return {
        status: 'page',
        page: {
          changes,
          checkpoint: encodeCheckpoint({ epoch: this.#epoch, seq: last, floor }),
          hasMore: rows.length > limit,
        },
      };
    });
  }

  list(scope: Scope): Promise<StoredItem[]> {
    return this.#track(async () => {
      const keys = scopeKeys(scope);
      const expired = await this.#pool.query<{ expired: boolean }>(
        `SELECT ${EXPIRED_TOMBSTONES} AS expired`,
        [keys.partition, keys.entityType, this.#purgeCutoff()],
      );
      if (expired.rows[0]?.expired) await this.#purgeScope(keys);
      const result = await this.#pool.query<StoredRow>(
        `SELECT id, item::text AS item, applied_count, to_json(applied_versions)::text AS applied_versions
         FROM actorsync_records WHERE ${FEED_SCOPE} AND NOT deleted ORDER BY seq`,
        [keys.partition, keys.entityType],
      );
      return result.rows.map((row) => storedItem(row).stored);
    });
  }

  watch(listener: (scope: Scope) => void): () => void {
    this.#listeners.add(listener);
    if (!this.#listener && !this.#listenRetry && !this.#closing) this.#listen();
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async check(): Promise<void> {
    if (this.#closing) throw new StoreClosedError();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#checkTimeoutMs} ms`)),
        this.#checkTimeoutMs,
      );
    });
    try {
      await Promise.race([this.#pool.query('SELECT 1'), timeout]);
    } catch (error) {
      throw new DatabaseUnavailableError(`PostgreSQL at ${this.#where} is unavailable: ${messageOf(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Deletes replies older than the retention, at most `REPLY_CLEANUP_LIMIT` of them; returns how many. Batches
   * call it now and then; a retry of a batch whose reply is gone is applied again, which the version rules answer
   * as the same versions again.
   */
  cleanupReplies(): Promise<number> {
    return this.#track(async () => {
      const result = await this.#pool.query(
        `DELETE FROM actorsync_replies WHERE ctid = ANY (ARRAY (
           SELECT ctid FROM actorsync_replies WHERE created_at < $1 ORDER BY created_at LIMIT $2))`,
        [this.#now() - this.#replyRetentionMs, REPLY_CLEANUP_LIMIT],
      );
      return result.rowCount ?? 0;
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
      clearTimeout(this.#listenRetry);
      this.#listenRetry = undefined;
      const listener = this.#listener;
      this.#listener = undefined;
      await listener?.end().catch(() => undefined);
      if (this.#ownsPool) await this.#pool.end();
    })();
    return this.#closing;
  }

  /** Runs `work` unless closed, and lets `close()` wait for it. */
  #track<R>(work: () => Promise<R>): Promise<R> {
    if (this.#closing) return Promise.reject(new StoreClosedError());
    const running = work();
    const settled = running.then(
      () => undefined,
      () => undefined,
    );
    this.#inFlight.add(settled);
    void settled.then(() => this.#inFlight.delete(settled));
    return running;
  }

  async #transaction<R>(work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
    const client = await this.#connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw unavailable(error, `PostgreSQL at ${this.#where} is unavailable`);
    } finally {
      client.release(broken);
    }
  }

  async #connect(): Promise<pg.PoolClient> {
    try {
      return await checkOut(this.#pool);
    } catch (error) {
      throw new DatabaseUnavailableError(
        `Cannot connect to PostgreSQL at ${this.#where}: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
  }

  #purgeCutoff(): number {
    return this.#now() - this.#tombstoneRetentionMs;
  }

  /** Purges a scope's expired tombstones in a transaction of their own (a read found some). */
  async #purgeScope(keys: ScopeKeys): Promise<void> {
    await this.#transaction(async (client) => {
      const feed = await lockFeed(client, keys);
      const horizon = await purgeExpired(client, keys, feed.horizon, this.#purgeCutoff());
      if (horizon !== feed.horizon) {
        await client.query(
          'UPDATE actorsync_feeds SET horizon = $3 WHERE partition = $1 AND entity_type = $2',
          [keys.partition, keys.entityType, horizon],
        );
      }
    });
  }

  /**
   * The scope's feed position and up to `limit + 1` changes after `after`, in one statement: one snapshot, so
   * the page and the head agree. `expired` says tombstones are due for purging.
   */
  async #readFeed(
    keys: ScopeKeys,
    after: number,
    limit: number,
  ): Promise<{
    feed: FeedPosition;
    rows: { seq: number; item: FeedItem }[];
    expired: boolean;
  }> {
    try {
      const result = await this.#pool.query<{
        head: string | null;
        horizon: string | null;
        expired: boolean;
        seq: string | null;
        item: string | null;
      }>(
        `SELECT f.head::text AS head, f.horizon::text AS horizon, ${EXPIRED_TOMBSTONES} AS expired,
                page.seq::text AS seq, page.item::text AS item
         FROM (SELECT 1) AS one
         LEFT JOIN actorsync_feeds f ON f.partition = $1 AND f.entity_type = $2
         LEFT JOIN LATERAL (
           SELECT seq, item FROM actorsync_records
           WHERE ${FEED_SCOPE} AND seq > $4 ORDER BY seq LIMIT $5
         ) AS page ON true
         ORDER BY page.seq`,
        [keys.partition, keys.entityType, this.#purgeCutoff(), after, limit + 1],
      );
      const first = result.rows[0];
      const feed = { head: Number(first?.head ?? 0), horizon: Number(first?.horizon ?? 0) };
      const rows = result.rows
        .filter((row) => row.seq !== null && row.item !== null)
        .map((row) => ({ seq: Number(row.seq), item: JSON.parse(row.item as string) as FeedItem }));
      return { feed, rows, expired: first?.expired === true };
    } catch (error) {
      throw unavailable(error, `PostgreSQL at ${this.#where} is unavailable`);
    }
  }

  /** Tells this process's listeners at once; other processes hear the notification sent at commit. */
  #announce(scope: Scope): void {
    for (const listener of this.#listeners) listener({ ...scope });
  }

  #maybeCleanupReplies(): void {
    const now = this.#now();
    if (now - this.#lastReplyCleanup < REPLY_CLEANUP_INTERVAL_MS || this.#closing) return;
    this.#lastReplyCleanup = now;
    // Best effort: a failed cleanup is retried by a later batch.
    this.cleanupReplies().catch(() => undefined);
  }

  /** Opens the LISTEN connection; after an error, opens a new one later (doubling the wait). */
  #listen(): void {
    const client = new pg.Client({ ...this.#pool.options, application_name: 'actorsync-listen' });
    this.#listener = client;
    const retry = () => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.end().catch(() => undefined);
      if (this.#closing) return;
      const [first, last] = LISTEN_RETRY_MS;
      const delay = Math.min(last, first * 2 ** this.#listenAttempt);
      this.#listenAttempt += 1;
      this.#listenRetry = setTimeout(() => {
        this.#listenRetry = undefined;
        if (!this.#closing) this.#listen();
      }, delay);
      this.#listenRetry.unref();
    };
    client.on('error', retry);
    client.on('end', retry);
    client.on('notification', ({ channel, payload }) => {
      if (channel !== CHANGES_CHANNEL || !payload) return;
      const scope = notifiedScope(payload, this.#instance);
      if (scope) this.#announce(scope);
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${CHANGES_CHANNEL}`))
      .then(() => {
        this.#listenAttempt = 0;
      })
      .catch(retry);
  }
}

/**
 * A client of `pool`, heard while checked out. A connection lost between two statements (the database restarted, a
 * network cut) is emitted as 'error' on the client, which the pool only listens to while it is idle: unheard, it
 * would end the server's process. The statement that follows fails on its own, and the release discards it.
 */
async function checkOut(pool: pg.Pool): Promise<pg.PoolClient> {
  const client = await pool.connect();
  const heard = () => undefined;
  client.on('error', heard);
  const release = client.release.bind(client);
  client.release = (error?: Error | boolean) => {
    client.removeListener('error', heard);
    release(error);
  };
  return client;
}

type Queryable = Pick<pg.PoolClient, 'query'>;

interface StoredRow {
  id: string;
  item: string;
  applied_count: number;
  applied_versions: string;
}

/**
 * The scope `$1`, `$2` as the feed index (`actorsync_records_feed`, migration 2) is keyed: reads in feed order
 * write it so; every other statement writes plain `partition = $1 AND entity_type = $2`, which only the primary key
 * serves.
 */
const FEED_SCOPE = `partition COLLATE "C" = $1 AND entity_type COLLATE "C" = $2`;

/** The stored rows of ids `$3` in the scope `$1`, `$2`: primary-key lookups, whatever the table's statistics. */
export const READ_STORED_ROWS = `SELECT id, item::text AS item, applied_count,
    to_json(applied_versions)::text AS applied_versions
  FROM actorsync_records WHERE partition = $1 AND entity_type = $2 AND id = ANY ($3::text[])`;

/** Expired tombstones exist in the scope `$1`, `$2` (cutoff `$3`): an index probe of the partial index. */
const EXPIRED_TOMBSTONES = `EXISTS (
  SELECT 1 FROM actorsync_records
  WHERE partition = $1 AND entity_type = $2 AND deleted AND deleted_at <= $3)`;

/** Locks the scope's feed row (made on first use) until the transaction ends, and returns it. */
async function lockFeed(client: Queryable, keys: ScopeKeys): Promise<FeedRow> {
  const result = await client.query<{ head: string; horizon: string; last_deleted_at: string }>(
    `INSERT INTO actorsync_feeds AS f (partition, entity_type) VALUES ($1, $2)
     ON CONFLICT (partition, entity_type) DO UPDATE SET head = f.head
     RETURNING head::text, horizon::text, last_deleted_at::text`,
    [keys.partition, keys.entityType],
  );
  const row = result.rows[0] as { head: string; horizon: string; last_deleted_at: string };
  return { head: Number(row.head), horizon: Number(row.horizon), lastDeletedAt: Number(row.last_deleted_at) };
}

/**
 * Forgets the scope's tombstones stored at or before `cutoff`, oldest first and at most `PURGE_LIMIT` of them, and
 * returns the new horizon (the highest purged sequence number). Delete times never go down within a feed, so the
 * expired tombstones are the oldest ones and the horizon covers exactly what was purged.
 */
async function purgeExpired(
  client: Queryable,
  keys: ScopeKeys,
  horizon: number,
  cutoff: number,
): Promise<number> {
  const result = await client.query<{ horizon: string | null }>(
    `WITH purged AS (
       DELETE FROM actorsync_records WHERE (partition, entity_type, id) IN (
         SELECT partition, entity_type, id FROM actorsync_records
         WHERE partition = $1 AND entity_type = $2 AND deleted AND deleted_at <= $3
         ORDER BY deleted_at, seq LIMIT $4)
       RETURNING seq)
     SELECT max(seq)::text AS horizon FROM purged`,
    [keys.partition, keys.entityType, cutoff, PURGE_LIMIT],
  );
  const purgedTo = result.rows[0]?.horizon;
  return purgedTo ? Math.max(horizon, Number(purgedTo)) : horizon;
}

/** The stored rows of the batch's ids, by key. */
async function readRecords(
  client: Queryable,
  keys: ScopeKeys,
  items: readonly RepositoryEntity[],
): Promise<Map<string, StoredItem>> {
  const result = await client.query<StoredRow>(READ_STORED_ROWS, [
    keys.partition,
    keys.entityType,
    [...new Set(items.map((item) => sqlKey(item.id)))],
  ]);
  return new Map(result.rows.map((row) => storedItem(row)).map(({ key, stored }) => [key, stored]));
}

function storedItem(row: StoredRow): RecordRow {
  return {
    key: row.id,
    stored: {
      item: JSON.parse(row.item) as RepositoryEntity,
      appliedCount: row.applied_count,
      appliedVersions: JSON.parse(row.applied_versions) as number[],
    },
  };
}

/**
 * Writes the batch's records in one statement, numbered from the head on in the batch's order. The database
 * refuses to replace a stored version with one not above it (the rules only write higher versions: `checkBatch`
 * keeps a base below its version); a refused row means something wrote the scope without its lock, and throws.
 */
async function writeRecords(
  client: Queryable,
  keys: ScopeKeys,
  writes: ReadonlyMap<string, StoredItem>,
  feed: FeedRow,
  at: number,
): Promise<{ head: number; lastDeletedAt: number }> {
  if (writes.size === 0) return { head: feed.head, lastDeletedAt: feed.lastDeletedAt };
  let head = feed.head;
  let lastDeletedAt = feed.lastDeletedAt;
  const columns = {
    id: [] as string[],
    version: [] as number[],
    deleted: [] as boolean[],
    item: [] as string[],
    seq: [] as number[],
    deletedAt: [] as (number | null)[],
    appliedCount: [] as number[],
    appliedVersions: [] as string[],
  };
  for (const [key, write] of writes) {
    head += 1;
    const deleted = isTombstone(write.item);
    // Delete times never go down within a feed, whatever the clocks of the processes writing it.
    if (deleted) lastDeletedAt = Math.max(lastDeletedAt, at);
    columns.id.push(key);
    columns.version.push(write.item.version);
    columns.deleted.push(deleted);
    columns.item.push(JSON.stringify(write.item));
    columns.seq.push(head);
    columns.deletedAt.push(deleted ? lastDeletedAt : null);
    columns.appliedCount.push(write.appliedCount);
    columns.appliedVersions.push(`{${write.appliedVersions.join(',')}}`);
  }
  const result = await client.query(
    `INSERT INTO actorsync_records AS r
       (partition, entity_type, id, version, deleted, item, seq, deleted_at, applied_count, applied_versions)
     SELECT $1, $2, w.id, w.version, w.deleted, w.item::json, w.seq, w.deleted_at, w.applied_count,
            w.applied_versions::bigint[]
     FROM unnest($3::text[], $4::bigint[], $5::boolean[], $6::text[], $7::bigint[], $8::bigint[], $9::integer[],
                 $10::text[])
       AS w (id, version, deleted, item, seq, deleted_at, applied_count, applied_versions)
     ON CONFLICT (partition, entity_type, id) DO UPDATE SET
       version = excluded.version, deleted = excluded.deleted, item = excluded.item, seq = excluded.seq,
       deleted_at = excluded.deleted_at, applied_count = excluded.applied_count,
       applied_versions = excluded.applied_versions
     WHERE r.version < excluded.version`,
    [
      keys.partition,
      keys.entityType,
      columns.id,
      columns.version,
      columns.deleted,
      columns.item,
      columns.seq,
      columns.deletedAt,
      columns.appliedCount,
      columns.appliedVersions,
    ],
  );
  if (result.rowCount !== writes.size) {
    throw new WriteGuardError(
      `${writes.size - (result.rowCount ?? 0)} of ${writes.size} writes met a stored version at or above their own; the batch was rolled back`,
    );
  }
  return { head, lastDeletedAt };
}

function scopeKeys(scope: Scope): ScopeKeys {
  if (!isEntityTypeName(scope.entityType)) {
    throw new InvalidOptionsError(
      `Not an entity type name: ${JSON.stringify(String(scope.entityType).slice(0, 80))}`,
    );
  }
  const partition = sqlKey(scope.partition);
  // Notifications carry the partition itself (a notification holds under 8,000 bytes), so it is never hashed.
  if (isHashedKey(partition)) {
    throw new InvalidOptionsError(
      `A partition name must be at most ${MAX_PLAIN_KEY_BYTES} bytes as JSON; got one of ${scope.partition.length} characters`,
    );
  }
  return { partition, entityType: scope.entityType };
}

/** The scope another process announced, or `undefined` for this store's own (and anything unreadable). */
function notifiedScope(payload: string, instance: string): Scope | undefined {
  try {
    const [from, partition, entityType] = JSON.parse(payload) as unknown[];
    if (from === instance || typeof partition !== 'string' || typeof entityType !== 'string')
      return undefined;
    return { partition, entityType };
  } catch {
    return undefined;
  }
}

function checkOptions(options: PostgresServerStoreOptions): void {
  if ((options.connectionString === undefined) === (options.pool === undefined)) {
    throw new InvalidOptionsError('PostgresServerStore.open needs either connectionString or pool');
  }
  const positive = {
    maxConnections: options.maxConnections,
    statementTimeoutMs: options.statementTimeoutMs,
    checkTimeoutMs: options.checkTimeoutMs,
  };
  for (const [name, value] of Object.entries(positive)) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value > 0)) {
      throw new InvalidOptionsError(`${name} must be a whole number above 0, got ${value}`);
    }
  }
  const retention = {
    tombstoneRetentionMs: options.tombstoneRetentionMs,
    replyRetentionMs: options.replyRetentionMs,
  };
  for (const [name, value] of Object.entries(retention)) {
    if (value !== undefined && !(value >= 0))
      throw new InvalidOptionsError(`${name} must be at least 0, got ${value}`);
  }
}

/** The database a pool connects to, for messages: its URL without the password, or host, port and name. */
function describeDatabase(connectionString: string | undefined, options: pg.PoolConfig): string {
  if (connectionString) return redactedUrl(connectionString);
  const host = options.host ?? process.env.PGHOST ?? 'localhost';
  const port = options.port ?? process.env.PGPORT ?? 5432;
  const database = options.database ?? process.env.PGDATABASE ?? '';
  return `postgres://${options.user ? `${options.user}@` : ''}${host}:${port}/${database}`;
}

/**
 * `error` as thrown by a call: our own errors as they are, and the database out of reach (connection lost,
 * refused, cancelled by the statement timeout, shutting down) as `DatabaseUnavailableError` with `context`.
 */
function unavailable(error: unknown, context: string): unknown {
  if (error instanceof DatabaseUnavailableError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const network = typeof code === 'string' && /^E[A-Z]+$/.test(code);
  const lost = /Connection terminated|timeout exceeded when trying to connect/i.test(error.message);
  if (network || lost || (sqlState && UNAVAILABLE_SQLSTATE.test(sqlState))) {
    return new DatabaseUnavailableError(`${context}: ${messageOf(error)}`, { cause: error });
  }
  return error;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
