/**
 * The reference sync server for the throughput benchmark, in its own process so its CPU time is not charged to
 * the client being measured: memory only, no faults (but the latency of `BENCH_LATENCY_MS`, if set), 127.0.0.1 on a
 * free port. Prints `{ url, token }` as one
 * JSON line, then serves until SIGTERM or until its stdin closes (the parent went away).
 */
import { createSyncServer } from '../src/server.js';
import { report, type ServerInfo } from './shared.js';

/** `BENCH_LATENCY_MS=20-60` (or `40`): the reference server's latency option, a network slower than loopback. */
function latencyOption(text: string | undefined): number | [number, number] | undefined {
  if (!text) return undefined;
  const [min, max] = text.split('-').map(Number);
  if (min === undefined || !Number.isFinite(min) || (max !== undefined && !Number.isFinite(max)))
    throw new Error(`BENCH_LATENCY_MS: a number of ms or a range like 20-60, got ${text}`);
  return max === undefined ? min : [min, max];
}

const latencyMs = latencyOption(process.env.BENCH_LATENCY_MS);
const server = await createSyncServer({
  host: '127.0.0.1',
  port: 0,
  ...(latencyMs === undefined ? {} : { faults: { latencyMs } }),
});

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  server.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
process.stdin.once('close', shutdown);
process.stdin.resume();

report({ url: server.url, token: server.token } satisfies ServerInfo);
