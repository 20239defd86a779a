import { dirname, resolve } from 'node:path';
import { errorMessage } from '../domain/errors.js';
import type { ServerStore } from '../server/server-store.js';
import { isOrigin } from '../server/sync-handler.js';
import { createSyncServer } from '../server/sync-server.js';
import { CliError } from './errors.js';
import { openPostgresStore } from './postgres.js';
import { assertDirectory } from './store-file.js';

/** Refused origins `serve` names, at most: the rest would only fill the log and memory. */
const MAX_REPORTED_ORIGINS = 100;

export interface ServeOptions {
  host: string;
  port: number;
  /** Falls back to ACTORSYNC_TOKEN, then to a generated one (printed once). */
  token?: string | undefined;
  file?: string | undefined;
  faultRate: number;
  maxBodyBytes?: number | undefined;
  /** Days a pushed delete is kept in the change feed (the server's default when absent). */
  tombstoneRetention?: number | undefined;
  allowRemote: boolean;
  /** Keep records in this PostgreSQL database (migrated on start) instead of memory or a file. */
  databaseUrl?: string | undefined;
  /** Browser origins allowed to call the server (CORS). Default none. */
  corsOrigins?: readonly string[] | undefined;
  /** Entity types every principal shares. */
  sharedTypes?: readonly string[] | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Runs the reference sync server until SIGINT or SIGTERM. */
export async function runServe(options: ServeOptions): Promise<number> {
  // Checked here so the message names the flag, not the library option.
  if (!LOOPBACK.has(options.host) && !options.allowRemote) {
    throw new CliError(
      `Refusing to bind ${options.host}: serve binds loopback (127.0.0.1, ::1, localhost) unless --allow-remote is given`,
    );
  }
  // The server writes its state file on the first sync: a directory that is not there would fail every sync.
  if (options.file && options.databaseUrl) {
    throw new CliError('--file and --database-url both say where records live: give one of them');
  }
  if (options.file) await assertDirectory(dirname(resolve(options.file)));
  const token = options.token || process.env.ACTORSYNC_TOKEN || undefined;
  const retention = options.tombstoneRetention
    ? { tombstoneRetentionMs: options.tombstoneRetention * 24 * 60 * 60 * 1000 }
    : {};
  const database = options.databaseUrl ? await openPostgresStore(options.databaseUrl, retention) : undefined;
  const refusedOrigins = new Set<string>();
  // A refused option (an origin that is not one, a port in use) must not leave the database pool holding the process.
  const server = await createSyncServer<ServerStore>({
    host: options.host,
    port: options.port,
    allowRemote: options.allowRemote,
    ...(database ? { store: database.store } : {}),
    ...(token ? { token } : {}),
    ...(options.file ? { file: resolve(options.file) } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(database ? {} : retention),
    cors: {
      origins: options.corsOrigins ?? [],
      // The page itself only sees "Failed to fetch", as if offline: say here which flag it lacks. Once per origin,
      // and for the first 100 only: any client may send any Origin header, as many as it likes.
      onOriginRefused: (origin) => {
        if (refusedOrigins.has(origin) || refusedOrigins.size >= MAX_REPORTED_ORIGINS) return;
        if (origin.length > 200) return;
        refusedOrigins.add(origin);
        console.log(refusedOriginLine(origin));
      },
    },
    ...(options.sharedTypes?.length ? { sharedTypes: options.sharedTypes } : {}),
    faults: { rate: options.faultRate, retryAfterSeconds: 1, hangMs: 2_000 },
    onRequest: ({ method, path, status, fault }) =>
      console.log(
        `${new Date().toISOString()} ${method} ${path} ${outcomeOf(status, fault)}${fault ? ` fault=${fault}` : ''}`,
      ),
    // Why a request got a 500, in one line: the client only hears that its batch was not applied.
    onError: (error, { method, path }) =>
      console.error(
        `${new Date().toISOString()} ${method} ${path} 500 error: ${errorMessage(error).replace(/\s+/g, ' ').trim()}`,
      ),
  }).catch(async (error: unknown) => {
    await database?.store.close();
    throw error;
  });
  // Built from the address the server bound: scheme, host and port, nothing to hide.
  const url = server.url;
  console.log(`actorsync sync server listening on ${url}`);
  console.log(`  POST ${url}/v1/sync/{entityType}   GET ${url}/v1/changes/{entityType}?since=…`);
  console.log(`  GET ${url}/v1/items/{entityType}`);
  if (!token) {
    console.log(`  token: ${server.token}`);
    console.log('  (generated for this run; clients send it as a bearer token, e.g. via ACTORSYNC_TOKEN)');
  }
  if (options.file) console.log(`  persisting to ${resolve(options.file)}`);
  if (database) console.log(`  storing in PostgreSQL at ${database.shown}`);
  if (options.corsOrigins?.length)
    console.log(`  browsers may call it from ${options.corsOrigins.join(', ')}`);
  if (options.faultRate > 0)
    console.log(`  injecting faults into ${options.faultRate * 100}% of sync requests`);
  console.log('  Ctrl-C stops it.');
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  // Batches being applied finish and are answered; then the database connections close.
  await server.close();
  await database?.store.close();
  console.log(`Stopped (${signal}).`);
  return 0;
}

/** Injected faults that drop the connection (status 0) on the server's side: the client did not go first. */
const DROPPING_FAULTS = new Set(['timeout', 'reset', 'dropReply']);

/**
 * A request's status for the log. Status 0 means no answer was sent: the server dropped it on purpose (an injected
 * fault) or the client went first (a long poll it stopped waiting for, a closed tab); saying the client closed an
 * injected drop would blame the wrong side.
 */
function outcomeOf(status: number, fault: string | undefined): string | number {
  if (status !== 0) return status;
  return fault !== undefined && DROPPING_FAULTS.has(fault) ? 'dropped by the server' : 'closed by the client';
}

/**
 * The line for a refused browser origin. The Origin header is the client's text: the flag is suggested only for a
 * real origin, which `--cors-origin` accepts. A page opened from a file or in a sandboxed frame sends `null`, which
 * no flag can allow (serve would refuse `--cors-origin null` at start); anything else is not a browser's origin
 * and is not repeated as a command to paste.
 */
function refusedOriginLine(origin: string): string {
  if (origin === 'null') {
    return 'Refused a browser request from a page without an origin (Origin: null: opened from a file or in a sandboxed frame): serve the page over http(s) and allow that origin with --cors-origin';
  }
  if (!isOrigin(origin)) return 'Refused a request whose Origin header is not an origin';
  return `Refused a browser request from ${origin}: to allow it, restart with --cors-origin ${origin}`;
}
