import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent } from 'xstate';
import { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import type { ProgressStream } from '../core/progress-stream.js';
import type { RepositoryEntity } from '../domain/types.js';
import { createInspector } from '../inspect/inspector-server.js';
import { createTraceInspector } from '../inspect/trace.js';
import { HttpRemoteDataSource } from '../remote/http-remote.js';
import { Repository } from '../repository.js';
import { FAULT_KINDS } from '../server/faults.js';
import type { StoredItem } from '../server/server-state.js';
import { createSyncServer, type SyncServer } from '../server/sync-server.js';
import { LowdbLocalStore } from '../store/lowdb-store.js';
import { type AgreementInput, type AgreementReport, checkAgreement, differingFields } from './agreement.js';
import {
  type Configuration,
  DEMO_TYPES,
  type DemoType,
  demoRecords,
  editConfiguration,
  seededRandom,
  splitCounts,
} from './demo-data.js';
import { Cleanup, cleanUpOnSignal, sleep } from './lifecycle.js';
import { createProgressView, type ProgressView } from './progress-view.js';
import { RunTracker } from './run-stats.js';
import {
  formatAgreement,
  formatFaults,
  formatSummary,
  SUMMARY_LEGEND,
  type TypeSummary,
  verdict,
} from './summary.js';
import { formatCount, formatDuration, plural } from './table.js';

export interface DemoOptions {
  items: number;
  /** Probability that a sync request gets a fault. */
  faultRate: number;
  /** Keep the temporary directory (and its store) instead of deleting it. */
  keep: boolean;
  seed: number;
  /** Give up waiting for retries after this long. */
  timeLimitMs: number;
  /** Serve the local inspector during the demo (and, on a terminal, after it until Ctrl-C). */
  inspect?: boolean;
  /** Write the inspection stream to this JSON-lines file. */
  trace?: string;
}

type Repo = Repository<RepositoryEntity>;

const print = (line = '') => console.log(line);

/** Records edited while their type syncs, and at what point. */
const EDITS = 20;
const EDIT_AT_PERCENT = 30;
/** A `timeout` fault holds the request this long, then drops it; the client waits longer, so it sees the drop. */
const HANG_MS = 250;
const CLIENT_TIMEOUT_MS = 5_000;
/** Simulated network latency added to every sync request. */
const LATENCY_MS = [20, 60] as const;

/** Runs the demo and returns the exit code: 0 when server and client agree, 1 when they do not. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const cleanup = new Cleanup();
  const removeHandlers = cleanUpOnSignal(cleanup, () =>
    print('\nInterrupted: stopping the sync, closing the store and the server…'),
  );
  try {
    return await demo(options, cleanup);
  } finally {
    await cleanup.run();
    removeHandlers();
  }
}

async function demo(options: DemoOptions, cleanup: Cleanup): Promise<number> {
  const { server, repos } = await setUp(options, cleanup);
  // Before seeding: a trace file that cannot be written stops the demo at once (cleanup closes the store).
  const observers = await startObservers(options, server, cleanup);
  await seed(repos, options);
  const coordinator = new SyncCoordinator({
    batchSize: 100,
    concurrency: 3,
    retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 4, maxItemAttempts: 5 },
    random: seededRandom(options.seed + 2),
    ...(observers.inspect ? { inspect: observers.inspect } : {}),
  });
  cleanup.add(() => coordinator.stop());
  for (const repo of repos.values()) coordinator.register(repo);
  await observers.ready(coordinator);
  const tracker = new RunTracker(coordinator.progress);
  const { settled, wallMs, edit } = await syncWithProgress(coordinator, repos, options, cleanup);

  const summaries = await Promise.all([...repos.values()].map((repo) => summarise(repo, tracker)));
  const inputs = await agreementInputs(server, repos);
  const report = checkAgreement(inputs);
  printReport({ server, summaries, wallMs, settled, options, inputs, report, edit });
  await observers.linger();
  return report.agree ? 0 : 1;
}

/**
 * The inspectors asked for: `--inspect` serves the local inspector (waiting on a terminal for the page to open,
 * and keeping it up after the demo until Ctrl-C), `--trace FILE` writes the inspection stream.
 */
async function startObservers(options: DemoOptions, server: SyncServer, cleanup: Cleanup) {
  const sanitize = { secretValues: [server.token] };
  const inspector = options.inspect ? await createInspector({ sanitize }) : undefined;
  if (inspector) cleanup.add(() => inspector.close());
  const trace = options.trace ? createTraceInspector({ file: options.trace, sanitize }) : undefined;
  if (trace) cleanup.add(() => trace.close());
  const observers = [inspector?.inspect, trace?.inspect].filter((o) => o !== undefined);
  const interactive = Boolean(process.stdout.isTTY);
  return {
    inspect: observers.length
      ? (event: InspectionEvent) => {
          for (const observe of observers) observe(event);
        }
      : undefined,
    ready: async (coordinator: SyncCoordinator) => {
      if (!inspector) return;
      inspector.attach(coordinator);
      // The per-run token in this link is what opens the page: it is printed on purpose, for the user to click.
      print(`  inspect ${inspector.url}`);
      if (interactive) {
        print('          open it in a browser; the sync starts when the page connects (or in 60 s)');
        await inspector.waitForPage(60_000);
      }
    },
    linger: async () => {
      if (trace)
        print(`Trace written to ${options.trace}: \`npm run cli -- inspect --trace ${options.trace}\``);
      if (!inspector || !interactive) return;
      print(`Inspector still running at ${inspector.url} — press Ctrl-C to exit`);
      await new Promise<never>(() => {});
    },
  };
}

/** The temporary directory, the faulty server and the store, each undone by `cleanup`. */
async function setUp(options: DemoOptions, cleanup: Cleanup) {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-demo-'));
  cleanup.add(() =>
    options.keep
      ? print(`Kept ${dir}: try \`npm run cli -- status --db ${join(dir, 'store.json')}\``)
      : rm(dir, { recursive: true, force: true }),
  );
  const server = await startServer(options);
  cleanup.add(() => server.close());
  const store = await LowdbLocalStore.open(join(dir, 'store.json'));
  cleanup.add(() => store.close());
  printHeader(options, server, store.file);
  return { server, repos: makeRepositories(store, server) };
}

/** Syncs until settled with live progress and the mid-sync edit; stops the coordinator when done. */
async function syncWithProgress(
  coordinator: SyncCoordinator,
  repos: Map<DemoType, Repo>,
  options: DemoOptions,
  cleanup: Cleanup,
) {
  print();
  const view = createProgressView(coordinator.progress, DEMO_TYPES, { tty: Boolean(process.stdout.isTTY) });
  cleanup.add(() => view.stop());
  const edit = editMidSync(coordinator.progress, repos.get('configuration') as Repo, view);
  const started = Date.now();
  const deadline = started + options.timeLimitMs;
  const settled = await syncUntilSettled(coordinator, [...repos.values()], deadline, edit);
  const wallMs = Date.now() - started;
  view.stop();
  // With the inspector up the actors stay alive for the page; cleanup stops them at exit.
  if (!options.inspect) await coordinator.stop();
  return { settled, wallMs, edit: edit.result() };
}

/**
 * With faults on, the first requests always get these, so every demo shows a Retry-After wait, a dropped
 * connection and a commit whose reply is lost (answered again from the idempotency store, not applied twice).
 */
const OPENING_FAULTS = ['unavailable503', 'timeout', 'dropReply'] as const;

function startServer(options: DemoOptions): Promise<SyncServer> {
  return createSyncServer({
    host: '127.0.0.1',
    port: 0,
    faults: {
      script: options.faultRate > 0 ? OPENING_FAULTS : [],
      rate: options.faultRate,
      kinds: FAULT_KINDS,
      hangMs: HANG_MS,
      retryAfterSeconds: 1,
      latencyMs: LATENCY_MS,
      random: seededRandom(options.seed + 1),
    },
  });
}

function makeRepositories(store: LowdbLocalStore, server: SyncServer): Map<DemoType, Repo> {
  const remote = new HttpRemoteDataSource({
    baseUrl: server.url,
    getToken: () => server.token,
    timeoutMs: CLIENT_TIMEOUT_MS,
  });
  return new Map(
    DEMO_TYPES.map((entityType) => [
      entityType,
      new Repository<RepositoryEntity>({ entityType, local: store.collection(entityType), remote }),
    ]),
  );
}

function printHeader(options: DemoOptions, server: SyncServer, storeFile: string): void {
  const rate = `${+(options.faultRate * 100).toFixed(2)}%`;
  const batches = Math.ceil(options.items / 3 / 100) * 3 + 1;
  const expected = batches * options.faultRate;
  print(`actorsync demo: ${formatCount(options.items)} records to a local server that misbehaves on purpose`);
  // The server's URL is built from the address it bound: scheme, host and port, nothing to hide.
  print(`  server  ${server.url}  (bearer token: hidden)`);
  print(`  network ${LATENCY_MS[0]}-${LATENCY_MS[1]} ms of simulated latency on every sync request`);
  if (options.faultRate > 0) print(`  faults  first ${OPENING_FAULTS.join(', ')}; then`);
  print(
    `  ${options.faultRate > 0 ? '      ' : 'faults'}  ${rate} of sync requests get one, of a kind drawn evenly from`,
  );
  print(`          ${FAULT_KINDS.join(', ')}`);
  print(`          ('timeout' holds a request ${HANG_MS} ms, then drops the connection)`);
  if (options.faultRate > 0 && expected < 3) {
    print(
      `          ~${batches} batches, so about ${expected.toFixed(1)} faults expected: try --fault-rate 0.2`,
    );
  }
  print(`  store   ${storeFile}`);
  print(`          (lowdb snapshot + fsynced journal; ${options.keep ? 'kept' : 'deleted'} at exit)`);
  print('  sync    3 entity types at once, batches of 100, exponential backoff with jitter');
  print(`  seed    ${options.seed} (--seed ${options.seed} repeats the data and the fault draws)`);
}

async function seed(repos: Map<DemoType, Repo>, options: DemoOptions): Promise<void> {
  const random = seededRandom(options.seed);
  const counts = splitCounts(options.items);
  const started = Date.now();
  for (const [type, repo] of repos) await repo.saveMany(demoRecords(type, counts[type], random));
  const parts = DEMO_TYPES.map((type) => `${formatCount(counts[type])} ${type}`).join(', ');
  print(`  seeded  ${parts} in ${formatDuration(Date.now() - started)}`);
}

export interface MidSyncEdit {
  ids: Map<string, number>;
  atPercent: number;
  alreadySynced: number;
}

interface EditHandle {
  /** Resolves once the edit (if it has started) is saved. */
  settled(): Promise<void>;
  result(): MidSyncEdit | undefined;
}

/**
 * When the first configuration run passes 30%, re-saves 20 configuration records spread over the collection,
 * some already synced, some not yet sent: the edits must reach the server at their new version.
 */
function editMidSync(progress: ProgressStream, repo: Repo, view: ProgressView): EditHandle {
  let work: Promise<void> | undefined;
  let result: MidSyncEdit | undefined;
  const subscription = progress.subscribe((p) => {
    if (work || p.entityType !== repo.entityType || p.runId !== 1 || p.totalItems === 0) return;
    if (p.percent < EDIT_AT_PERCENT) return;
    subscription.unsubscribe();
    work = (async () => {
      const all = await repo.getAll();
      const step = Math.max(1, Math.floor(all.length / EDITS));
      const chosen = all.filter((_, i) => i % step === 0).slice(0, EDITS) as Configuration[];
      const alreadySynced = chosen.filter((record) => !record.syncPending).length;
      const saved = await repo.saveMany(chosen.map(editConfiguration));
      result = { ids: new Map(saved.map((r) => [r.id, r.version])), atPercent: p.percent, alreadySynced };
      view.note(
        `  ✎ configuration at ${p.percent}%: re-saved ${plural(saved.length, 'record')} mid-sync ` +
          `(${alreadySynced} already synced, ${saved.length - alreadySynced} not yet acknowledged)`,
      );
    })();
    // Handled where `settled()` awaits it; this only keeps an early failure from counting as unhandled.
    work.catch(() => {});
  });
  return {
    settled: async () => {
      await work;
    },
    result: () => result,
  };
}

/**
 * Syncs every type until nothing is due: mid-sync edits and retryable failures go out in later runs. Waits for
 * the next scheduled retry when only those are left. Returns false if the time limit cut it short.
 */
async function syncUntilSettled(
  coordinator: SyncCoordinator,
  repos: readonly Repo[],
  deadline: number,
  edit: EditHandle,
): Promise<boolean> {
  for (;;) {
    await coordinator.syncAll();
    await edit.settled();
    const now = Date.now();
    const outboxes = await Promise.all(repos.map((repo) => repo.local.outbox(now)));
    const due = outboxes.reduce((sum, o) => sum + o.total, 0);
    const next = Math.min(...outboxes.map((o) => o.nextDueAt ?? Number.POSITIVE_INFINITY));
    if (due === 0 && next === Number.POSITIVE_INFINITY) return true;
    if (now >= deadline || (due === 0 && next > deadline)) return false;
    if (due === 0) await sleep(next - now + 5);
  }
}

async function summarise(repo: Repo, tracker: RunTracker): Promise<TypeSummary> {
  const [records, failures, outbox] = await Promise.all([
    repo.getAll(),
    repo.local.failures(),
    repo.local.outbox(Date.now()),
  ]);
  const deadLettered = failures.filter((f) => f.deadLettered).length;
  return {
    ...tracker.stats(repo.entityType),
    records: records.length,
    syncedItems: records.length - outbox.pending,
    deadLettered,
    waiting: outbox.pending - deadLettered,
  };
}

/** The server's side over HTTP (`GET /v1/items/{type}`), the client's from the store. */
async function agreementInputs(server: SyncServer, repos: Map<DemoType, Repo>): Promise<AgreementInput[]> {
  return Promise.all(
    [...repos.values()].map(async (repo) => ({
      entityType: repo.entityType,
      local: await repo.getAll(),
      failures: await repo.local.failures(),
      server: await fetchItems(server, repo.entityType),
    })),
  );
}

async function fetchItems(server: SyncServer, entityType: string): Promise<StoredItem[]> {
  const response = await fetch(`${server.url}/v1/items/${encodeURIComponent(entityType)}`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  if (!response.ok) throw new Error(`GET /v1/items/${entityType} answered ${response.status}`);
  return ((await response.json()) as { items: StoredItem[] }).items;
}

interface ReportInput {
  server: SyncServer;
  summaries: TypeSummary[];
  wallMs: number;
  settled: boolean;
  options: DemoOptions;
  inputs: AgreementInput[];
  report: AgreementReport;
  edit: MidSyncEdit | undefined;
}

function printReport(input: ReportInput): void {
  const stats = input.server.stats();
  print();
  print('Summary');
  for (const line of formatSummary(input.summaries, input.wallMs)) print(`  ${line}`);
  for (const line of SUMMARY_LEGEND) print(`  ${line}`);
  print();
  print(
    `Server: ${formatCount(stats.syncRequests)} sync requests, ${formatCount(stats.batchesApplied)} batches ` +
      `applied, ${formatCount(stats.duplicateBatches)} repeated batches answered from the idempotency store`,
  );
  print(`Faults injected: ${formatFaults(stats.faultsInjected)}`);
  const rejects = stats.faultsInjected.reject ?? 0;
  const dead = input.report.deadLetters.length;
  if (rejects > dead) {
    print(
      `  (${plural(rejects, 'reject fault')} but ${plural(dead, 'dead letter')}: a reject that hits a repeated`,
    );
    print('   batch gets the stored reply instead; one that hits a record edited meanwhile is superseded)');
  }
  if (!input.settled) {
    print(
      `⚠ Stopped waiting for retries at the time limit (--time-limit ${input.options.timeLimitMs / 1000}).`,
    );
  }
  print();
  print('Agreement check (server records fetched over HTTP, compared with the local store)');
  for (const line of formatAgreement(input.report)) print(line);
  if (input.edit) print(describeEdit(input.edit, input.inputs));
  print(verdict(input.report));
}

/** Whether the records edited mid-sync reached the server at their edited version and content. */
function describeEdit(edit: MidSyncEdit, inputs: readonly AgreementInput[]): string {
  const config = inputs.find((input) => input.entityType === 'configuration');
  const server = new Map(config?.server.map((stored) => [stored.item.id, stored.item]));
  const local = new Map(config?.local.map((record) => [record.id, record]));
  let reached = 0;
  let deadLettered = 0;
  for (const [id, version] of edit.ids) {
    const remote = server.get(id);
    const mine = local.get(id);
    if (mine && remote?.version === version && differingFields(mine, remote).length === 0) reached += 1;
    else if (config?.failures.some((f) => f.id === id && f.version === version && f.deadLettered)) {
      deadLettered += 1;
    }
  }
  const dead = deadLettered > 0 ? `, ${deadLettered} dead-lettered` : '';
  return `  mid-sync edits: ${reached}/${edit.ids.size} re-saved records are on the server at their edited version${dead}`;
}
