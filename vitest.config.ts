import { defineConfig } from 'vitest/config';

/**
 * The protocol suites: what a client sees of a sync server over HTTP. The `postgres` project runs them again with
 * the server on the PostgreSQL store (test/e2e/harness.ts reads ACTORSYNC_SERVER_STORE): same tests, same results.
 */
const PROTOCOL_SUITES = [
  'test/e2e/http-contract.test.ts',
  'test/e2e/change-feed.test.ts',
  'test/e2e/two-way-conflicts.test.ts',
  'test/e2e/pull-reset.test.ts',
  'test/e2e/lost-update.test.ts',
  'test/e2e/faults.test.ts',
  'test/e2e/offline.test.ts',
  'test/e2e/pull-from-reference-server.test.ts',
  'test/e2e/live.test.ts',
];

/**
 * What every project runs with. Spelled out rather than inherited (`extends: true`): a project that inherits the
 * root's globalSetup runs it again, one more PostgreSQL each, while the root's runs once and reaches every project.
 */
const PROJECT = { testTimeout: 20_000, hookTimeout: 20_000 };

export default defineConfig({
  test: {
    // One PostgreSQL for the run (embedded, or DATABASE_URL): the PostgreSQL server store's tests need it.
    globalSetup: ['test/helpers/postgres-server.ts'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts', 'machines/**/*.ts'],
    },
    projects: [
      { test: { ...PROJECT, name: 'default', include: ['test/**/*.test.ts'] } },
      {
        test: {
          ...PROJECT,
          name: 'postgres',
          include: PROTOCOL_SUITES,
          env: { ACTORSYNC_SERVER_STORE: 'postgres' },
        },
      },
    ],
  },
});
