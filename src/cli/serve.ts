import { resolve } from 'node:path';
import { createSyncServer } from '../server/sync-server.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Falls back to ACTORSYNC_TOKEN, then to a generated one (printed once). */
  token?: string | undefined;
  file?: string | undefined;
  faultRate: number;
  maxBodyBytes?: number | undefined;
  allowRemote: boolean;
}

/** Runs the reference sync server until SIGINT or SIGTERM. */
export async function runServe(options: ServeOptions): Promise<number> {
  const token = options.token ?? process.env.ACTORSYNC_TOKEN;
  const server = await createSyncServer({
    host: options.host,
    port: options.port,
    allowRemote: options.allowRemote,
    ...(token ? { token } : {}),
    ...(options.file ? { file: resolve(options.file) } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    faults: { rate: options.faultRate, retryAfterSeconds: 1, hangMs: 2_000 },
    onRequest: ({ method, path, status, fault }) =>
      console.log(`${new Date().toISOString()} ${method} ${path} ${status}${fault ? ` fault=${fault}` : ''}`),
  });
  console.log(`actorsync sync server listening on ${server.url}`);
  console.log(`  POST ${server.url}/v1/sync/{entityType}   GET ${server.url}/v1/items/{entityType}`);
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
