/**
 * A server for one competitor measurement, in its own process so its CPU time and memory are not charged to the
 * client being measured. 127.0.0.1 on a free port, memory only. Prints one JSON line `{ url, token }`, then
 * serves until SIGTERM/SIGINT or until its stdin closes (the parent went away), and then prints one more line,
 * `{ requests }`: how many requests the client made (POSTs for actorsync; every request for PouchDB but the
 * parent's count check, which carries `x-bench-check`).
 *
 *   server.ts actorsync   the actorsync reference server (createSyncServer): baseline-serial and rxdb push here
 *   server.ts pouchdb     express-pouchdb over PouchDB's memory adapter: the pouchdb variant replicates here
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Running {
  url: string;
  token: string;
  /** Requests the client made (the parent's check after the run excluded). */
  requests(): number;
  close(): Promise<void>;
}

async function startActorsync(): Promise<Running> {
  const { createSyncServer } = await import('../../src/server/sync-server.js');
  let requests = 0;
  const server = await createSyncServer({
    host: '127.0.0.1',
    port: 0,
    onRequest: ({ method }) => {
      if (method === 'POST') requests += 1;
    },
  });
  return { url: server.url, token: server.token, requests: () => requests, close: () => server.close() };
}

async function startPouchdb(): Promise<Running> {
  const { default: PouchDB } = await import('pouchdb');
  const { default: memoryAdapter } = await import('pouchdb-adapter-memory');
  const { default: expressPouchDB } = await import('express-pouchdb');
  PouchDB.plugin(memoryAdapter);
  const MemoryPouchDB = PouchDB.defaults({ adapter: 'memory' });
  // minimumForPouchDB: only the routes replication needs; no config, log or _users files on disk.
  const app = expressPouchDB(MemoryPouchDB, { mode: 'minimumForPouchDB', inMemoryConfig: true });
  let requests = 0;
  const server = createServer((request, response) => {
    if (request.headers['x-bench-check'] === undefined) requests += 1;
    app(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token: '',
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const kind = process.argv[2];
if (kind !== 'actorsync' && kind !== 'pouchdb') {
  throw new Error(`usage: server.ts actorsync|pouchdb (got ${String(kind)})`);
}
const running = kind === 'actorsync' ? await startActorsync() : await startPouchdb();

let closing = false;
const shutdown = () => {
  if (closing) return;
  closing = true;
  process.stdout.write(`${JSON.stringify({ requests: running.requests() })}\n`);
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
process.stdin.once('close', shutdown);
process.stdin.resume();

process.stdout.write(`${JSON.stringify({ url: running.url, token: running.token })}\n`);
