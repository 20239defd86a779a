/**
 * The sync server on PostgreSQL against the memory server, every server in its own process, in the same run
 * (issue 14, "Performance"): `npm run bench:server -- [options]`.
 *
 *   --sizes 100000,1000000   records pushed, then pulled (default 100000)
 *   --servers 1,2            PostgreSQL server processes sharing one database (default 1,2); the memory server
 *                            always runs as one process (its state is in memory)
 *   --batch-sizes 100,1000   push batch sizes (default 100,1000: a 1,000-record body is ~0.37 MB, under the
 *                            handler's default maxBodyBytes of 1 MiB)
 *   --pushers 8              concurrent plain-fetch pushers (default 8)
 *   --pull-runs 1            timed pulls per variant and configuration (default 1)
 *   --probe-batches 50       growth probe: serial batches of 100 inserts, and of 100 updates (default 50)
 *   --probe-pages 20         growth probe: serial pages of 1,000 at the feed's start and at its end (default 20)
 *   --growth-base 10000      the small table the probe also runs at (default 10000)
 *   --json                   print every result as JSON instead of tables
 *
 * PostgreSQL: `DATABASE_URL` if set, otherwise an embedded PostgreSQL 18 (`startEmbeddedPostgres()`,
 * src/cli/embedded-postgres.ts) with its durable defaults: fsync, synchronous_commit and full_page_writes on (the
 * tests run theirs without them). Every configuration gets a fresh database, dropped afterwards.
 *
 * Per size and configuration (memory ×1, PostgreSQL × each --servers), in this order:
 * 1. Push: N records as batches of each --batch-sizes by --pushers lanes of plain `fetch` in one client process
 *    (`server-postgres.ts push`); with two server processes consecutive batches alternate between them. Each batch
 *    size pushes into a fresh database; the batches-of-100 push runs last and its database is kept for 2 and 3.
 * 2. Pull: bench/pull.ts's `baseline` (plain fetch, pages of 1,000, one fdatasync'd line per page) and `actorsync`
 *    (the coordinator's pull into a lowdb store) in fresh processes (`server-postgres.ts pull`); with two server
 *    processes consecutive requests alternate between them (a rotating global fetch).
 * 3. Growth probe (one server process): serial batches of 100 new records, serial batches of 100 updates of
 *    random stored records, and serial feed pages of 1,000 at the start and at the end of the feed
 *    (`server-postgres.ts probe`). It also runs on a fresh store holding only --growth-base records.
 * Each measurement waits (up to 20 s) for the CPUs to be under 15% busy, and counts the CPU of the server
 * processes, of PostgreSQL (the postmaster and its children, when it runs on this machine) and of other processes.
 * See docs/performance.md, "Server on PostgreSQL".
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/cli/embedded-postgres.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/server/checkpoint.js';
import { measurePull } from './pull.js';
import {
  BATCH_SIZE,
  ENTITY_TYPE,
  machineCpu,
  makeRecords,
  option,
  PULL_PAGE_SIZE,
  type PullResult,
  type PullVariant,
  postBatch,
  processCpuMs,
  report,
  runChild,
  type ServerProcess,
  startServerProcess,
  type TelemetryRecord,
  waitForQuietCpu,
} from './shared.js';

// Targets of issue 14 ("Performance") and of the two-way sync issue's pull.
const TARGET_PUSH_RECORDS_PER_SECOND = 20_000;
const TARGET_PULL_RATIO = 0.9;
const TARGET_PULL_RECORDS_PER_SECOND = 50_000;
/** Median at the largest size ÷ median at --growth-base: "flat". */
const TARGET_FLAT = 1.5;

const QUIET_THRESHOLD = 0.15;
const QUIET_WAIT_MS = 20_000;
/** Pull variants compared here: the plain baseline and the coordinator's pull. */
const PULL_COMPARED: readonly PullVariant[] = ['baseline', 'actorsync'];
/** Ids of the probe's new records start here, far above any pushed record's. */
const PROBE_INSERT_FROM = 50_000_000;

const MB = 1024 * 1024;
const log = (line: string) => process.stderr.write(`${line}\n`);
const processCpu = () => {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1000;
};

const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};

// ---------------------------------------------------------------------------------------------------------------
// push mode: concurrent plain-fetch pushers in this process

interface PushResult {
  ms: number;
  batches: number;
  records: number;
  /** Per batch, in batch order: ms from sending the request to reading the reply. */
  latencyMs: number[];
  /** CPU of this (client) process during the timed section. */
  cpuMs: number;
  processCpuMs: number;
}

/**
 * Pushes records `from … from + count` as batches of `batchSize` (version `version`; above 1 they update stored
 * records) through `pushers` lanes: each lane sends its next batch when its previous one is answered. Batch `i`
 * goes to `urls[i % urls.length]`. Throws unless every item is answered `ok`.
 */
async function push(options: {
  urls: readonly string[];
  token: string;
  from: number;
  count: number;
  batchSize: number;
  pushers: number;
}): Promise<PushResult> {
  const { urls, token, from, count, batchSize, pushers } = options;
  const batches = Math.ceil(count / batchSize);
  const latencyMs = new Array<number>(batches).fill(0);
  const run = randomBytes(4).toString('hex');
  let next = 0;
  const lane = async () => {
    for (let index = next++; index < batches; index = next++) {
      const start = from + index * batchSize;
      const items = makeRecords(start, Math.min(batchSize, from + count - start));
      const sent = performance.now();
      const results = await postBatch(
        urls[index % urls.length] as string,
        token,
        `push-${run}-${index}`,
        items,
      );
      latencyMs[index] = performance.now() - sent;
      const refused = results.filter((result) => result.status !== 'ok');
      if (refused.length > 0 || results.length !== items.length)
        throw new Error(`batch ${index}: ${refused.length} items not ok: ${JSON.stringify(refused[0])}`);
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: pushers }, lane));
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return {
    ms,
    batches,
    records: count,
    latencyMs,
    cpuMs: (used.user + used.system) / 1000,
    processCpuMs: processCpu(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// probe mode: serial batches and pages, for how their cost grows with the stored records

interface ProbeResult {
  stored: number;
  insertMs: number[];
  updateMs: number[];
  firstPagesMs: number[];
  lastPagesMs: number[];
  /** WAL bytes PostgreSQL wrote per batch (the database's whole WAL: nothing else writes it during the probe). */
  insertWalBytesPerBatch: number | undefined;
  updateWalBytesPerBatch: number | undefined;
}

/** `count` distinct ids below `stored`, from a fixed seed (the same ones at every size up to the smallest). */
function sampleIds(stored: number, count: number): number[] {
  let state = 0x2545f491;
  const random = () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 0x1_0000_0000;
  };
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, stored)) chosen.add(Math.floor(random() * stored));
  return [...chosen];
}

async function walLsn(client: pg.Client | undefined): Promise<string | undefined> {
  if (!client) return undefined;
  const result = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  return result.rows[0]?.lsn;
}

async function walBytesSince(
  client: pg.Client | undefined,
  from: string | undefined,
): Promise<number | undefined> {
  if (!client || !from) return undefined;
  const result = await client.query<{ bytes: string }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::text AS bytes',
    [from],
  );
  return Number(result.rows[0]?.bytes);
}

async function fetchPage(url: string, token: string, since: string | undefined) {
  const query = new URLSearchParams({ limit: String(PULL_PAGE_SIZE) });
  if (since !== undefined) query.set('since', since);
  const response = await fetch(`${url}/v1/changes/${ENTITY_TYPE}?${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status !== 200)
    throw new Error(`The feed answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as { changes: unknown[]; checkpoint: string; hasMore: boolean };
}

async function probe(options: {
  url: string;
  token: string;
  stored: number;
  batches: number;
  pages: number;
  databaseUrl: string | undefined;
}): Promise<ProbeResult> {
  const { url, token, stored, batches, pages } = options;
  const sql = options.databaseUrl ? new pg.Client({ connectionString: options.databaseUrl }) : undefined;
  await sql?.connect();
  try {
    const run = randomBytes(4).toString('hex');
    const insertMs: number[] = [];
    let lsn = await walLsn(sql);
    for (let i = 0; i < batches; i += 1) {
      const items = makeRecords(PROBE_INSERT_FROM + i * BATCH_SIZE, BATCH_SIZE);
      const sent = performance.now();
      await postBatch(url, token, `probe-insert-${run}-${i}`, items);
      insertMs.push(performance.now() - sent);
    }
    const insertWal = await walBytesSince(sql, lsn);
    const updateMs: number[] = [];
    const ids = sampleIds(stored, batches * BATCH_SIZE);
    lsn = await walLsn(sql);
    for (let i = 0; i * BATCH_SIZE < ids.length; i += 1) {
      const items = ids.slice(i * BATCH_SIZE, (i + 1) * BATCH_SIZE).map((id): TelemetryRecord => {
        const record = makeRecords(id, 1)[0] as TelemetryRecord;
        return { ...record, version: 2, updatedAt: record.updatedAt + 1, value: record.value + 1 };
      });
      const sent = performance.now();
      const results = await postBatch(url, token, `probe-update-${run}-${i}`, items);
      updateMs.push(performance.now() - sent);
      if (results.some((result) => result.status !== 'ok')) throw new Error(`update batch ${i} not ok`);
    }
    const updateWal = await walBytesSince(sql, lsn);
    // Pages at the start of the feed, then from a checkpoint `pages` pages before the end of the pushed records.
    const firstPagesMs: number[] = [];
    let since: string | undefined;
    for (let i = 0; i < pages; i += 1) {
      const sent = performance.now();
      const page = await fetchPage(url, token, since);
      firstPagesMs.push(performance.now() - sent);
      since = page.checkpoint;
      if (!page.hasMore) break;
    }
    const decoded = since ? decodeCheckpoint(since) : undefined;
    if (!decoded) throw new Error('The feed gave no checkpoint to start the last pages from');
    since = encodeCheckpoint({ ...decoded, seq: Math.max(0, stored - pages * PULL_PAGE_SIZE) });
    const lastPagesMs: number[] = [];
    for (let i = 0; i < pages; i += 1) {
      const sent = performance.now();
      const page = await fetchPage(url, token, since);
      lastPagesMs.push(performance.now() - sent);
      since = page.checkpoint;
    }
    const perBatch = (bytes: number | undefined, count: number) =>
      bytes === undefined || count === 0 ? undefined : bytes / count;
    return {
      stored,
      insertMs,
      updateMs,
      firstPagesMs,
      lastPagesMs,
      insertWalBytesPerBatch: perBatch(insertWal, insertMs.length),
      updateWalBytesPerBatch: perBatch(updateWal, updateMs.length),
    };
  } finally {
    await sql?.end();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// pull mode: bench/pull.ts's measurement, alternating between server processes

/**
 * Replaces the global fetch (which the baseline and ky both call) with one that sends each request for `urls[0]`
 * to the next of `urls` in turn, so a pull's pages alternate between server processes.
 */
function alternateServers(urls: readonly string[]): void {
  const [first] = urls;
  if (urls.length < 2 || first === undefined) return;
  const original = globalThis.fetch.bind(globalThis);
  let next = 0;
  globalThis.fetch = (input: string | URL | Request, init?: RequestInit) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!href.startsWith(first)) return original(input, init);
    const target = `${urls[next++ % urls.length]}${href.slice(first.length)}`;
    return input instanceof Request ? original(new Request(target, input), init) : original(target, init);
  };
}

// ---------------------------------------------------------------------------------------------------------------
// the parent

type StoreKind = 'memory' | 'postgres';

interface Config {
  store: StoreKind;
  servers: number;
}

const configName = (config: Config) => `${config.store} ×${config.servers}`;

/** A fresh database on the bench's PostgreSQL, dropped by `drop`. */
interface BenchDatabase {
  url: string;
  drop: () => Promise<void>;
}

interface Postgres {
  url: string;
  source: string;
  /** The postmaster's pid when PostgreSQL runs on this machine (its CPU is then counted). */
  postmasterPid: number | undefined;
  settings: Record<string, string>;
  stop: () => Promise<void>;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function startPostgres(): Promise<Postgres> {
  const given = process.env.DATABASE_URL;
  let embedded: EmbeddedPostgres | undefined;
  if (!given) embedded = await startEmbeddedPostgres();
  const url = given ?? (embedded as EmbeddedPostgres).url;
  const { postmasterPid, settings } = await withClient(url, async (client) => {
    const shown = await client.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings WHERE name IN
         ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'wal_level', 'max_wal_size',
          'checkpoint_timeout', 'server_version', 'data_directory')`,
    );
    const settings = Object.fromEntries(
      shown.rows.map((row) => [row.name, row.unit ? `${row.setting} ${row.unit}` : row.setting]),
    );
    let pid: number | undefined;
    try {
      const first = (await readFile(join(settings.data_directory ?? '', 'postmaster.pid'), 'utf8')).split(
        '\n',
      )[0];
      pid = Number(first) || undefined;
    } catch {
      pid = undefined;
    }
    delete settings.data_directory;
    return { postmasterPid: pid, settings };
  });
  return {
    url,
    source: given ? 'DATABASE_URL' : `embedded PostgreSQL on port ${embedded?.port}`,
    postmasterPid,
    settings,
    stop: async () => embedded?.stop(),
  };
}

async function freshDatabase(postgres: Postgres): Promise<BenchDatabase> {
  const name = `actorsync_bench_${randomBytes(5).toString('hex')}`;
  await withClient(postgres.url, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(postgres.url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withClient(postgres.url, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/** CPU ms of the postmaster and every process it started (its backends, WAL writer, checkpointer…). */
async function postgresCpuMs(postmasterPid: number | undefined): Promise<number | undefined> {
  if (postmasterPid === undefined) return undefined;
  let total = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // After the command name: state (3), ppid (4), … utime (14), stime (15), cutime (16), cstime (17).
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    if (pid !== postmasterPid && Number(fields[1]) !== postmasterPid) continue;
    total += Number(fields[11]) + Number(fields[12]);
    // Backends that already exited were charged to the postmaster when it reaped them.
    if (pid === postmasterPid) total += Number(fields[13]) + Number(fields[14]);
  }
  return total * 10;
}

/** Servers of one configuration on their store (a fresh database for PostgreSQL). */
interface Deployment {
  config: Config;
  servers: ServerProcess[];
  urls: string[];
  token: string;
  database: BenchDatabase | undefined;
  close: () => Promise<void>;
}

async function deploy(config: Config, postgres: Postgres): Promise<Deployment> {
  const database = config.store === 'postgres' ? await freshDatabase(postgres) : undefined;
  const token = `bench-${randomBytes(12).toString('hex')}`;
  const servers: ServerProcess[] = [];
  const close = async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  };
  try {
    for (let i = 0; i < config.servers; i += 1) {
      servers.push(
        await startServerProcess({
          BENCH_SERVER_TOKEN: token,
          ...(database ? { BENCH_DATABASE_URL: database.url } : {}),
        }),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { config, servers, urls: servers.map((server) => server.info.url), token, database, close };
}

/** CPU of everything taking part, and of the whole machine, so other processes' share can be told apart. */
interface CpuSnapshot {
  machine: Awaited<ReturnType<typeof machineCpu>>;
  servers: (number | undefined)[];
  postgres: number | undefined;
  parent: NodeJS.CpuUsage;
  at: number;
}

async function cpuSnapshot(deployment: Deployment, postgres: Postgres): Promise<CpuSnapshot> {
  return {
    machine: await machineCpu(),
    servers: await Promise.all(deployment.servers.map((server) => processCpuMs(server.pid))),
    postgres:
      deployment.config.store === 'postgres' ? await postgresCpuMs(postgres.postmasterPid) : undefined,
    parent: process.cpuUsage(),
    at: performance.now(),
  };
}

interface CpuWindow {
  windowMs: number;
  serverCpuMs: number | undefined;
  postgresCpuMs: number | undefined;
  /** Share of the machine's CPU capacity other processes used during the window. */
  contention: number | undefined;
}

function cpuWindow(before: CpuSnapshot, after: CpuSnapshot, clientCpuMs: number): CpuWindow {
  const windowMs = after.at - before.at;
  let serverCpuMs: number | undefined = 0;
  for (const [i, ms] of after.servers.entries()) {
    const was = before.servers[i];
    serverCpuMs =
      ms === undefined || was === undefined || serverCpuMs === undefined ? undefined : serverCpuMs + ms - was;
  }
  const postgresCpu =
    after.postgres === undefined || before.postgres === undefined
      ? undefined
      : after.postgres - before.postgres;
  const parent = process.cpuUsage(before.parent);
  let contention: number | undefined;
  if (before.machine && after.machine && serverCpuMs !== undefined) {
    const ours = clientCpuMs + serverCpuMs + (postgresCpu ?? 0) + (parent.user + parent.system) / 1000;
    const foreign = after.machine.busyMs - before.machine.busyMs - ours;
    contention = Math.max(0, foreign) / (windowMs * availableParallelism());
  }
  return { windowMs, serverCpuMs, postgresCpuMs: postgresCpu, contention };
}

interface PushRow extends CpuWindow {
  size: number;
  config: Config;
  batchSize: number;
  pushers: number;
  ms: number;
  recordsPerSecond: number;
  batchesPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  /** Median batch latency over the first and the last tenth of the batches (the table growing meanwhile). */
  firstTenthP50Ms: number;
  lastTenthP50Ms: number;
  clientCpuMs: number;
}

interface PullRow extends CpuWindow {
  size: number;
  config: Config;
  variant: PullVariant;
  run: number;
  ms: number;
  recordsPerSecond: number;
  peakRssMiB: number;
  clientCpuMs: number;
}

interface ProbeRow extends ProbeResult {
  config: Config;
}

async function measurePush(
  deployment: Deployment,
  postgres: Postgres,
  size: number,
  batchSize: number,
  pushers: number,
): Promise<PushRow> {
  await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  const before = await cpuSnapshot(deployment, postgres);
  const result = await runChild<PushResult>(
    'server-postgres.ts',
    [
      'push',
      '--urls',
      deployment.urls.join(','),
      '--from',
      '0',
      '--count',
      String(size),
      '--batch-size',
      String(batchSize),
      '--pushers',
      String(pushers),
    ],
    { env: { BENCH_TOKEN: deployment.token } },
  );
  const window = cpuWindow(before, await cpuSnapshot(deployment, postgres), result.processCpuMs);
  const tenth = Math.max(1, Math.floor(result.latencyMs.length / 10));
  return {
    ...window,
    size,
    config: deployment.config,
    batchSize,
    pushers,
    ms: result.ms,
    recordsPerSecond: (size / result.ms) * 1000,
    batchesPerSecond: (result.batches / result.ms) * 1000,
    p50Ms: median(result.latencyMs),
    p95Ms: quantile(result.latencyMs, 0.95),
    firstTenthP50Ms: median(result.latencyMs.slice(0, tenth)),
    lastTenthP50Ms: median(result.latencyMs.slice(-tenth)),
    clientCpuMs: result.cpuMs,
  };
}

async function measurePullOnce(
  deployment: Deployment,
  postgres: Postgres,
  size: number,
  variant: PullVariant,
  run: number,
  dir: string,
): Promise<PullRow> {
  const file = join(
    dir,
    `${deployment.config.store}-${deployment.config.servers}-${variant}-${size}-${run}.json`,
  );
  await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  const before = await cpuSnapshot(deployment, postgres);
  try {
    const result = await runChild<PullResult>(
      'server-postgres.ts',
      [
        'pull',
        '--variant',
        variant,
        '--file',
        file,
        '--size',
        String(size),
        '--urls',
        deployment.urls.join(','),
      ],
      { env: { BENCH_TOKEN: deployment.token } },
    );
    const window = cpuWindow(before, await cpuSnapshot(deployment, postgres), result.processCpuMs);
    return {
      ...window,
      size,
      config: deployment.config,
      variant,
      run,
      ms: result.ms,
      recordsPerSecond: (size / result.ms) * 1000,
      peakRssMiB: result.peakRssBytes / MB,
      clientCpuMs: result.cpuMs,
    };
  } finally {
    for (const suffix of ['', '.journal', '.lock']) await rm(`${file}${suffix}`, { force: true });
  }
}

async function measureProbe(
  deployment: Deployment,
  stored: number,
  batches: number,
  pages: number,
): Promise<ProbeRow> {
  await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  const result = await runChild<ProbeResult>(
    'server-postgres.ts',
    [
      'probe',
      '--url',
      deployment.urls[0] as string,
      '--stored',
      String(stored),
      '--batches',
      String(batches),
      '--pages',
      String(pages),
    ],
    {
      env: {
        BENCH_TOKEN: deployment.token,
        ...(deployment.database ? { BENCH_DATABASE_URL: deployment.database.url } : {}),
      },
    },
  );
  return { ...result, config: deployment.config };
}

const numberList = (text: string) =>
  text
    .split(',')
    .filter(Boolean)
    .map((entry) => {
      const value = Number(entry);
      if (!Number.isInteger(value) || value < 1) throw new Error(`Not a positive whole number: ${entry}`);
      return value;
    });

async function main(args: readonly string[]): Promise<void> {
  const sizes = numberList(option(args, 'sizes', '100000')).sort((a, b) => a - b);
  const serverCounts = numberList(option(args, 'servers', '1,2'));
  // The batches-of-100 push runs last: its database is the one pulled and probed.
  const batchSizes = numberList(option(args, 'batch-sizes', `${BATCH_SIZE},1000`)).sort(
    (a, b) => Number(a === BATCH_SIZE) - Number(b === BATCH_SIZE) || a - b,
  );
  const pushers = numberList(option(args, 'pushers', '8'))[0] as number;
  const pullRuns = numberList(option(args, 'pull-runs', '1'))[0] as number;
  const probeBatches = numberList(option(args, 'probe-batches', '50'))[0] as number;
  const probePages = numberList(option(args, 'probe-pages', '20'))[0] as number;
  const growthBase = numberList(option(args, 'growth-base', '10000'))[0] as number;
  const asJson = args.includes('--json');
  const configs: Config[] = [
    { store: 'memory', servers: 1 },
    ...serverCounts.map((servers): Config => ({ store: 'postgres', servers })),
  ];

  const postgres = await startPostgres();
  const dir = mkdtempSync(join(tmpdir(), 'actorsync-server-bench-'));
  const busy = await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'} x${availableParallelism()}`;
  log(`machine: ${machine}, ${busy === undefined ? '?' : `${(busy * 100).toFixed(0)}%`} busy`);
  log(`PostgreSQL: ${postgres.source}, ${JSON.stringify(postgres.settings)}`);
  const pushRows: PushRow[] = [];
  const pullRows: PullRow[] = [];
  const probeRows: ProbeRow[] = [];
  const pct = (share: number | undefined) => (share === undefined ? '?' : `${(share * 100).toFixed(0)}%`);
  try {
    // The growth probe's small table: the same probe on a store holding only growthBase records.
    for (const config of configs.filter((c) => c.servers === 1)) {
      const deployment = await deploy(config, postgres);
      try {
        await measurePush(deployment, postgres, growthBase, BATCH_SIZE, pushers);
        const row = await measureProbe(deployment, growthBase, probeBatches, probePages);
        probeRows.push(row);
        log(`growth base ${growthBase} ${configName(config)}: ${probeLine(row)}`);
      } finally {
        await deployment.close();
      }
    }
    for (const size of sizes) {
      for (const config of configs) {
        for (const batchSize of batchSizes) {
          const deployment = await deploy(config, postgres);
          try {
            const row = await measurePush(deployment, postgres, size, batchSize, pushers);
            pushRows.push(row);
            log(
              `push ${size} ${configName(config)} batch ${batchSize}: ${Math.round(row.recordsPerSecond)} records/s, ` +
                `p50 ${row.p50Ms.toFixed(1)} ms, p95 ${row.p95Ms.toFixed(1)} ms, servers ${Math.round(row.serverCpuMs ?? 0)} ms CPU, ` +
                `PostgreSQL ${Math.round(row.postgresCpuMs ?? 0)} ms CPU, pushers ${Math.round(row.clientCpuMs)} ms CPU, ` +
                `others ${pct(row.contention)}`,
            );
            if (batchSize !== BATCH_SIZE) continue;
            for (let run = 1; run <= pullRuns; run += 1) {
              const order = PULL_COMPARED.map(
                (_, i) => PULL_COMPARED[(i + run - 1) % PULL_COMPARED.length] as PullVariant,
              );
              for (const variant of order) {
                const pulled = await measurePullOnce(deployment, postgres, size, variant, run, dir);
                pullRows.push(pulled);
                log(
                  `  pull ${variant} run ${run}: ${Math.round(pulled.ms)} ms, ${Math.round(pulled.recordsPerSecond)} records/s, ` +
                    `servers ${Math.round(pulled.serverCpuMs ?? 0)} ms CPU, PostgreSQL ${Math.round(pulled.postgresCpuMs ?? 0)} ms CPU, ` +
                    `others ${pct(pulled.contention)}`,
                );
              }
            }
            if (config.servers === 1) {
              const probed = await measureProbe(deployment, size, probeBatches, probePages);
              probeRows.push(probed);
              log(`  growth ${size}: ${probeLine(probed)}`);
            }
          } finally {
            await deployment.close();
          }
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await postgres.stop();
  }
  if (asJson) {
    report({
      machine,
      postgres: { source: postgres.source, settings: postgres.settings },
      pushRows,
      pullRows,
      probeRows,
    });
    return;
  }
  printTables(pushRows, pullRows, probeRows, pushers, growthBase);
}

function probeLine(row: ProbeResult): string {
  const kb = (bytes: number | undefined) => (bytes === undefined ? '?' : `${(bytes / 1024).toFixed(0)} KiB`);
  return (
    `insert batch p50 ${median(row.insertMs).toFixed(1)} ms (WAL ${kb(row.insertWalBytesPerBatch)}), ` +
    `update batch p50 ${median(row.updateMs).toFixed(1)} ms (WAL ${kb(row.updateWalBytesPerBatch)}), ` +
    `page p50 first ${median(row.firstPagesMs).toFixed(1)} ms / last ${median(row.lastPagesMs).toFixed(1)} ms`
  );
}

function printTables(
  pushRows: readonly PushRow[],
  pullRows: readonly PullRow[],
  probeRows: readonly ProbeRow[],
  pushers: number,
  growthBase: number,
): void {
  const n = (value: number | undefined, digits = 0) =>
    value === undefined || Number.isNaN(value)
      ? '?'
      : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const pct = (share: number | undefined) => (share === undefined ? '?' : `${(share * 100).toFixed(0)}%`);
  const cores = (cpuMs: number | undefined, windowMs: number) =>
    cpuMs === undefined ? '?' : (cpuMs / windowMs).toFixed(2);
  console.log(`Push (${pushers} pushers)\n`);
  console.log(
    '| records | store | server processes | batch | s | records/s | batches/s | p50 ms | p95 ms | p50 first / last tenth | servers CPU (cores) | PostgreSQL CPU (cores) | pushers CPU (cores) | others busy |',
  );
  console.log(
    '| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of pushRows) {
    console.log(
      `| ${n(r.size)} | ${r.config.store} | ${r.config.servers} | ${r.batchSize} | ${n(r.ms / 1000, 1)} | ${n(r.recordsPerSecond)} | ` +
        `${n(r.batchesPerSecond)} | ${n(r.p50Ms, 1)} | ${n(r.p95Ms, 1)} | ${n(r.firstTenthP50Ms, 1)} / ${n(r.lastTenthP50Ms, 1)} | ` +
        `${cores(r.serverCpuMs, r.windowMs)} | ${r.config.store === 'postgres' ? cores(r.postgresCpuMs, r.windowMs) : '—'} | ` +
        `${cores(r.clientCpuMs, r.windowMs)} | ${pct(r.contention)} |`,
    );
  }
  console.log('\nPull (pages of 1,000)\n');
  console.log(
    '| records | store | server processes | variant | runs | median ms | records/s | × baseline | servers CPU (cores) | PostgreSQL CPU (cores) | peak RSS MiB | others busy (max) |',
  );
  console.log('| ---: | :--- | ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const pullSummaries: { size: number; config: Config; variant: PullVariant; ms: number; ratio: number }[] =
    [];
  const groups = new Map<string, PullRow[]>();
  for (const r of pullRows) {
    const key = `${r.size}|${r.config.store}|${r.config.servers}|${r.variant}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const rows of groups.values()) {
    const first = rows[0] as PullRow;
    const ms = median(rows.map((r) => r.ms));
    const base = pullRows.filter(
      (r) =>
        r.size === first.size &&
        r.config.store === first.config.store &&
        r.config.servers === first.config.servers &&
        r.variant === 'baseline',
    );
    const ratio = median(base.map((r) => r.ms)) / ms;
    pullSummaries.push({ size: first.size, config: first.config, variant: first.variant, ms, ratio });
    const window = median(rows.map((r) => r.windowMs));
    const contention = rows.map((r) => r.contention).filter((c) => c !== undefined);
    console.log(
      `| ${n(first.size)} | ${first.config.store} | ${first.config.servers} | ${first.variant} | ${rows.length} | ${n(ms)} | ` +
        `${n((first.size / ms) * 1000)} | ${ratio.toFixed(2)} | ${cores(median(rows.map((r) => r.serverCpuMs ?? Number.NaN)), window)} | ` +
        `${first.config.store === 'postgres' ? cores(median(rows.map((r) => r.postgresCpuMs ?? Number.NaN)), window) : '—'} | ` +
        `${n(median(rows.map((r) => r.peakRssMiB)))} | ${contention.length ? pct(Math.max(...contention)) : '?'} |`,
    );
  }
  console.log(`\nGrowth (serial, one server process; batches of ${BATCH_SIZE}, pages of 1,000)\n`);
  console.log(
    '| store | stored | insert batch p50 / p95 ms | update batch p50 / p95 ms | WAL KiB per insert / update batch | page p50 at the start / end of the feed ms |',
  );
  console.log('| :--- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of probeRows) {
    const kb = (bytes: number | undefined) => (bytes === undefined ? '—' : n(bytes / 1024));
    console.log(
      `| ${r.config.store} | ${n(r.stored)} | ${n(median(r.insertMs), 1)} / ${n(quantile(r.insertMs, 0.95), 1)} | ` +
        `${n(median(r.updateMs), 1)} / ${n(quantile(r.updateMs, 0.95), 1)} | ${kb(r.insertWalBytesPerBatch)} / ${kb(r.updateWalBytesPerBatch)} | ` +
        `${n(median(r.firstPagesMs), 1)} / ${n(median(r.lastPagesMs), 1)} |`,
    );
  }

  const targets: { name: string; pass: boolean; detail: string }[] = [];
  for (const r of pushRows.filter((row) => row.config.store === 'postgres')) {
    targets.push({
      name: `push into PostgreSQL ≥ ${n(TARGET_PUSH_RECORDS_PER_SECOND)} records/s (${n(r.size)}, ${r.config.servers} server${r.config.servers > 1 ? 's' : ''}, batches of ${r.batchSize})`,
      pass: r.recordsPerSecond >= TARGET_PUSH_RECORDS_PER_SECOND,
      detail: n(r.recordsPerSecond),
    });
  }
  for (const s of pullSummaries.filter(
    (row) => row.config.store === 'postgres' && row.variant !== 'baseline',
  )) {
    targets.push({
      name: `${s.variant} pull from PostgreSQL ≥ ${TARGET_PULL_RATIO} × baseline (${n(s.size)}, ${s.config.servers} server${s.config.servers > 1 ? 's' : ''})`,
      pass: s.ratio >= TARGET_PULL_RATIO,
      detail: s.ratio.toFixed(2),
    });
    if (s.size >= 1_000_000) {
      const perSecond = (s.size / s.ms) * 1000;
      targets.push({
        name: `${s.variant} pull from PostgreSQL ≥ ${n(TARGET_PULL_RECORDS_PER_SECOND)} records/s (${n(s.size)}, ${s.config.servers} server${s.config.servers > 1 ? 's' : ''})`,
        pass: perSecond >= TARGET_PULL_RECORDS_PER_SECOND,
        detail: n(perSecond),
      });
    }
  }
  for (const store of ['memory', 'postgres'] as const) {
    const own = probeRows.filter((r) => r.config.store === store);
    const base = own.find((r) => r.stored === growthBase);
    const largest = own.reduce<ProbeRow | undefined>(
      (a, b) => (a && a.stored >= b.stored ? a : b),
      undefined,
    );
    if (!base || !largest || largest === base) continue;
    for (const [what, pick] of [
      ['insert batch', (r: ProbeRow) => r.insertMs],
      ['update batch', (r: ProbeRow) => r.updateMs],
      ['page at the end of the feed', (r: ProbeRow) => r.lastPagesMs],
    ] as const) {
      const growth = median(pick(largest)) / median(pick(base));
      targets.push({
        name: `${store} ${what} p50 flat (${n(largest.stored)} ÷ ${n(base.stored)} stored ≤ ${TARGET_FLAT})`,
        pass: growth <= TARGET_FLAT,
        detail: `${growth.toFixed(2)} (${n(median(pick(base)), 1)} → ${n(median(pick(largest)), 1)} ms)`,
      });
    }
  }
  console.log('');
  for (const target of targets)
    console.log(`${target.pass ? 'PASS' : 'MISS'}  ${target.name}: ${target.detail}`);
}

// ---------------------------------------------------------------------------------------------------------------

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [mode, ...rest] = process.argv.slice(2);
  const token = process.env.BENCH_TOKEN ?? '';
  if (mode === 'push') {
    report(
      await push({
        urls: option(rest, 'urls').split(','),
        token,
        from: Number(option(rest, 'from')),
        count: Number(option(rest, 'count')),
        batchSize: Number(option(rest, 'batch-size')),
        pushers: Number(option(rest, 'pushers')),
      }),
    );
  } else if (mode === 'probe') {
    report(
      await probe({
        url: option(rest, 'url'),
        token,
        stored: Number(option(rest, 'stored')),
        batches: Number(option(rest, 'batches')),
        pages: Number(option(rest, 'pages')),
        databaseUrl: process.env.BENCH_DATABASE_URL,
      }),
    );
  } else if (mode === 'pull') {
    const urls = option(rest, 'urls').split(',');
    alternateServers(urls);
    report(
      await measurePull(
        option(rest, 'variant') as PullVariant,
        option(rest, 'file'),
        Number(option(rest, 'size')),
        urls[0] as string,
        token,
      ),
    );
  } else await main(process.argv.slice(2));
}
