/**
 * One step of the throughput benchmark, in a fresh process so its peak RSS is its own. Prints one JSON line.
 *
 *   run-one.ts prepare --file F --size N
 *     (untimed) creates a lowdb store at F holding N pending telemetry records, compacted so the records are in
 *     the snapshot and the journal holds only its header.
 *
 *   run-one.ts measure --variant baseline-serial|actorsync --file F --size N --url U   (token in BENCH_TOKEN)
 *     (timed) syncs every pending record of F to the server at U in batches of 100 and reports a MeasureResult.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import {
  BATCH_SIZE,
  ENTITY_TYPE,
  type MeasureResult,
  makeRecords,
  option,
  type PrepareResult,
  report,
  type TelemetryRecord,
  VARIANTS,
  type Variant,
} from './shared.js';

const PREPARE_CHUNK = 5_000;

async function prepare(file: string, size: number): Promise<PrepareResult> {
  const { LowdbLocalStore } = await import('../src/index.js');
  const started = performance.now();
  // No fsync while preparing: nothing here needs to survive a crash, and close() leaves it all in the files.
  const store = await LowdbLocalStore.open(file, { fsync: false });
  const collection = store.collection<TelemetryRecord>(ENTITY_TYPE);
  for (let from = 0; from < size; from += PREPARE_CHUNK) {
    await collection.saveMany(makeRecords(from, Math.min(PREPARE_CHUNK, size - from)));
  }
  await store.compact();
  await store.close();
  return {
    file,
    records: size,
    snapshotBytes: (await stat(file)).size,
    journalBytes: (await stat(`${file}.journal`)).size,
    ms: performance.now() - started,
  };
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function processCpu(): number {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1000;
}

/** The parts of the store's snapshot the baseline touches. */
interface SnapshotDocument {
  collections: Record<string, { records: Record<string, TelemetryRecord> }>;
}

interface WireResult {
  id: string;
  status: string;
  version?: number;
}

/**
 * The plain baseline: read the file, POST 100-record batches one after another with global fetch, mark what was
 * acknowledged, write the file once. No journal, no fsync, no retries, no state machine.
 */
async function baselineSerial(
  file: string,
  size: number,
  url: string,
  token: string,
): Promise<MeasureResult> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const document = JSON.parse(await readFile(file, 'utf8')) as SnapshotDocument;
  const collection = document.collections[ENTITY_TYPE];
  if (!collection) throw new Error(`${file} has no "${ENTITY_TYPE}" collection`);
  const records = collection.records;
  // Changes since the snapshot; after prepare's compaction this is just the header line.
  const journal = await readFile(`${file}.journal`, 'utf8').catch(() => '');
  for (const line of journal.split('\n').slice(1)) {
    if (line === '') continue;
    const op = JSON.parse(line) as { op: string; c: string; e?: TelemetryRecord[] };
    if (op.op !== 'put' || !op.e) throw new Error(`baseline cannot replay journal op "${op.op}"`);
    if (op.c === ENTITY_TYPE) for (const entity of op.e) records[entity.id] = entity;
  }
  const pending = Object.values(records).filter((record) => record.syncPending);
  const runKey = `baseline.${process.pid}.${Date.now()}`;
  let batches = 0;
  let synced = 0;
  for (let offset = 0; offset < pending.length; offset += BATCH_SIZE) {
    const items = pending.slice(offset, offset + BATCH_SIZE);
    batches += 1;
    const batchId = `${runKey}.${batches}`;
    const response = await fetch(`${url}/v1/sync/${ENTITY_TYPE}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'idempotency-key': batchId,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ batchId, items }),
    });
    if (response.status !== 200) throw new Error(`batch ${batchId}: server answered ${response.status}`);
    const reply = (await response.json()) as { results: WireResult[] };
    for (const result of reply.results) {
      const record = records[result.id];
      if (result.status !== 'ok' || !record || record.version !== result.version) continue;
      records[result.id] = { ...record, syncPending: false };
      synced += 1;
    }
  }
  const text = JSON.stringify(document);
  await writeFile(file, text);
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpu);
  if (synced !== size) throw new Error(`baseline-serial synced ${synced} of ${size} records`);
  return {
    variant: 'baseline-serial',
    size,
    ms,
    batches,
    synced,
    localBytesWritten: Buffer.byteLength(text),
    compactions: 0,
    journalAppends: 0,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    cpuMs,
    processCpuMs: processCpu(),
  };
}

/** actorsync as an app would run it: open the store, sync the repository, stop, close. */
async function actorsync(file: string, size: number, url: string, token: string): Promise<MeasureResult> {
  const { HttpRemoteDataSource, LowdbLocalStore, Repository, SyncCoordinator } = await import(
    '../src/index.js'
  );
  const cpu = process.cpuUsage();
  const started = performance.now();
  const store = await LowdbLocalStore.open(file);
  const before = { ...store.stats };
  const repository = new Repository<TelemetryRecord>({
    entityType: ENTITY_TYPE,
    local: store.collection<TelemetryRecord>(ENTITY_TYPE),
    remote: new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token }),
  });
  const coordinator = new SyncCoordinator({ batchSize: BATCH_SIZE });
  const result = await coordinator.sync(repository);
  await coordinator.stop();
  await store.close();
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpu);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const after = store.stats;

  if (result.state !== 'synced' || result.syncedItems !== size || result.failedItems !== 0) {
    throw new Error(
      `actorsync did not sync everything: state ${result.state}, ${result.syncedItems}/${size} synced, ` +
        `${result.failedItems} failed${result.errorMessage ? ` (${result.errorMessage})` : ''}`,
    );
  }
  // Untimed: what is on disk afterwards must have nothing left pending.
  const reopened = await LowdbLocalStore.open(file);
  const outbox = await reopened.collection<TelemetryRecord>(ENTITY_TYPE).outbox(Date.now());
  await reopened.close();
  if (outbox.pending !== 0) throw new Error(`actorsync left ${outbox.pending} records pending on disk`);

  return {
    variant: 'actorsync',
    size,
    ms,
    batches: Math.ceil(size / BATCH_SIZE),
    synced: result.syncedItems,
    localBytesWritten:
      after.journalBytesWritten -
      before.journalBytesWritten +
      (after.snapshotBytesWritten - before.snapshotBytesWritten),
    compactions: after.compactions - before.compactions,
    journalAppends: after.journalAppends - before.journalAppends,
    peakRssBytes,
    cpuMs,
    processCpuMs: processCpu(),
  };
}

const [mode, ...args] = process.argv.slice(2);
const file = option(args, 'file');
const size = Number(option(args, 'size'));
if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive whole number`);

if (mode === 'prepare') {
  report(await prepare(file, size));
} else if (mode === 'measure') {
  const variant = option(args, 'variant') as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`--variant must be one of ${VARIANTS.join(', ')}`);
  const url = option(args, 'url');
  const token = process.env.BENCH_TOKEN;
  if (!token) throw new Error('BENCH_TOKEN is not set');
  const measure = variant === 'actorsync' ? actorsync : baselineSerial;
  report(await measure(file, size, url, token));
} else {
  throw new Error(`usage: run-one.ts prepare|measure --file F --size N ...`);
}
