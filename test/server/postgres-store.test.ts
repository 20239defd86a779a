import { onTestFinished } from 'vitest';
import { PostgresServerStore } from '../../src/server-postgres.js';
import { testDatabase } from '../helpers/postgres.js';
import { describeServerStore } from './server-store-contract.js';

describeServerStore('PostgreSQL', async (options) => {
  const database = await testDatabase();
  const store = await PostgresServerStore.open({ connectionString: database.url, ...options });
  // Closed before the database is dropped (finish hooks run last first).
  onTestFinished(() => store.close());
  return store;
});
