import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject, onTestFinished } from 'vitest';
import { redactedUrl } from '../../src/server/postgres/errors.js';

/** A database of its own for one test or file, on the run's PostgreSQL (test/helpers/postgres-server.ts). */
export interface TestDatabase {
  /** Its connection string. */
  url: string;
  name: string;
  /** Drops it, closing whatever is still connected. */
  drop(): Promise<void>;
}

/**
 * Creates an empty database with a random name, so tests never share state. Throws (never skips) when the run has
 * no PostgreSQL, naming what is missing.
 */
export async function freshDatabase(): Promise<TestDatabase> {
  const server = inject('postgres');
  if ('error' in server) throw new Error(server.error);
  const name = `actorsync_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(server, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => withAdmin(server, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  };
}

/** `freshDatabase()`, dropped when the current test finishes. Call it inside a test. */
export async function testDatabase(): Promise<TestDatabase> {
  const database = await freshDatabase();
  onTestFinished(() => database.drop());
  return database;
}

async function withAdmin(
  server: { url: string; source: string },
  work: (admin: pg.Client) => Promise<unknown>,
): Promise<void> {
  const admin = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL for the tests (${server.source}, ${redactedUrl(server.url)}) is unreachable: ${(error as Error).message}`,
    );
  }
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}

/** A plain connection to `url`, ended when the current test finishes: for SQL the tests run around the store. */
export async function sqlClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  onTestFinished(() => client.end().catch(() => undefined));
  return client;
}

/**
 * Waits until a backend of the database runs a statement matching `query` (an ILIKE pattern) while waiting for a
 * lock: polled, as PostgreSQL has no event for it.
 */
export async function untilWaitingOnLock(admin: pg.Client, query: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = await admin.query(
      `SELECT 1 FROM pg_stat_activity
       WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`,
      [query],
    );
    if ((waiting.rowCount ?? 0) > 0) return;
    if (Date.now() > deadline)
      throw new Error(`No statement like ${query} waited for a lock within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
