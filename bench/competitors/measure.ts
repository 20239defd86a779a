/**
 * One timed competitor run, in a fresh process so its peak RSS is its own. Prints one JSON line (a
 * CompetitorResult). The token of the actorsync server comes in BENCH_TOKEN.
 *
 *   measure.ts --variant V --size N --url U
 *
 * Push variants (baseline-serial, actorsync, pouchdb, rxdb, rxdb-serial). Untimed: generating the N records and
 * loading them into the local database. Timed: pushing all of them to the server at U in batches of 100 until the
 * library says it is done. baseline-serial, actorsync (the coordinator's defaults; 2 batches in flight), pouchdb
 * (batches_limit 1) and rxdb-serial: see README.md for how many batches each keeps in flight.
 *
 * Pull variants (pull-baseline, pull-store-loop, pull-actorsync, pull-pouchdb, pull-rxdb): the server at U holds the
 * N records already (server.ts --preload). Untimed: creating the empty local database. Timed: pulling all of them
 * in pages of 1,000 until the library says it is done; the local database must then hold N records.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RxCollection } from 'rxdb';
import { measurePull } from '../pull.js';
import {
  ENTITY_TYPE,
  makeRecords,
  PULL_PAGE_SIZE,
  BATCH_SIZE as PUSH_BATCH_SIZE,
  type PullVariant,
  postBatch,
  type TelemetryRecord,
} from '../shared.js';

export const PUSH_VARIANTS = ['baseline-serial', 'actorsync', 'pouchdb', 'rxdb', 'rxdb-serial'] as const;
export const PULL_VARIANTS = [
  'pull-baseline',
  'pull-store-loop',
  'pull-actorsync',
  'pull-pouchdb',
  'pull-rxdb',
] as const;
export const VARIANTS = [...PUSH_VARIANTS, ...PULL_VARIANTS] as const;
export type Variant = (typeof VARIANTS)[number];
export type PullCompetitorVariant = (typeof PULL_VARIANTS)[number];

export const isPullVariant = (variant: Variant): variant is PullCompetitorVariant =>
  variant.startsWith('pull-');
/** What a variant's ratio is taken against: the plain loop of its direction. */
export const baselineOf = (variant: Variant): Variant =>
  isPullVariant(variant) ? 'pull-baseline' : 'baseline-serial';

export interface CompetitorResult {
  variant: Variant;
  size: number;
  /** Wall time of the timed section. */
  ms: number;
  /**
   * Push: records the server acknowledged (baseline, actorsync, rxdb) or PouchDB reports written (pouchdb). Pull:
   * records the local database holds afterwards.
   */
  synced: number;
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

const BATCH_SIZE = PUSH_BATCH_SIZE;
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
    synced: pushed,
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
    synced: result.docs_written,
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
    synced: pushed,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes,
    cpuMs,
    library: `rxdb ${RXDB_VERSION}`,
  };
}

/** actorsync's push as an app runs it: a lowdb store holding N pending records, `SyncCoordinator.sync`, defaults. */
async function actorsyncPush(size: number, url: string, token: string): Promise<CompetitorResult> {
  const [{ HttpRemoteDataSource }, { LowdbLocalStore }, { Repository, SyncCoordinator }] = await Promise.all([
    import('../../src/http.js'),
    import('../../src/lowdb.js'),
    import('../../src/index.js'),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-competitors-'));
  try {
    const setupStarted = performance.now();
    const store = await LowdbLocalStore.open(join(dir, 'store.json'));
    const local = store.collection<TelemetryRecord>(ENTITY_TYPE);
    for (let from = 0; from < size; from += LOAD_CHUNK) {
      await local.saveMany(makeRecords(from, Math.min(LOAD_CHUNK, size - from)));
    }
    const setupMs = performance.now() - setupStarted;
    const setupPeakRssBytes = peakRss();
    const repository = new Repository<TelemetryRecord>({
      entityType: ENTITY_TYPE,
      local,
      remote: new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token }),
      // The push alone, as the other push variants measure it (the default, 'both', would pull it all back).
      direction: 'push',
    });
    const coordinator = new SyncCoordinator();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await coordinator.sync(repository);
    const ms = performance.now() - started;
    const peakRssBytes = peakRss();
    const cpuMs = cpuSince(cpu);
    await coordinator.stop();
    await store.close();
    if (result.state !== 'synced') throw new Error(`actorsync ended ${result.state}: ${result.errorMessage}`);
    return {
      variant: 'actorsync',
      size,
      ms,
      synced: result.syncedItems,
      setupMs,
      setupPeakRssBytes,
      peakRssBytes,
      cpuMs,
      library: 'actorsync (this repository)',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** bench/pull.ts's variants (baseline, store-loop, actorsync), into a fresh temp dir. */
async function actorsyncPull(
  variant: 'pull-baseline' | 'pull-store-loop' | 'pull-actorsync',
  size: number,
  url: string,
  token: string,
): Promise<CompetitorResult> {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-competitors-'));
  try {
    const pullVariant = variant.slice('pull-'.length) as PullVariant;
    const result = await measurePull(pullVariant, join(dir, 'store.json'), size, url, token);
    return {
      variant,
      size,
      ms: result.ms,
      synced: result.stored,
      setupMs: 0,
      setupPeakRssBytes: 0,
      peakRssBytes: result.peakRssBytes,
      cpuMs: result.cpuMs,
      library: variant === 'pull-baseline' ? 'global fetch' : 'actorsync (this repository)',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** PouchDB's own replication from the server's `bench` (express-pouchdb, preloaded) into an empty memory database. */
async function pouchdbPull(size: number, url: string): Promise<CompetitorResult> {
  const { default: PouchDB } = await import('pouchdb');
  const { default: memoryAdapter } = await import('pouchdb-adapter-memory');
  PouchDB.plugin(memoryAdapter);
  const setupStarted = performance.now();
  const local = new PouchDB(`local-${process.pid}`, { adapter: 'memory' });
  const setupMs = performance.now() - setupStarted;
  const setupPeakRssBytes = peakRss();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await local.replicate.from(`${url}/bench`, { batch_size: PULL_PAGE_SIZE, batches_limit: 1 });
  const ms = performance.now() - started;
  const peakRssBytes = peakRss();
  const cpuMs = cpuSince(cpu);
  if (!result.ok || result.doc_write_failures > 0) {
    throw new Error(
      `replication failed: ${JSON.stringify({ ...result, errors: result.errors.slice(0, 3) })}`,
    );
  }
  const info = await local.info();
  await local.close();
  return {
    variant: 'pull-pouchdb',
    size,
    ms,
    synced: info.doc_count,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes,
    cpuMs,
    library: `pouchdb ${PouchDB.version}`,
  };
}

/** One page of the reference server's change feed (docs/protocol.md, "Pulling changes"). */
interface FeedPage {
  changes: { id: string; version: number; deleted: boolean; item: TelemetryRecord }[];
  checkpoint: string;
  hasMore: boolean;
}

/**
 * RxDB's replication protocol (pull only, not live) with a pull handler that reads the actorsync server's change
 * feed: `GET /v1/changes/telemetry?since&limit` with global fetch, its changes as documents (`_deleted` from
 * `deleted`), its checkpoint wrapped in an object (RxDB merges checkpoints as objects). RxDB stops when a page holds
 * fewer documents than the batch size.
 */
async function rxdbPull(size: number, url: string, token: string): Promise<CompetitorResult> {
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
  const setupMs = performance.now() - setupStarted;
  const setupPeakRssBytes = peakRss();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const replication = replicateRxCollection<TelemetryRecord, { since: string }>({
    collection,
    replicationIdentifier: `actorsync-bench-pull-${url}`,
    live: false,
    waitForLeadership: false,
    autoStart: true,
    pull: {
      batchSize: PULL_PAGE_SIZE,
      handler: async (checkpoint, batchSize) => {
        const query = new URLSearchParams({ limit: String(batchSize) });
        if (checkpoint?.since) query.set('since', checkpoint.since);
        const response = await fetch(`${url}/v1/changes/${ENTITY_TYPE}?${query}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        if (response.status !== 200) throw new Error(`The feed answered ${response.status}`);
        const page = (await response.json()) as FeedPage;
        return {
          documents: page.changes.map((change) => ({ ...change.item, _deleted: change.deleted })),
          checkpoint: { since: page.checkpoint },
        };
      },
    },
  });
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
  const count = await collection.count().exec();
  await database.close();
  return {
    variant: 'pull-rxdb',
    size,
    ms,
    synced: count,
    setupMs,
    setupPeakRssBytes,
    peakRssBytes,
    cpuMs,
    library: `rxdb ${RXDB_VERSION}`,
  };
}

async function measureVariant(variant: Variant, size: number, url: string, token: string) {
  switch (variant) {
    case 'baseline-serial':
      return baselineSerial(size, url, token);
    case 'actorsync':
      return actorsyncPush(size, url, token);
    case 'pouchdb':
      return pouchdb(size, url);
    case 'rxdb':
    case 'rxdb-serial':
      return rxdb(size, url, token, variant === 'rxdb-serial');
    case 'pull-baseline':
    case 'pull-store-loop':
    case 'pull-actorsync':
      return actorsyncPull(variant, size, url, token);
    case 'pull-pouchdb':
      return pouchdbPull(size, url);
    case 'pull-rxdb':
      return rxdbPull(size, url, token);
    default:
      throw new Error(`Unknown variant ${String(variant satisfies never)}`);
  }
}

// Run as a script; run.ts imports the variant lists from here.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const variant = option('variant') as Variant;
  const size = Number(option('size'));
  const url = option('url');
  const token = process.env.BENCH_TOKEN ?? '';
  if (!VARIANTS.includes(variant)) throw new Error(`Unknown variant ${variant}`);
  if (!Number.isInteger(size) || size < 1) throw new Error(`Bad --size ${size}`);

  const result = await measureVariant(variant, size, url, token);
  if (result.synced !== size) throw new Error(`${variant} synced ${result.synced} of ${size} records`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
