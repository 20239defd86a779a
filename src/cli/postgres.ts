import { errorMessage } from '../domain/errors.js';
import type { PostgresServerStore } from '../server-postgres.js';
import { CliError } from './errors.js';

type PostgresEntry = typeof import('../server-postgres.js');

/**
 * `actorsync/server/postgres`, loaded only by the commands given a database: it needs `pg`, an optional peer
 * dependency that an app serving from memory never installs.
 */
export async function loadPostgres(): Promise<PostgresEntry> {
  try {
    return await import('../server-postgres.js');
  } catch (error) {
    throw new CliError(
      `A PostgreSQL database needs the pg package next to actorsync (npm install pg): ${errorMessage(error)}`,
    );
  }
}

/** Opens the PostgreSQL server store (migrating it), as a `CliError` naming the database without its password. */
export async function openPostgresStore(
  url: string,
  options: { tombstoneRetentionMs?: number } = {},
): Promise<{
  store: PostgresServerStore;
  /** The URL to print: its password masked. */
  shown: string;
}> {
  const { PostgresServerStore, redactedUrl } = await loadPostgres();
  const shown = redactedUrl(url);
  try {
    return { store: await PostgresServerStore.open({ connectionString: url, ...options }), shown };
  } catch (error) {
    // The store's errors name the database already masked; anything else (a bad URL) gets the masked URL here.
    const message = errorMessage(error);
    throw new CliError(message.includes(shown) ? message : `${message} (${shown})`);
  }
}

/** `actorsync migrate`: applies the migrations the database lacks and says which. */
export async function runMigrate(options: { databaseUrl: string }): Promise<number> {
  const { migrate, redactedUrl, SCHEMA_VERSION } = await loadPostgres();
  const { default: pg } = await import('pg');
  const shown = redactedUrl(options.databaseUrl);
  const client = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new CliError(
      `Cannot reach the database ${shown}: ${errorMessage(error).split(options.databaseUrl).join(shown)}`,
    );
  }
  try {
    const applied = await migrate(client);
    console.log(
      applied.length > 0
        ? `Applied migration${applied.length === 1 ? '' : 's'} ${applied.join(', ')} to ${shown}: schema version ${SCHEMA_VERSION}`
        : `${shown} is at schema version ${SCHEMA_VERSION}: nothing to apply`,
    );
    return 0;
  } catch (error) {
    throw new CliError(`Migrating ${shown} failed: ${errorMessage(error)}`);
  } finally {
    await client.end().catch(() => {});
  }
}
