import { dirname, resolve } from 'node:path';
import { errorMessage } from '../domain/errors.js';
import { createSyncServer } from '../server/sync-server.js';
import { CliError } from './errors.js';
import { assertDirectory } from './store-file.js';

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
  if (options.file) await assertDirectory(dirname(resolve(options.file)));
  const token = options.token || process.env.ACTORSYNC_TOKEN || undefined;
  const server = await createSyncServer({
    host: options.host,
    port: options.port,
    allowRemote: options.allowRemote,
    ...(token ? { token } : {}),
    ...(options.file ? { file: resolve(options.file) } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.tombstoneRetention
      ? { tombstoneRetentionMs: options.tombstoneRetention * 24 * 60 * 60 * 1000 }
      : {}),
    faults: { rate: options.faultRate, retryAfterSeconds: 1, hangMs: 2_000 },
    onRequest: ({ method, path, status, fault }) =>
      console.log(`${new Date().toISOString()} ${method} ${path} ${status}${fault ? ` fault=${fault}` : ''}`),
    // Why a request got a 500, in one line: the client only hears that its batch was not applied.
    onError: (error, { method, path }) =>
      console.error(
        `${new Date().toISOString()} ${method} ${path} 500 error: ${errorMessage(error).replace(/\s+/g, ' ').trim()}`,
      ),
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
  if (options.faultRate > 0)
    console.log(`  injecting faults into ${options.faultRate * 100}% of sync requests`);
  console.log('  Ctrl-C stops it.');
  const signal = await new Promise<NodeJS.Signals>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await server.close();
  console.log(`Stopped (${signal}).`);
  return 0;
}
