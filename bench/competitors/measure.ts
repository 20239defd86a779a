/**
 * One timed competitor run, in a fresh process so its peak RSS is its own. Prints one JSON line (a
 * CompetitorResult). The token of the actorsync server comes in BENCH_TOKEN.
 *
 *   measure.ts --variant baseline-serial|pouchdb|rxdb|rxdb-serial --size N --url U
 *
 * Untimed: generating the N records and loading them into the local database. Timed: pushing all of them to the
 * server at U in batches of 100 until the library says it is done. baseline-serial, pouchdb (batches_limit 1)
 * and rxdb-serial have one batch in flight at a time; rxdb as it comes keeps up to 4 push calls in flight.
 */
import type { RxCollection } from 'rxdb';
import { makeRecords, postBatch, type TelemetryRecord } from '../shared.js';

export const VARIANTS = ['baseline-serial', 'pouchdb', 'rxdb', 'rxdb-serial'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface CompetitorResult {
  variant: Variant;
  size: number;
  /** Wall time of the timed section. */
  ms: number;
  /** Records the server acknowledged (baseline, rxdb) or PouchDB reports written (pouchdb). */
  pushed: number;
  /** Wall time of the untimed setup: generating the records and loading them into the local database. */
  setupMs: number;
  /** process.resourceUsage().maxRSS in bytes after the untimed setup. */
  setupPeakRssBytes: number;
  /** process.resourceUsage().maxRSS in bytes right after the timed section (before any check). */
  peakRssBytes: number;
  /** User + system CPU time of this process during the timed section. */
  cpuMs: number;
  /** Version of the library measured. */
  library: string;
}

const BATCH_SIZE = 100;
const LOAD_CHUNK = 5_000;

function option(name: string): string {
  const index = process.argv.indexOf(`--${name}`);
  const value = index >= 0 ? process.argv[index + 1] : undefined;
  if (value === undefined || value.startsWith('--')) throw new Error(`Missing value for --${name}`);
  return value;
}

function allRecords(size: number): TelemetryRecord[] {
  const records: TelemetryRecord[] = [];
  for (let from = 0; from < size; from += LOAD_CHUNK) {
    records.push(...makeRecords(from, Math.min(LOAD_CHUNK, size - from)));
  }
  return records;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** POSTs one batch (bench/shared.ts) and returns how many items came back `ok`. */
async function postBatchCountOk(url: string, token: string, batchId: string, items: readonly object[]) {
  let ok = 0;
  for (const result of await postBatch(url, token, batchId, items)) if (result.status === 'ok') ok += 1;
  return ok;
}

/** The plain loop: records already in memory, 100 per POST, one after another. */
async function baselineSerial(size: number, url: string, token: string): Promise<CompetitorResult> {
  const setupStarted = performance.now();
  const records = allRecords(size);
  const setupMs = performance.now() - setupStarted;
  const setupPeakRssBytes = peakRss();
  const runKey = `baseline.${process.pid}.${Date.now()}`;
  const cpu = process.cpuUsage();
  const started = performance.now();
  let requests = 0;
  let pushed = 0;
  for (let offset = 0; offset < records.length; offset += BATCH_SIZE) {
    requests += 1;
    const ok = await postBatchCountOk(
      url,
      token,
      `${runKey}.${requests}`,
      records.slice(offset, offset + BATCH_SIZE),
    );
    pushed += ok;
  }
  const ms = performance.now() - started;
  return {
    variant: 'baseline-serial',
    size,
    ms,
    pushed,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes: peakRss(),
    cpuMs: cpuSince(cpu),
    library: 'global fetch',
  };
}

/** PouchDB's own replication from a local memory database to a CouchDB-compatible server (express-pouchdb). */
async function pouchdb(size: number, url: string): Promise<CompetitorResult> {
  const { default: PouchDB } = await import('pouchdb');
  const { default: memoryAdapter } = await import('pouchdb-adapter-memory');
  PouchDB.plugin(memoryAdapter);
  const setupStarted = performance.now();
  const local = new PouchDB(`local-${process.pid}`, { adapter: 'memory' });
  for (let from = 0; from < size; from += LOAD_CHUNK) {
    const docs = makeRecords(from, Math.min(LOAD_CHUNK, size - from)).map((record) => ({
      _id: record.id,
      ...record,
    }));
    const results = await local.bulkDocs(docs);
    const failed = results.find((result) => result.error);
    if (failed) throw new Error(`bulkDocs failed for ${failed.id}: ${failed.reason ?? failed.error}`);
  }
  const info = await local.info();
  if (info.doc_count !== size) throw new Error(`local PouchDB holds ${info.doc_count} of ${size} docs`);
  const setupMs = performance.now() - setupStarted;
  const setupPeakRssBytes = peakRss();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await local.replicate.to(`${url}/bench`, { batch_size: BATCH_SIZE, batches_limit: 1 });
  const ms = performance.now() - started;
  const peakRssBytes = peakRss();
  const cpuMs = cpuSince(cpu);
  if (!result.ok || result.doc_write_failures > 0) {
    throw new Error(
      `replication failed: ${JSON.stringify({ ...result, errors: result.errors.slice(0, 3) })}`,
    );
  }
  await local.close();
  return {
    variant: 'pouchdb',
    size,
    ms,
    pushed: result.docs_written,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes,
    cpuMs,
    library: `pouchdb ${PouchDB.version}`,
  };
}

const telemetrySchema = {
  title: 'telemetry',
  version: 0,
  primaryKey: 'id',
  type: 'object',
  properties: {
    id: { type: 'string', maxLength: 64 },
    createdAt: { type: 'number' },
    updatedAt: { type: 'number' },
    syncPending: { type: 'boolean' },
    version: { type: 'integer', minimum: 1 },
    event: { type: 'string' },
    sessionId: { type: 'string' },
    timestamp: { type: 'number' },
    value: { type: 'number' },
    platform: { type: 'string', enum: ['ios', 'android', 'web'] },
    sdkVersion: { type: 'string' },
    appVersion: { type: 'string' },
    attributes: {
      type: 'object',
      properties: {
        screen: { type: 'string' },
        network: { type: 'string' },
        durationMs: { type: 'number' },
        retry: { type: 'boolean' },
      },
      required: ['screen', 'network', 'durationMs', 'retry'],
    },
  },
  required: [
    'id',
    'createdAt',
    'updatedAt',
    'syncPending',
    'version',
    'event',
    'sessionId',
    'timestamp',
    'value',
    'platform',
    'sdkVersion',
    'appVersion',
    'attributes',
  ],
} as const;

/**
 * RxDB's replication protocol (push only, not live) with a push handler that POSTs to the actorsync server.
 * `serial`: the handler queues its calls so only one POST is in flight (RxDB itself starts up to 4 at once).
 */
async function rxdb(size: number, url: string, token: string, serial: boolean): Promise<CompetitorResult> {
  const { createRxDatabase, RXDB_VERSION } = await import('rxdb');
  const { getRxStorageMemory } = await import('rxdb/plugins/storage-memory');
  const { replicateRxCollection } = await import('rxdb/plugins/replication');
  const setupStarted = performance.now();
  const database = await createRxDatabase<{ telemetry: RxCollection<TelemetryRecord> }>({
    name: `bench${process.pid}`,
    storage: getRxStorageMemory(),
    multiInstance: false,
  });
  const { telemetry: collection } = await database.addCollections({ telemetry: { schema: telemetrySchema } });
  if (!collection) throw new Error('RxDB did not create the telemetry collection');
  for (let from = 0; from < size; from += LOAD_CHUNK) {
    const { error } = await collection.bulkInsert(makeRecords(from, Math.min(LOAD_CHUNK, size - from)));
    if (error.length > 0) throw new Error(`bulkInsert failed: ${JSON.stringify(error[0]).slice(0, 300)}`);
  }
  const count = await collection.count().exec();
  if (count !== size) throw new Error(`RxDB holds ${count} of ${size} docs`);
  const setupMs = performance.now() - setupStarted;
  const setupPeakRssBytes = peakRss();

  const runKey = `rxdb.${process.pid}.${Date.now()}`;
  let requests = 0;
  let pushed = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const post = (batchId: string, items: readonly object[]): Promise<number> => {
    if (!serial) return postBatchCountOk(url, token, batchId, items);
    const turn = queue.then(() => postBatchCountOk(url, token, batchId, items));
    queue = turn.catch(() => {});
    return turn;
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const replication = replicateRxCollection<TelemetryRecord, unknown>({
    collection,
    replicationIdentifier: `actorsync-bench-${url}`,
    live: false,
    waitForLeadership: false,
    autoStart: true,
    push: {
      batchSize: BATCH_SIZE,
      handler: async (rows) => {
        requests += 1;
        const items = rows.map((row) => {
          const { _deleted, _attachments, ...fields } = row.newDocumentState;
          const version = Number.isInteger(fields.version) && fields.version >= 1 ? fields.version : 1;
          return { ...fields, version };
        });
        // RxDB keeps up to 4 of these calls in flight during the initial push: read `pushed` after the await.
        const ok = await post(`${runKey}.${requests}`, items);
        pushed += ok;
        return []; // no conflicts
      },
    },
  });
  // RxDB retries a failed push forever (every retryTime); the first error ends the measurement instead.
  let stopOnError = () => {};
  const failed = new Promise<never>((_resolve, reject) => {
    const subscription = replication.error$.subscribe((error) => {
      void replication.cancel();
      reject(error);
    });
    stopOnError = () => subscription.unsubscribe();
  });
  await Promise.race([replication.awaitInitialReplication(), failed]);
  const ms = performance.now() - started;
  const peakRssBytes = peakRss();
  const cpuMs = cpuSince(cpu);
  stopOnError();
  await replication.cancel();
  await database.close();
  return {
    variant: serial ? 'rxdb-serial' : 'rxdb',
    size,
    ms,
    pushed,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes,
    cpuMs,
    library: `rxdb ${RXDB_VERSION}`,
  };
}

const variant = option('variant') as Variant;
const size = Number(option('size'));
const url = option('url');
const token = process.env.BENCH_TOKEN ?? '';
if (!VARIANTS.includes(variant)) throw new Error(`Unknown variant ${variant}`);
if (!Number.isInteger(size) || size < 1) throw new Error(`Bad --size ${size}`);

const result =
  variant === 'baseline-serial'
    ? await baselineSerial(size, url, token)
    : variant === 'pouchdb'
      ? await pouchdb(size, url)
      : await rxdb(size, url, token, variant === 'rxdb-serial');
if (result.pushed !== size) throw new Error(`${variant} pushed ${result.pushed} of ${size} records`);
process.stdout.write(`${JSON.stringify(result)}\n`);
