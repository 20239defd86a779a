/**
 * One step of the throughput benchmark, in a fresh process so its peak RSS is its own. Prints one JSON line.
 *
 *   run-one.ts prepare --file F --size N
 *     (untimed) creates a lowdb store at F holding N pending telemetry records, compacted so the records are in
 *     the snapshot and the journal holds only its header.
 *
 *   run-one.ts measure --variant V --file F --size N --url U   (token in BENCH_TOKEN)
 *     (timed) syncs every pending record of F to the server at U and reports a MeasureResult. V is one of
 *     baseline-serial, baseline-pipelined (4 batches in flight), actorsync (defaults), actorsync-N-in-flight
 *     for N in 1, 4, 8 (defaults but maxBatchesInFlight N) or actorsync-best.
 *
 *   run-one.ts open-only --file F --size N
 *     `LowdbLocalStore.open(F)` + `close()` and nothing else: the peak RSS a sync is compared with.
 *
 *   run-one.ts actor-cost --size N [--batch-size B]
 *     the whole actor path with no I/O: a MemoryLocalDataSource and a remote that answers all-ok at once.
 *
 *   run-one.ts idle-cpu --file F [--seconds S] [--interval-ms I]
 *     CPU of a coordinator with auto-sync on and nothing pending, over S seconds.
 *
 *   run-one.ts first-progress --file F --size N --url U   (token in BENCH_TOKEN)
 *     from `sync()` to the first progress event, and to the first with totalItems > 0.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import type { InspectionEvent } from 'xstate';
import type {
  ItemResult,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  PendingQuery,
  RemoteDataSource,
  SyncProgress,
} from '../src/index.js';
import {
  type ActorCostResult,
  type ActorsyncVariant,
  ALL_VARIANTS,
  BATCH_SIZE,
  BEST_BATCH_SIZE,
  ENTITY_TYPE,
  type FirstProgressResult,
  type IdleCpuResult,
  inFlightOf,
  isActorsyncVariant,
  type MeasureResult,
  makeRecords,
  type OpenOnlyResult,
  option,
  PIPELINE_DEPTH,
  type PrepareResult,
  postBatch,
  report,
  type TelemetryRecord,
  type Variant,
} from './shared.js';

const PREPARE_CHUNK = 5_000;

async function prepare(file: string, size: number): Promise<PrepareResult> {
  const { LowdbLocalStore } = await import('../src/lowdb.js');
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

/**
 * The plain baseline: read the file, POST 100-record batches with global fetch (`depth` of them in flight: 1 for
 * baseline-serial, 4 for baseline-pipelined), mark what was acknowledged, write the file once. No journal, no
 * fsync, no retries, no state machine.
 */
async function baseline(
  variant: 'baseline-serial' | 'baseline-pipelined',
  file: string,
  size: number,
  url: string,
  token: string,
): Promise<MeasureResult> {
  const depth = variant === 'baseline-serial' ? 1 : PIPELINE_DEPTH;
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
  const batches = Math.ceil(pending.length / BATCH_SIZE);
  let taken = 0;
  let synced = 0;
  // Each lane takes the next batch as soon as its previous one is answered; one lane is a plain serial loop.
  const lane = async () => {
    while (taken < batches) {
      const index = taken;
      taken += 1;
      const items = pending.slice(index * BATCH_SIZE, (index + 1) * BATCH_SIZE);
      const batchId = `${runKey}.${index + 1}`;
      for (const result of await postBatch(url, token, batchId, items)) {
        const record = records[result.id];
        if (result.status !== 'ok' || !record || record.version !== result.version) continue;
        records[result.id] = { ...record, syncPending: false };
        synced += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  const text = JSON.stringify(document);
  await writeFile(file, text);
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpu);
  if (synced !== size) throw new Error(`${variant} synced ${synced} of ${size} records`);
  return {
    variant,
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
async function actorsync(
  variant: ActorsyncVariant,
  file: string,
  size: number,
  url: string,
  token: string,
): Promise<MeasureResult> {
  const batchSize =
    variant === 'actorsync-best' ? Number(process.env.BENCH_BEST_BATCH_SIZE ?? BEST_BATCH_SIZE) : BATCH_SIZE;
  // Every option at its default, except what the variant is about.
  const maxBatchesInFlight = inFlightOf(variant);
  const options = maxBatchesInFlight === undefined ? {} : { maxBatchesInFlight };
  const [{ HttpRemoteDataSource }, { LowdbLocalStore }, { Repository, SyncCoordinator }] = await Promise.all([
    import('../src/http.js'),
    import('../src/lowdb.js'),
    import('../src/index.js'),
  ]);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const store = await LowdbLocalStore.open(file);
  const before = { ...store.stats };
  const repository = new Repository<TelemetryRecord>({
    entityType: ENTITY_TYPE,
    local: store.collection<TelemetryRecord>(ENTITY_TYPE),
    remote: new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token }),
    // Telemetry is pushed, never pulled: the push benchmarks compare against push-only baselines.
    direction: 'push',
  });
  const coordinator = new SyncCoordinator({ batchSize, ...options });
  const result = await coordinator.sync(repository);
  await coordinator.stop();
  await store.close();
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpu);
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const after = store.stats;

  if (result.state !== 'synced' || result.syncedItems !== size || result.failedItems !== 0) {
    throw new Error(
      `${variant} did not sync everything: state ${result.state}, ${result.syncedItems}/${size} synced, ` +
        `${result.failedItems} failed${result.errorMessage ? ` (${result.errorMessage})` : ''}`,
    );
  }
  // Untimed: what is on disk afterwards must have nothing left pending.
  const reopened = await LowdbLocalStore.open(file);
  const outbox = await reopened.collection<TelemetryRecord>(ENTITY_TYPE).outbox(Date.now());
  await reopened.close();
  if (outbox.pending !== 0) throw new Error(`actorsync left ${outbox.pending} records pending on disk`);

  return {
    variant,
    size,
    ms,
    batches: Math.ceil(size / batchSize),
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

/** `LowdbLocalStore.open` + `close()`: what holding the store costs before any sync. */
async function openOnly(file: string, size: number): Promise<OpenOnlyResult> {
  const { LowdbLocalStore } = await import('../src/lowdb.js');
  const started = performance.now();
  const store = await LowdbLocalStore.open(file);
  await store.close();
  return { size, ms: performance.now() - started, peakRssBytes: process.resourceUsage().maxRSS * 1024 };
}

/** A remote that answers every item ok at once, timing its own (synchronous) work. */
class InstantRemote implements RemoteDataSource<TelemetryRecord> {
  ms = 0;
  syncBatch(items: readonly TelemetryRecord[]): Promise<ItemResult<TelemetryRecord>[]> {
    const started = performance.now();
    const results = items.map((item): ItemResult<TelemetryRecord> => ({ id: item.id, status: 'ok' }));
    this.ms += performance.now() - started;
    return Promise.resolve(results);
  }
}

/**
 * The actor path with no I/O. Pass 1 counts inspection events with an `inspect` observer; pass 2, on a fresh
 * store and coordinator without the observer, is timed. The memory store does all its work synchronously inside
 * each call, so timing the calls (not the promises) gives the data-source share; the rest of the wall time is
 * the machines, the coordinator and promise plumbing.
 */
async function actorCost(size: number, batchSize: number): Promise<ActorCostResult> {
  const { MemoryLocalDataSource, Repository, SyncCoordinator } = await import('../src/index.js');
  class TimedMemorySource extends MemoryLocalDataSource<TelemetryRecord> {
    ms = 0;
    #time<R>(work: () => R): R {
      const started = performance.now();
      try {
        return work();
      } finally {
        this.ms += performance.now() - started;
      }
    }
    override outbox(now: number): Promise<OutboxSnapshot> {
      return this.#time(() => super.outbox(now));
    }
    override pending(query: PendingQuery): Promise<PendingPage<TelemetryRecord>> {
      return this.#time(() => super.pending(query));
    }
    override commit(commit: OutboxCommit<TelemetryRecord>): Promise<OutboxCommitResult> {
      return this.#time(() => super.commit(commit));
    }
  }
  const runPass = async (inspect?: (event: InspectionEvent) => void) => {
    const local = new TimedMemorySource(makeRecords(0, size));
    const remote = new InstantRemote();
    const repository = new Repository<TelemetryRecord>({ entityType: ENTITY_TYPE, local, remote });
    const coordinator = new SyncCoordinator({ batchSize, ...(inspect ? { inspect } : {}) });
    const cpu = process.cpuUsage();
    const started = performance.now();
    const result = await coordinator.sync(repository);
    const ms = performance.now() - started;
    const cpuMs = cpuSince(cpu);
    await coordinator.stop();
    if (result.state !== 'synced' || result.syncedItems !== size)
      throw new Error(`actor-cost: ${result.state}, ${result.syncedItems}/${size} synced`);
    return { ms, cpuMs, dataSourceMs: local.ms, remoteMs: remote.ms };
  };
  const inspectionCounts: Record<string, number> = {};
  await runPass((event) => {
    inspectionCounts[event.type] = (inspectionCounts[event.type] ?? 0) + 1;
  });
  const timed = await runPass();
  const batches = Math.ceil(size / batchSize);
  return {
    size,
    batchSize,
    batches,
    eventsPerBatch: (inspectionCounts['@xstate.event'] ?? 0) / batches,
    snapshotsPerBatch: (inspectionCounts['@xstate.snapshot'] ?? 0) / batches,
    inspectionCounts,
    ...timed,
  };
}

/** A coordinator with auto-sync every `intervalMs` and nothing pending, left alone for `seconds`. */
async function idleCpu(file: string, seconds: number, intervalMs: number): Promise<IdleCpuResult> {
  const [{ LowdbLocalStore }, { Repository, SyncCoordinator }] = await Promise.all([
    import('../src/lowdb.js'),
    import('../src/index.js'),
  ]);
  const store = await LowdbLocalStore.open(file);
  const repository = new Repository<TelemetryRecord>({
    entityType: ENTITY_TYPE,
    local: store.collection<TelemetryRecord>(ENTITY_TYPE),
    remote: new InstantRemote(),
  });
  const coordinator = new SyncCoordinator({ enableAutoSync: true, autoSyncIntervalMs: intervalMs });
  coordinator.register(repository);
  let runs = 0;
  let counting = false;
  coordinator.progress.subscribe((progress: SyncProgress) => {
    if (counting && progress.isComplete) runs += 1;
  });
  // Let start-up work (module loading, JIT, the first tick) finish before the window opens.
  await new Promise((done) => setTimeout(done, 1_500));
  counting = true;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise((done) => setTimeout(done, seconds * 1000));
  const cpuMs = cpuSince(cpu);
  const wallMs = performance.now() - started;
  counting = false;
  await coordinator.stop();
  await store.close();
  return { seconds, intervalMs, cpuMs, coreShare: cpuMs / wallMs, runs };
}

/** Latency of the first progress a UI could show, on a lowdb store that is already open. */
async function firstProgress(
  file: string,
  size: number,
  url: string,
  token: string,
): Promise<FirstProgressResult> {
  const [{ HttpRemoteDataSource }, { LowdbLocalStore }, { Repository, SyncCoordinator }] = await Promise.all([
    import('../src/http.js'),
    import('../src/lowdb.js'),
    import('../src/index.js'),
  ]);
  const opening = performance.now();
  const store = await LowdbLocalStore.open(file);
  const openMs = performance.now() - opening;
  const repository = new Repository<TelemetryRecord>({
    entityType: ENTITY_TYPE,
    local: store.collection<TelemetryRecord>(ENTITY_TYPE),
    remote: new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token }),
    // Telemetry is pushed, never pulled: the push benchmarks compare against push-only baselines.
    direction: 'push',
  });
  const coordinator = new SyncCoordinator({ batchSize: BATCH_SIZE });
  coordinator.register(repository);
  let started = 0;
  let firstProgressMs: number | undefined;
  const withTotal = new Promise<{ ms: number; total: number }>((resolve) => {
    coordinator.progress.subscribe((progress: SyncProgress) => {
      const ms = performance.now() - started;
      firstProgressMs ??= ms;
      if (progress.totalItems > 0) resolve({ ms, total: progress.totalItems });
    });
  });
  started = performance.now();
  const run = coordinator.sync(repository);
  const first = await withTotal;
  // The rest of the run is not needed: stop it (the open sync() resolves as cancelled).
  await coordinator.stop();
  await run;
  await store.close();
  if (firstProgressMs === undefined) throw new Error('first-progress: no progress event');
  return { size, openMs, firstProgressMs, firstTotalMs: first.ms, firstTotal: first.total };
}

const [mode, ...args] = process.argv.slice(2);
const token = process.env.BENCH_TOKEN ?? '';
const sizeArg = () => {
  const size = Number(option(args, 'size'));
  if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive whole number`);
  return size;
};
const needToken = () => {
  if (!token) throw new Error('BENCH_TOKEN is not set');
  return token;
};

if (mode === 'prepare') {
  report(await prepare(option(args, 'file'), sizeArg()));
} else if (mode === 'measure') {
  const variant = option(args, 'variant') as Variant;
  if (!ALL_VARIANTS.includes(variant)) throw new Error(`--variant must be one of ${ALL_VARIANTS.join(', ')}`);
  const file = option(args, 'file');
  const url = option(args, 'url');
  report(
    isActorsyncVariant(variant)
      ? await actorsync(variant, file, sizeArg(), url, needToken())
      : await baseline(variant, file, sizeArg(), url, needToken()),
  );
} else if (mode === 'open-only') {
  report(await openOnly(option(args, 'file'), sizeArg()));
} else if (mode === 'actor-cost') {
  report(await actorCost(sizeArg(), Number(option(args, 'batch-size', String(BATCH_SIZE)))));
} else if (mode === 'idle-cpu') {
  report(
    await idleCpu(
      option(args, 'file'),
      Number(option(args, 'seconds', '10')),
      Number(option(args, 'interval-ms', '1000')),
    ),
  );
} else if (mode === 'first-progress') {
  report(await firstProgress(option(args, 'file'), sizeArg(), option(args, 'url'), needToken()));
} else {
  throw new Error(`usage: run-one.ts prepare|measure|open-only|actor-cost|idle-cpu|first-progress ...`);
}
