// `actorsync/server/postgres`: the sync server's store on PostgreSQL (Node only; needs the optional peer `pg`).
export {
  DatabaseUnavailableError,
  redactedUrl,
  SchemaVersionError,
  StoreClosedError,
  WriteGuardError,
} from './server/postgres/errors.js';
export { MIGRATIONS, type Migration, migrate, SCHEMA_VERSION } from './server/postgres/migrations.js';
export {
  DEFAULT_REPLY_RETENTION_MS,
  PostgresServerStore,
  type PostgresServerStoreOptions,
} from './server/postgres/postgres-store.js';
