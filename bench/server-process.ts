/**
 * The reference sync server for the throughput benchmark, in its own process so its CPU time is not charged to
 * the client being measured: memory only, no faults, 127.0.0.1 on a free port. Prints `{ url, token }` as one
 * JSON line, then serves until SIGTERM or until its stdin closes (the parent went away).
 */
import { createSyncServer } from '../src/server.js';
import { report, type ServerInfo } from './shared.js';

const server = await createSyncServer({ host: '127.0.0.1', port: 0 });

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
