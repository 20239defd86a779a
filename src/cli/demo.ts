import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InspectionEvent } from 'xstate';
import type { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import { errorMessage } from '../domain/errors.js';
import type { RepositoryEntity } from '../domain/types.js';
import { createInspector } from '../inspect/inspector-server.js';
import { createTraceInspector } from '../inspect/trace.js';
import type { ChangesPage } from '../server/change-feed.js';
import { FAULT_KINDS } from '../server/faults.js';
import type { StoredItem } from '../server/server-state.js';
import type { ServerStore } from '../server/server-store.js';
import { createSyncServer, type SyncServer } from '../server/sync-server.js';
import { type AgreementInput, type AgreementReport, checkAgreement } from './agreement.js';
import { BATCH_SIZE, DemoClient, PAGE_SIZE } from './demo-client.js';
import { type Configuration, DEMO_TYPES, seededRandom } from './demo-data.js';
import {
  type ConflictPlan,
  type MidSyncEdit,
  runTwoClients,
  type ScenarioResult,
} from './demo-two-clients.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { CliError } from './errors.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';
import { openPostgresStore } from './postgres.js';
import { formatAgreement, formatFaults, formatSummary, SUMMARY_LEGEND, verdict } from './summary.js';
import { formatCount, plural } from './table.js';

/** How the demo's clients resolve conflicts: the two named policies (a merge function needs code). */
export const DEMO_CONFLICT_POLICIES = ['server-wins', 'client-wins'] as const;
export type DemoConflictPolicy = (typeof DEMO_CONFLICT_POLICIES)[number];

export interface DemoOptions {
  items: number;
  /** Probability that a sync request (a push or a pull) gets a fault. */
  faultRate: number;
  /** Keep the temporary directory (and its stores) instead of deleting it. */
  keep: boolean;
  seed: number;
  /** Give up waiting for retries after this long. */
  timeLimitMs: number;
  /** Default `server-wins`. */
  conflicts?: DemoConflictPolicy;
  /** Serve the local inspector during the demo (and, on a terminal, after it until Ctrl-C). */
  inspect?: boolean;
  /** Write the inspection stream to this JSON-lines file. */
  trace?: string;
  /** Where the server keeps records: memory (default) or PostgreSQL. */
  server?: DemoServerStore;
  /** With `server: 'postgres'`: this database instead of an embedded PostgreSQL started for the demo. */
  databaseUrl?: string;
}

/** The demo's server, on whichever store `--server` chose. */
type DemoServer = SyncServer<ServerStore>;

export const DEMO_SERVER_STORES = ['memory', 'postgres'] as const;
export type DemoServerStore = (typeof DEMO_SERVER_STORES)[number];

const print = (line = '') => console.log(line);

/** A `timeout` fault holds the request this long, then drops it; the client waits longer, so it sees the drop. */
const HANG_MS = 250;
/** Simulated network latency added to every sync request. */
const LATENCY_MS = [20, 60] as const;

/** Runs the demo and returns the exit code: 0 when the server and both clients agree, 1 when they do not. */
export async function runDemo(options: DemoOptions): Promise<number> {
  const cleanup = new Cleanup();
  const removeHandlers = cleanUpOnSignal(cleanup, () =>
    print('\nInterrupted: stopping the sync, closing the stores and the server…'),
  );
  try {
    return await demo(options, cleanup);
  } finally {
    await cleanup.run();
    removeHandlers();
  }
}

async function demo(options: DemoOptions, cleanup: Cleanup): Promise<number> {
  const policy = options.conflicts ?? 'server-wins';
  const { dir, server, database } = await setUp(options, cleanup);
  // Before the stores open: a trace file that cannot be written stops the demo at once.
  const observers = await startObservers(options, server, cleanup);
  const open = async (name: string, seedOffset: number, inspect?: (event: InspectionEvent) => void) => {
    const client = await DemoClient.open({
      name,
      file: join(dir, `${name}.json`),
      server,
      conflicts: policy,
      seed: options.seed + seedOffset,
      ...(inspect ? { inspect } : {}),
    });
    cleanup.add(() => client.close());
    return client;
  };
  const phone = await open('phone', 2, observers.inspect);
  const laptop = await open('laptop', 20);
  printHeader(options, server, database, policy, [phone, laptop]);
  await observers.ready(phone.coordinator);
  const result = await runTwoClients(phone, laptop, {
    items: options.items,
    seed: options.seed,
    deadline: Date.now() + options.timeLimitMs,
    tty: Boolean(process.stdout.isTTY),
  });
  // With the inspector up the actors stay alive for the page; cleanup stops them at exit.
  if (!options.inspect) await Promise.all([phone.pause(), laptop.pause()]);
  // The check reads the server as it is: a fault injected into its own reads would fail it for nothing.
  server.faults.stop();
  server.pullFaults.stop();
  const inputs = await agreementInputs(server, [phone, laptop]);
  const report = checkAgreement(inputs);
  await printReport({ server, clients: [phone, laptop], result, options, policy, inputs, report });
  await observers.linger();
  return report.agree ? 0 : 1;
}

/**
 * The inspectors asked for: `--inspect` serves the local inspector (waiting on a terminal for the page to open,
 * and keeping it up after the demo until Ctrl-C), `--trace FILE` writes the inspection stream.
 */
async function startObservers(options: DemoOptions, server: DemoServer, cleanup: Cleanup) {
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

/** The temporary directory and the faulty server, each undone by `cleanup`. */
async function setUp(options: DemoOptions, cleanup: Cleanup) {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-demo-'));
  cleanup.add(() =>
    options.keep
      ? print(`Kept ${dir}: try \`npm run cli -- status --db ${join(dir, 'phone.json')}\``)
      : rm(dir, { recursive: true, force: true }),
  );
  const database = options.server === 'postgres' ? await startDatabase(options, cleanup) : undefined;
  const server = await startServer(options, database?.store);
  cleanup.add(() => server.close());
  return { dir, server, database: database?.shown };
}

/**
 * With faults on, the first requests always get these, so every demo shows a Retry-After wait, a dropped
 * connection and a commit whose reply is lost (answered again from the idempotency store, not applied twice)...
 */
const OPENING_FAULTS = ['unavailable503', 'timeout', 'dropReply'] as const;
/** ...and the first pulls a 500 and a page lost on its way (fetched again from the same checkpoint). */
const OPENING_PULL_FAULTS = ['error500', 'dropReply'] as const;
const PULL_FAULT_KINDS = FAULT_KINDS.filter((kind) => kind !== 'reject');

/**
 * The PostgreSQL store of `--server postgres`: on `--database-url`, else on an embedded PostgreSQL started for the
 * demo (durable settings) and stopped with it.
 */
async function startDatabase(options: DemoOptions, cleanup: Cleanup) {
  let url = options.databaseUrl;
  let where = 'given by --database-url';
  if (!url) {
    const embedded = await startEmbeddedPostgres().catch((error: unknown) => {
      throw new CliError(`${errorMessage(error)}; or give --database-url`);
    });
    cleanup.add(() => embedded.stop());
    url = embedded.url;
    where = `embedded PostgreSQL 18 on port ${embedded.port}, started for the demo`;
  }
  const { store, shown } = await openPostgresStore(url);
  cleanup.add(() => store.close());
  return { store, shown: `${shown} (${where})` };
}

function startServer(options: DemoOptions, store: ServerStore | undefined): Promise<DemoServer> {
  const on = options.faultRate > 0;
  const common = {
    rate: options.faultRate,
    hangMs: HANG_MS,
    retryAfterSeconds: 1,
    latencyMs: LATENCY_MS,
  };
  return createSyncServer<ServerStore>({
    ...(store ? { store } : {}),
    host: '127.0.0.1',
    port: 0,
    faults: {
      ...common,
      script: on ? OPENING_FAULTS : [],
      kinds: FAULT_KINDS,
      random: seededRandom(options.seed + 1),
    },
    pullFaults: {
      ...common,
      script: on ? OPENING_PULL_FAULTS : [],
      kinds: PULL_FAULT_KINDS,
      random: seededRandom(options.seed + 3),
    },
  });
}

function printHeader(
  options: DemoOptions,
  server: DemoServer,
  database: string | undefined,
  policy: DemoConflictPolicy,
  clients: readonly DemoClient[],
): void {
  const rate = `${+(options.faultRate * 100).toFixed(2)}%`;
  print(
    `actorsync demo: a phone and a laptop sync ${formatCount(options.items)} records both ways through a local ` +
      'server that misbehaves on purpose',
  );
  // The server's URL is built from the address it bound: scheme, host and port, nothing to hide.
  print(`  server  ${server.url}  (bearer token: hidden)`);
  print(
    database
      ? `  store   PostgreSQL at ${database}`
      : '  store   the server keeps records in memory (--server postgres: in PostgreSQL)',
  );
  print(`  network ${LATENCY_MS[0]}-${LATENCY_MS[1]} ms of simulated latency on every request`);
  if (options.faultRate > 0) {
    print(
      `  faults  pushes: first ${OPENING_FAULTS.join(', ')}; pulls: first ${OPENING_PULL_FAULTS.join(', ')};`,
    );
    print(`          then ${rate} of each get one, of a kind drawn evenly from`);
  } else {
    print(`  faults  ${rate} of pushes and pulls get one, of a kind drawn evenly from`);
  }
  print(`          ${FAULT_KINDS.join(', ')} (pulls: all but reject)`);
  print(`          ('timeout' holds a request ${HANG_MS} ms, then drops the connection)`);
  for (const client of clients) print(`  ${client.name.padEnd(7)} ${client.store.file}`);
  print(`          (a lowdb snapshot + fsynced journal each; ${options.keep ? 'kept' : 'deleted'} at exit)`);
  print(
    `  sync    each client: 3 entity types at once, push then pull, batches of ${BATCH_SIZE}, pages of ${PAGE_SIZE},`,
  );
  print(`          backoff with jitter; conflicts: ${policy} (--conflicts server-wins|client-wins)`);
  print(
    `  seed    ${options.seed} (--seed ${options.seed} repeats the data, the changes and the fault draws)`,
  );
}

/**
 * The server's live records (`GET /v1/items/{type}`) and its tombstones (from its change feed), both over HTTP, so
 * the check reads any server store alike; each client's from its store.
 */
async function agreementInputs(
  server: DemoServer,
  clients: readonly DemoClient[],
): Promise<AgreementInput[]> {
  return Promise.all(
    DEMO_TYPES.map(async (entityType) => ({
      entityType,
      server: await fetchItems(server, entityType),
      tombstones: await fetchTombstones(server, entityType),
      clients: await Promise.all(clients.map((client) => client.records(entityType))),
    })),
  );
}

/** Every tombstone the feed serves, read from the beginning: a delete is the latest change of its record. */
async function fetchTombstones(server: DemoServer, entityType: string): Promise<RepositoryEntity[]> {
  const tombstones: RepositoryEntity[] = [];
  let since = '';
  for (;;) {
    const query = `limit=1000${since ? `&since=${encodeURIComponent(since)}` : ''}`;
    const page = (await getJson(
      server,
      `/v1/changes/${encodeURIComponent(entityType)}?${query}`,
    )) as ChangesPage;
    for (const change of page.changes) if (change.deleted) tombstones.push(change.item);
    if (!page.hasMore) return tombstones;
    since = page.checkpoint;
  }
}

async function fetchItems(server: DemoServer, entityType: string): Promise<StoredItem[]> {
  return ((await getJson(server, `/v1/items/${encodeURIComponent(entityType)}`)) as { items: StoredItem[] })
    .items;
}

/** A GET of the agreement check; a network error names its cause (fetch's own message says only "fetch failed"). */
async function getJson(server: DemoServer, path: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${server.token}` } });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new Error(`GET ${path} failed: ${errorMessage(error)}${cause ? ` (${errorMessage(cause)})` : ''}`);
  }
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return response.json();
}

interface ReportInput {
  server: DemoServer;
  clients: readonly DemoClient[];
  result: ScenarioResult;
  options: DemoOptions;
  policy: DemoConflictPolicy;
  inputs: AgreementInput[];
  report: AgreementReport;
}

async function printReport(input: ReportInput): Promise<void> {
  const { result, report, clients } = input;
  const stats = input.server.stats();
  print();
  print('Summary');
  for (const client of clients) {
    print(`  ${client.name}`);
    const types = await Promise.all(DEMO_TYPES.map((type) => client.summary(type)));
    for (const line of formatSummary(types, result.wallMs)) print(`    ${line}`);
  }
  for (const line of SUMMARY_LEGEND) print(`  ${line}`);
  print();
  print(
    `Server: ${formatCount(stats.syncRequests)} push requests, ${formatCount(stats.batchesApplied)} batches ` +
      `applied, ${formatCount(stats.duplicateBatches)} repeated batches answered from the idempotency store, ` +
      `${formatCount(stats.changeRequests)} pull requests`,
  );
  print(
    `Faults injected: pushes ${formatFaults(stats.faultsInjected)}; pulls ${formatFaults(stats.pullFaultsInjected)}`,
  );
  const rejects = stats.faultsInjected.reject ?? 0;
  const dead = report.deadLetters.length;
  if (rejects > dead) {
    print(
      `  (${plural(rejects, 'reject fault')} but ${plural(dead, 'dead letter')}: a reject that hits a repeated`,
    );
    print('   batch gets the stored reply instead; one that hits a record edited meanwhile is superseded)');
  }
  if (!result.settled) {
    print(
      `⚠ Stopped waiting for retries at the time limit (--time-limit ${input.options.timeLimitMs / 1000}).`,
    );
  }
  print();
  print('Agreement check (the server’s records fetched over HTTP, compared with both stores)');
  for (const line of formatAgreement(report)) print(line);
  if (result.edit) print(describeEdit(result.edit, input.inputs));
  print(describeDeletes(result.deletes, clients, report));
  const conflicts = clients.reduce(
    (sum, client) => sum + DEMO_TYPES.reduce((n, type) => n + client.stats(type).conflicts, 0),
    0,
  );
  for (const line of describeConflicts(result.plan, conflicts, input.policy, input.inputs)) print(line);
  print(verdict(report, { conflicts, policy: input.policy }));
}

/**
 * Whether each record the phone re-saved mid-sync kept its edit on the server (and so, the check says, everywhere):
 * it holds the record at the edited `revision` or a later one (edits only raise it), or deleted it later on purpose.
 */
function describeEdit(edit: MidSyncEdit, inputs: readonly AgreementInput[]): string {
  const config = inputs.find((input) => input.entityType === 'configuration');
  const live = new Map(config?.server.map((stored) => [stored.item.id, stored.item as Configuration]));
  const deleted = new Set(config?.tombstones?.map((tombstone) => tombstone.id));
  const phone = config?.clients.find((c) => c.client === 'phone');
  let kept = 0;
  let deadLettered = 0;
  for (const record of edit.saved) {
    const held = live.get(record.id);
    if (deleted.has(record.id) || (held && held.revision >= record.revision)) kept += 1;
    else if (
      phone?.failures.some((f) => f.id === record.id && f.version === record.version && f.deadLettered)
    ) {
      deadLettered += 1;
    }
  }
  const total = edit.saved.length;
  const lost = total - kept - deadLettered;
  const dead = deadLettered > 0 ? `, ${deadLettered} dead-lettered` : '';
  const lostPart = lost > 0 ? `, ${lost} lost (the server holds an older revision)` : '';
  return `  ${lost > 0 ? '✘' : '✔'} mid-sync edits: ${kept}/${total} records the phone re-saved kept the edit${dead}${lostPart}`;
}

/** The deletes each client made, the server's tombstones, and the records pulled deletes removed on each client. */
function describeDeletes(
  deletes: ReadonlyMap<string, number>,
  clients: readonly DemoClient[],
  report: AgreementReport,
): string {
  const made = clients.map((c) => `${c.name} ${formatCount(deletes.get(c.name) ?? 0)}`).join(', ');
  const removed = clients
    .map(
      (c) => `${formatCount(DEMO_TYPES.reduce((n, type) => n + c.stats(type).removed, 0))} on the ${c.name}`,
    )
    .join(', ');
  return (
    `  deletes: ${made} made; the server keeps ${plural(report.deleted, 'tombstone')}; ` +
    `pulled deletes removed ${removed}`
  );
}

/**
 * The conflicts the runs resolved, and whether each record both changed ended as the policy says: `server-wins`
 * keeps what reached the server first (the phone's change), `client-wins` what the laptop pushed on top of it.
 */
function describeConflicts(
  plan: ConflictPlan,
  conflicts: number,
  policy: DemoConflictPolicy,
  inputs: readonly AgreementInput[],
): string[] {
  const config = inputs.find((input) => input.entityType === 'configuration');
  const server = new Map(config?.server.map((stored) => [stored.item.id, stored.item]));
  const laptopWins = policy === 'client-wins';
  /** How many of `ids` the server holds live and last edited by `editor`, or (editor undefined) not at all. */
  const ended = (ids: readonly string[], editor: string | undefined) =>
    ids.filter((id) => {
      const item = server.get(id) as { updatedBy?: string } | undefined;
      return editor === undefined ? item === undefined : item?.updatedBy === editor;
    }).length;
  const kinds = [
    {
      ids: plan.editedOnBoth,
      what: 'edited on both',
      expected: laptopWins ? 'laptop' : 'phone',
    },
    {
      ids: plan.laptopEditsPhoneDeletes,
      what: 'edited on the laptop, deleted on the phone',
      expected: laptopWins ? 'laptop' : undefined,
    },
    {
      ids: plan.laptopDeletesPhoneEdits,
      what: 'deleted on the laptop, edited on the phone',
      expected: laptopWins ? undefined : 'phone',
    },
  ];
  const lines = [
    `  conflicts: ${plural(conflicts, 'conflict')} resolved by ${policy} (the laptop pushed its offline changes ` +
      'onto versions the phone had replaced):',
  ];
  for (const kind of kinds) {
    if (kind.ids.length === 0) continue;
    const outcome = kind.expected ? `the ${kind.expected}’s edit` : 'deleted';
    const as = ended(kind.ids, kind.expected);
    const mark = as === kind.ids.length ? '✔' : '✘';
    lines.push(`    ${mark} ${kind.ids.length} ${kind.what}: ${as} ended ${outcome}, as ${policy} says`);
  }
  return lines;
}
