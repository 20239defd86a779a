/**
 * A server for one competitor measurement, in its own process so its CPU time and memory are not charged to the
 * client being measured. 127.0.0.1 on a free port, memory only. Prints one JSON line `{ url, token }`, then
 * serves until SIGTERM/SIGINT or until its stdin closes (the parent went away), and then prints one more line,
 * `{ requests }`: how many requests the client made (POSTs and change-feed GETs for actorsync; every request for PouchDB but the
 * parent's count check, which carries `x-bench-check`).
 *
 *   server.ts actorsync   the actorsync reference server (createSyncServer): baseline-serial, actorsync and rxdb
 *                         push here, and every pull variant but pull-pouchdb pulls from its change feed
 *   server.ts pouchdb     express-pouchdb over PouchDB's memory adapter (database `bench`): the pouchdb variants
 *
 *   --preload N           (pull variants) the server holds N records from `makeRecords` before it prints its
 *                         address: applied to the reference server's state in batches, or `bulkDocs` into `bench`
 *                         (with `_id` = `id`), as the push variants would have left them there
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ENTITY_TYPE, makeRecords } from '../shared.js';

const PRELOAD_CHUNK = 5_000;

interface Running {
  url: string;
  token: string;
  /** Requests the client made (the parent's check after the run excluded). */
  requests(): number;
  close(): Promise<void>;
}

async function startActorsync(preload: number): Promise<Running> {
  const { createSyncServer } = await import('../../src/server/sync-server.js');
  let requests = 0;
  const server = await createSyncServer({
    host: '127.0.0.1',
    port: 0,
    onRequest: ({ method, path }) => {
      // The client's requests: POSTs of batches and GETs of the change feed (not the parent's count check).
      if (method === 'POST' || path.startsWith('/v1/changes/')) requests += 1;
    },
  });
  for (let from = 0; from < preload; from += PRELOAD_CHUNK) {
    const records = makeRecords(from, Math.min(PRELOAD_CHUNK, preload - from));
    server.state.apply(ENTITY_TYPE, `preload-${from}`, records);
  }
  return { url: server.url, token: server.token, requests: () => requests, close: () => server.close() };
}

async function startPouchdb(preload: number): Promise<Running> {
  const { default: PouchDB } = await import('pouchdb');
  const { default: memoryAdapter } = await import('pouchdb-adapter-memory');
  const { default: expressPouchDB } = await import('express-pouchdb');
  PouchDB.plugin(memoryAdapter);
  const MemoryPouchDB = PouchDB.defaults({ adapter: 'memory' });
  // memdown keeps one store per name in the process: the server's `bench` is this one.
  if (preload > 0) {
    const bench = new MemoryPouchDB('bench');
    for (let from = 0; from < preload; from += PRELOAD_CHUNK) {
      const docs = makeRecords(from, Math.min(PRELOAD_CHUNK, preload - from)).map((record) => ({
        _id: record.id,
        ...record,
      }));
      const failed = (await bench.bulkDocs(docs)).find((result) => result.error);
      if (failed)
        throw new Error(`preload: bulkDocs failed for ${failed.id}: ${failed.reason ?? failed.error}`);
    }
  }
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
  throw new Error(`usage: server.ts actorsync|pouchdb [--preload N] (got ${String(kind)})`);
}
const preloadAt = process.argv.indexOf('--preload');
const preload = preloadAt < 0 ? 0 : Number(process.argv[preloadAt + 1]);
if (!Number.isSafeInteger(preload) || preload < 0) throw new Error('--preload: a whole number of records');
const running = kind === 'actorsync' ? await startActorsync(preload) : await startPouchdb(preload);

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
