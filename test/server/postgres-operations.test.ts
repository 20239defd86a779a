import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Scope } from '../../src/server/server-store.js';
import {
  DatabaseUnavailableError,
  MIGRATIONS,
  PostgresServerStore,
  type PostgresServerStoreOptions,
  redactedUrl,
  SCHEMA_VERSION,
  SchemaVersionError,
  StoreClosedError,
} from '../../src/server-postgres.js';
import { sqlClient, testDatabase } from '../helpers/postgres.js';
import { batchOf, item } from './server-store-contract.js';

const notes: Scope = { partition: 'alice', entityType: 'notes' };

async function openStore(url: string, options: Partial<PostgresServerStoreOptions> = {}) {
  const store = await PostgresServerStore.open({ connectionString: url, ...options });
  onTestFinished(() => store.close());
  return store;
}

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('PostgreSQL store: schema and migrations', () => {
  it('processes starting at once on an empty database migrate it once and share one epoch', async () => {
    const { url } = await testDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(url, { maxConnections: 2 })));
    expect(new Set(stores.map(({ epoch }) => epoch)).size).toBe(1);
    const admin = await sqlClient(url);
    const migrations = await admin.query('SELECT version FROM actorsync_migrations ORDER BY version');
    expect(migrations.rows).toEqual(MIGRATIONS.map(({ version }) => ({ version })));
    // A restart keeps the epoch: checkpoints stay valid.
    const again = await openStore(url);
    expect(again.epoch).toBe(stores[0]?.epoch);
  });

  it('migrate: false refuses a database without the schema, and every store refuses a newer schema', async () => {
    const { url } = await testDatabase();
    const refused = PostgresServerStore.open({ connectionString: url, migrate: false });
    await expect(refused).rejects.toBeInstanceOf(SchemaVersionError);
    await expect(refused).rejects.toThrow(/lacks actorsync migrations 1, 2/);
    await (await PostgresServerStore.open({ connectionString: url })).close();
    await (await PostgresServerStore.open({ connectionString: url, migrate: false })).close();
    const admin = await sqlClient(url);
    await admin.query(`INSERT INTO actorsync_migrations (version, name) VALUES ($1, 'from the future')`, [
      SCHEMA_VERSION + 1,
    ]);
    for (const migrate of [true, false]) {
      await expect(PostgresServerStore.open({ connectionString: url, migrate })).rejects.toThrow(
        /newer than this code/,
      );
    }
  });
});

describe('PostgreSQL store: errors name the database, never its password', () => {
  it('an unreachable server fails open with DatabaseUnavailableError naming host and port', async () => {
    const port = await closedPort();
    const url = `postgres://app:s3cret-pw@127.0.0.1:${port}/appdb`;
    const opening = PostgresServerStore.open({ connectionString: url });
    await expect(opening).rejects.toBeInstanceOf(DatabaseUnavailableError);
    const error = (await opening.catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain(`postgres://app:***@127.0.0.1:${port}/appdb`);
    expect(error.message).not.toContain('s3cret-pw');
  });

  it('refused credentials fail open without showing the password', async () => {
    const { url } = await testDatabase();
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    const error = (await PostgresServerStore.open({ connectionString: wrong.toString() }).catch(
      (caught: unknown) => caught,
    )) as Error;
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.message).toMatch(/password authentication failed/);
    expect(error.message).not.toContain('not-the-password');
  });

  it('check() passes while the database serves, and fails clearly once it is gone', async () => {
    const database = await testDatabase();
    const store = await openStore(database.url);
    await expect(store.check()).resolves.toBeUndefined();
    await database.drop();
    const error = (await store.check().catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error.message).toContain(redactedUrl(database.url));
    expect(error.message).not.toContain(new URL(database.url).password);
  });

  it('redactedUrl masks URL passwords, password parameters and key=value passwords', () => {
    expect(redactedUrl('postgres://u:p%40ss@db:5432/x?sslmode=require')).toBe(
      'postgres://u:***@db:5432/x?sslmode=require',
    );
    expect(redactedUrl('postgresql://db/x?user=u&password=pw')).toBe('postgresql://db/x?user=u&password=***');
    expect(redactedUrl(`host=db user=u password='a b' dbname=x`)).toBe(
      'host=db user=u password=*** dbname=x',
    );
    expect(redactedUrl('postgres://db/x')).toBe('postgres://db/x');
  });
});

describe('PostgreSQL store: watch, replies and close', () => {
  it("tells one process's listeners of another's commits, also after its LISTEN connection was cut", async () => {
    const { url } = await testDatabase();
    const [writer, watcher] = [await openStore(url), await openStore(url)];
    const admin = await sqlClient(url);
    const heard: Scope[] = [];
    let onHeard: (() => void) | undefined;
    const stop = watcher.watch((scope) => {
      heard.push(scope);
      onHeard?.();
    });
    onTestFinished(stop);
    const listening = async (except?: number) => {
      for (;;) {
        const found = await admin.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'actorsync-listen'
           AND query ILIKE 'LISTEN%' AND pid <> $1`,
          [except ?? 0],
        );
        if (found.rows[0]) return found.rows[0].pid;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const hear = (write: () => Promise<unknown>) =>
      new Promise<void>((resolve, reject) => {
        onHeard = resolve;
        write().catch(reject);
      });

    const pid = await listening();
    await hear(() => writer.applyBatch(batchOf(notes, 'b1', [item('a', 1)])));
    expect(heard).toEqual([notes]);

    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await listening(pid);
    await hear(() =>
      writer.applyBatch(batchOf({ partition: 'bob', entityType: 'tasks' }, 'b1', [item('a', 1)])),
    );
    expect(heard).toEqual([notes, { partition: 'bob', entityType: 'tasks' }]);
  });

  it('replies are kept for their retention, then cleaned up: a late retry is applied as the same versions again', async () => {
    const { url } = await testDatabase();
    let time = 1_000;
    const store = await openStore(url, { replyRetentionMs: 60_000, now: () => time });
    const batch = batchOf(notes, 'b1', [item('a', 1), item('b', 1)]);
    await store.applyBatch(batch);
    time += 60_000;
    expect(await store.cleanupReplies()).toBe(0);
    expect(await store.applyBatch(batch)).toMatchObject({ status: 'duplicate' });
    time += 1;
    expect(await store.cleanupReplies()).toBe(1);
    expect(await store.applyBatch(batch)).toEqual({
      status: 'applied',
      reply: [
        { id: 'a', status: 'ok' },
        { id: 'b', status: 'ok' },
      ],
    });
    expect((await store.list(notes)).map(({ appliedCount }) => appliedCount)).toEqual([1, 1]);
  });

  it('close() lets batches in flight finish, then refuses new calls', async () => {
    const { url } = await testDatabase();
    const store = await PostgresServerStore.open({ connectionString: url });
    const inFlight = store.applyBatch(batchOf(notes, 'b1', [item('a', 1)]));
    const closing = store.close();
    await expect(inFlight).resolves.toMatchObject({ status: 'applied' });
    await closing;
    await expect(store.list(notes)).rejects.toBeInstanceOf(StoreClosedError);
    await expect(store.check()).rejects.toBeInstanceOf(StoreClosedError);
    const reopened = await openStore(url);
    expect((await reopened.list(notes)).map(({ item }) => item.id)).toEqual(['a']);
  });
});
