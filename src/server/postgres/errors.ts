import { ActorSyncError } from '../../domain/errors.js';
import { StoreUnavailableError } from '../server-store.js';

/**
 * The database could not be reached or refused the store (down, wrong host or credentials, timed out). Messages
 * name the database by `redactedUrl`: never with its password.
 */
export class DatabaseUnavailableError extends StoreUnavailableError {
  constructor(message: string, options?: ErrorOptions) {
    super('DATABASE_UNAVAILABLE', message, options);
  }
}

/** The database's actorsync schema is not the one this code writes: migrations missing, or made by a newer release. */
export class SchemaVersionError extends ActorSyncError {
  constructor(message: string) {
    super('SCHEMA_VERSION', message);
  }
}

/**
 * A write the version rules chose was refused by the database's own guard (the stored version is not below the
 * new one): something wrote the scope without its lock. The batch's transaction was rolled back; nothing applied.
 */
export class WriteGuardError extends ActorSyncError {
  constructor(message: string) {
    super('WRITE_GUARD', message);
  }
}

/** The store was closed: it takes no more calls. */
export class StoreClosedError extends StoreUnavailableError {
  constructor() {
    super('STORE_CLOSED', 'The PostgreSQL server store is closed');
  }
}

/**
 * `url` without its password, for messages and logs: the password of a `postgres://user:password@host/db` URL and
 * any `password` parameter (in the query string, or in a `key=value` connection string) become `***`.
 */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass/i.test(key)) parsed.searchParams.set(key, '***');
    }
    return parsed.toString();
  } catch {
    // Not a URL: a libpq `key=value` string, or a typo. Mask every value of a key that names a password.
    return url.replace(/(\w*pass\w*\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
  }
}
