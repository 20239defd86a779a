/**
 * The reference sync server for the throughput benchmark, in its own process so its CPU time is not charged to
 * the client being measured: memory only, no faults (but the latency of `BENCH_LATENCY_MS`, if set), 127.0.0.1 on a
 * free port. Prints `{ url, token }` as one
 * JSON line, then serves until SIGTERM or until its stdin closes (the parent went away).
 *
 * `BENCH_PRELOAD=N` (the pull benchmark): before printing, the server holds N telemetry records from `makeRecords`
 * (the same ones at every start), applied straight to its state in batches of `PRELOAD_BATCH` as pushes would store
 * them, so its change feed serves them in id order.
 *
 * `BENCH_DATABASE_URL=postgres://…` (bench/server-postgres.ts): the server's store is a `PostgresServerStore` on
 * that database instead of memory, with a pool of `BENCH_PG_CONNECTIONS` (default: the store's 10); it cannot be
 * preloaded here (the parent pushes or loads it), and it is closed after the server. `BENCH_SERVER_TOKEN`: the
 * bearer token to accept instead of a generated one, so clients can alternate between server processes.
 */
import { createSyncServer } from '../src/server.js';
import { PostgresServerStore } from '../src/server-postgres.js';
import { ENTITY_TYPE, makeRecords, report, type ServerInfo } from './shared.js';

/** `BENCH_LATENCY_MS=20-60` (or `40`): the reference server's latency option, a network slower than loopback. */
function latencyOption(text: string | undefined): number | [number, number] | undefined {
  if (!text) return undefined;
  const [min, max] = text.split('-').map(Number);
  if (min === undefined || !Number.isFinite(min) || (max !== undefined && !Number.isFinite(max)))
    throw new Error(`BENCH_LATENCY_MS: a number of ms or a range like 20-60, got ${text}`);
  return max === undefined ? min : [min, max];
}

const latencyMs = latencyOption(process.env.BENCH_LATENCY_MS);
const databaseUrl = process.env.BENCH_DATABASE_URL;
const postgresConnections = process.env.BENCH_PG_CONNECTIONS
  ? Number(process.env.BENCH_PG_CONNECTIONS)
  : undefined;
const postgresStore = databaseUrl
  ? await PostgresServerStore.open({ connectionString: databaseUrl, maxConnections: postgresConnections })
  : undefined;
const givenToken = process.env.BENCH_SERVER_TOKEN ? { token: process.env.BENCH_SERVER_TOKEN } : {};
const server = postgresStore
  ? await createSyncServer({
      host: '127.0.0.1',
      port: 0,
      ...givenToken,
      store: postgresStore,
      ...(latencyMs === undefined ? {} : { faults: { latencyMs } }),
    })
  : await createSyncServer({
      host: '127.0.0.1',
      port: 0,
      ...givenToken,
      ...(latencyMs === undefined ? {} : { faults: { latencyMs } }),
    });

const PRELOAD_BATCH = 10_000;
const preload = Number(process.env.BENCH_PRELOAD ?? 0);
if (!Number.isSafeInteger(preload) || preload < 0)
  throw new Error(`BENCH_PRELOAD: a whole number of records, got ${process.env.BENCH_PRELOAD}`);
if (preload > 0 && !server.state)
  throw new Error('BENCH_PRELOAD needs the memory store: load PostgreSQL from the parent');
for (let from = 0; from < preload; from += PRELOAD_BATCH) {
  server.state?.apply(
    ENTITY_TYPE,
    `preload-${from}`,
    makeRecords(from, Math.min(PRELOAD_BATCH, preload - from)),
  );
}

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  server
    .close()
    .then(() => postgresStore?.close())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
process.stdin.once('close', shutdown);
process.stdin.resume();

report({ url: server.url, token: server.token } satisfies ServerInfo);
