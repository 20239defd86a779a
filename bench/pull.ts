/**
 * The initial pull of N records from the reference server into a local file, actorsync against a plain baseline,
 * in the same run: `npm run bench:pull -- [options]`.
 *
 *   --sizes 10000,100000      record counts (default 10000,100000; 1000000 works: ~1 min a run, ~2 GiB)
 *   --runs 3                  timed runs per size and variant; the median is reported (default 3)
 *   --runs-for 1000000=1      fewer (or more) runs at one size
 *   --variants a,b            which variants (default all; baseline is always added, the ratios need it)
 *   --json                    print the results as JSON instead of tables
 *   --cpu-prof DIR            a V8 CPU profile of every measuring process, in DIR
 *
 * Variants, each pulling pages of PULL_PAGE_SIZE (1,000) changes into a file in a fresh temp dir:
 * - baseline: `GET /v1/changes/telemetry?since&limit` with global fetch, following `checkpoint` until `hasMore` is
 *   false; each page's records appended to one file as one JSON line, then fdatasync (the durability of one lowdb
 *   journal append). No checks, no index, nothing kept in memory.
 * - store-loop: `HttpRemoteDataSource.pullChanges` and `collection.applyPulledPage` of a `LowdbLocalStore`, in a
 *   plain loop: the library's cost without the actors.
 * - actorsync: `SyncCoordinator.sync(repository)` with a pull-only repository on the same store.
 * Besides them, per size: the peak RSS of only opening (and closing) the store a pull left behind.
 *
 * One server process per size (bench/server-process.ts with BENCH_PRELOAD=N: the same N records from
 * `makeRecords`, every time); pulling does not change it, so every variant and run reads the same feed. Every
 * measurement is a fresh process (this file, `measure` mode); the variants' order rotates from run to run, and
 * each waits for a quiet CPU first. See docs/performance.md, "Pulling".
 *
 *   pull.ts measure --variant V --file F --size N --url U   (token in BENCH_TOKEN)   one timed pull, one JSON line
 */

import { mkdtempSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalDataSource, PulledPage } from '../src/index.js';
import {
  ENTITY_TYPE,
  machineCpu,
  type OpenOnlyResult,
  option,
  PULL_PAGE_SIZE,
  PULL_VARIANTS,
  type PullResult,
  type PullVariant,
  processCpuMs,
  report,
  runChild,
  startServerProcess,
  type TelemetryRecord,
  waitForQuietCpu,
} from './shared.js';

// Targets of issue 13 ("Performance").
/** actorsync's (and store-loop's) throughput ÷ the baseline's, at every size. */
const TARGET_RATIO = 0.9;
/** Peak RSS of the pull ÷ peak RSS of opening the store it left, at the largest size. */
const TARGET_RSS_RATIO = 1.5;
/** Records per second of the durable initial pull at 1,000,000 records. */
const TARGET_RECORDS_PER_SECOND = 50_000;
/** Per-page local cost, last tenth of the pages ÷ first tenth (medians): "flat". */
const TARGET_FLAT = 1.5;

const QUIET_THRESHOLD = 0.15;
const QUIET_WAIT_MS = 20_000;

const MB = 1024 * 1024;
const log = (line: string) => process.stderr.write(`${line}\n`);

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function processCpu(): number {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1000;
}

const peakRss = () => process.resourceUsage().maxRSS * 1024;

// ---------------------------------------------------------------------------------------------------------------
// measure mode: one timed pull in this process

/** One page of the feed as the wire carries it (docs/protocol.md, "Pulling changes"). */
interface WirePage {
  changes: { id: string; version: number; deleted: boolean; item: TelemetryRecord }[];
  checkpoint: string;
  hasMore: boolean;
}

async function baseline(file: string, size: number, url: string, token: string): Promise<PullResult> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const handle = await open(file, 'a');
  const pageMs: number[] = [];
  let since: string | undefined;
  let stored = 0;
  let bytes = 0;
  try {
    for (;;) {
      const query = new URLSearchParams({ limit: String(PULL_PAGE_SIZE) });
      if (since !== undefined) query.set('since', since);
      const response = await fetch(`${url}/v1/changes/${ENTITY_TYPE}?${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      if (response.status !== 200)
        throw new Error(`The feed answered ${response.status}: ${await response.text()}`);
      const page = (await response.json()) as WirePage;
      const writeStarted = performance.now();
      const line = `${JSON.stringify(page.changes.map((change) => change.item))}\n`;
      await handle.write(line);
      await handle.datasync();
      pageMs.push(performance.now() - writeStarted);
      bytes += Buffer.byteLength(line);
      stored += page.changes.length;
      since = page.checkpoint;
      if (!page.hasMore) break;
    }
  } finally {
    await handle.close();
  }
  return finish('baseline', size, started, cpu, { pageMs, stored, compactions: 0, bytes });
}

function finish(
  variant: PullVariant,
  size: number,
  started: number,
  cpu: NodeJS.CpuUsage,
  run: { pageMs: number[]; stored: number; compactions: number; bytes: number },
): PullResult {
  const ms = performance.now() - started;
  const cpuMs = cpuSince(cpu);
  return {
    variant,
    size,
    ms,
    pages: run.pageMs.length,
    stored: run.stored,
    pageMs: run.pageMs,
    compactions: run.compactions,
    localBytesWritten: run.bytes,
    peakRssBytes: peakRss(),
    cpuMs,
    processCpuMs: processCpu(),
  };
}

/** The library without the actors: pull a page, apply it, until the server has no more. */
async function storeLoop(file: string, size: number, url: string, token: string): Promise<PullResult> {
  const [{ HttpRemoteDataSource }, { LowdbLocalStore }] = await Promise.all([
    import('../src/http.js'),
    import('../src/lowdb.js'),
  ]);
  const remote = new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token });
  const signal = new AbortController().signal;
  const cpu = process.cpuUsage();
  const started = performance.now();
  const store = await LowdbLocalStore.open(file);
  const collection = store.collection<TelemetryRecord>(ENTITY_TYPE);
  const checkpoint = collection.checkpoint?.bind(collection);
  const applyPulledPage = collection.applyPulledPage?.bind(collection);
  if (!checkpoint || !applyPulledPage) throw new Error('The lowdb collection cannot apply pulled pages');
  const pageMs: number[] = [];
  let stored = 0;
  let since = await checkpoint();
  for (;;) {
    const reply = await remote.pullChanges({ entityType: ENTITY_TYPE, since, limit: PULL_PAGE_SIZE, signal });
    if (reply.reset) throw new Error('The server asked for a reset');
    const page: PulledPage = {
      changes: reply.changes,
      checkpoint: reply.checkpoint,
      hasMore: reply.hasMore,
      since,
    };
    const applyStarted = performance.now();
    const result = await applyPulledPage(page, { conflicts: 'server-wins', now: Date.now() });
    pageMs.push(performance.now() - applyStarted);
    if (result.refused.length > 0) throw new Error(`${result.refused.length} changes refused`);
    stored += result.pulled;
    since = reply.checkpoint;
    if (!reply.hasMore) break;
  }
  // close() waits for a compaction still running beside the pages: it is part of the pull's time.
  await store.close();
  const { compactions, journalBytesWritten, snapshotBytesWritten } = store.stats;
  assertNoCompactionFailed(store.stats);
  return finish('store-loop', size, started, cpu, {
    pageMs,
    stored,
    compactions,
    bytes: journalBytesWritten + snapshotBytesWritten,
  });
}

/** A compaction that failed (and was retried) would make the figures those of another run than the one meant. */
function assertNoCompactionFailed(stats: { compactionFailures: number; lastCompactionError?: string }): void {
  if (stats.compactionFailures > 0) {
    throw new Error(`${stats.compactionFailures} compactions failed: ${stats.lastCompactionError}`);
  }
}

/**
 * `local` with `applyPulledPage` timed into `pageMs` and its records counted into `stored`; every other member is
 * the collection's own (bound, so its private fields work).
 */
function timedApplies<T extends TelemetryRecord>(
  local: LocalDataSource<T>,
  run: { pageMs: number[]; stored: number },
): LocalDataSource<T> {
  return new Proxy(local, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key === 'applyPulledPage') {
        const apply = target.applyPulledPage?.bind(target);
        if (!apply) return undefined;
        return async (...args: Parameters<typeof apply>) => {
          const applyStarted = performance.now();
          try {
            const result = await apply(...args);
            run.stored += result.pulled;
            return result;
          } finally {
            run.pageMs.push(performance.now() - applyStarted);
          }
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * actorsync as an app runs it: open the store, `coordinator.sync(repository)` with a pull-only repository and the
 * coordinator's defaults (pages of 1,000), stop, close.
 */
async function actorsync(file: string, size: number, url: string, token: string): Promise<PullResult> {
  const [{ HttpRemoteDataSource }, { LowdbLocalStore }, { Repository, SyncCoordinator }] = await Promise.all([
    import('../src/http.js'),
    import('../src/lowdb.js'),
    import('../src/index.js'),
  ]);
  const run = { pageMs: [] as number[], stored: 0 };
  const cpu = process.cpuUsage();
  const started = performance.now();
  const store = await LowdbLocalStore.open(file);
  const repository = new Repository<TelemetryRecord>({
    entityType: ENTITY_TYPE,
    local: timedApplies(store.collection<TelemetryRecord>(ENTITY_TYPE), run),
    remote: new HttpRemoteDataSource<TelemetryRecord>({ baseUrl: url, getToken: () => token }),
    direction: 'pull',
  });
  const coordinator = new SyncCoordinator();
  const result = await coordinator.sync(repository);
  await coordinator.stop();
  await store.close();
  if (result.state !== 'synced') throw new Error(`actorsync ended ${result.state}: ${result.errorMessage}`);
  if (result.pulledItems !== run.stored)
    throw new Error(`sync() reported ${result.pulledItems} pulled, the store ${run.stored}`);
  if (run.pageMs.length === 0) {
    throw new Error(
      'sync() applied no pulled page: is the pull machine (machines/pull.machine.ts) on this branch?',
    );
  }
  const { compactions, journalBytesWritten, snapshotBytesWritten } = store.stats;
  assertNoCompactionFailed(store.stats);
  return finish('actorsync', size, started, cpu, {
    ...run,
    compactions,
    bytes: journalBytesWritten + snapshotBytesWritten,
  });
}

/**
 * One timed pull of `variant` into `file` (which must not exist yet) from the server at `url`, which holds `size`
 * records; throws unless all `size` were stored. Also what bench/competitors measures for its pull variants.
 */
export async function measurePull(
  variant: PullVariant,
  file: string,
  size: number,
  url: string,
  token: string,
): Promise<PullResult> {
  let result: PullResult;
  switch (variant) {
    case 'baseline':
      result = await baseline(file, size, url, token);
      break;
    case 'store-loop':
      result = await storeLoop(file, size, url, token);
      break;
    case 'actorsync':
      result = await actorsync(file, size, url, token);
      break;
    default:
      throw new Error(`Unknown variant ${String(variant)} (${PULL_VARIANTS.join(', ')})`);
  }
  if (result.stored !== size) throw new Error(`${variant} stored ${result.stored} of ${size} records`);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// the parent: servers, fresh processes, tables

interface Measurement extends PullResult {
  run: number;
  /** Share of the machine's CPU capacity used by other processes while the measuring child ran. */
  contention: number | undefined;
}

interface Summary {
  size: number;
  variant: PullVariant;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  recordsPerSecond: number;
  ratio: number | undefined;
  /** Per-page local ms over the first and last tenth of the pages (of the median run): median and mean. */
  firstPageMedianMs: number;
  lastPageMedianMs: number;
  firstPageMeanMs: number;
  lastPageMeanMs: number;
  /** Median local ms of all pages; at 10,000 (10 pages) a tenth is one page, the first one JIT-cold. */
  allPageMedianMs: number;
  /** All pages' local ms added up, and the slowest page (a compaction), of the median run. */
  localMs: number;
  maxPageMs: number;
  compactions: number;
  peakRssMiB: number;
  cpuMs: number;
  maxContention: number | undefined;
}

interface OpenOnlySummary {
  size: number;
  variant: PullVariant;
  ms: number;
  peakRssMiB: number;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

function tenths(pageMs: readonly number[]): { first: number[]; last: number[] } {
  const tenth = Math.max(1, Math.floor(pageMs.length / 10));
  return { first: pageMs.slice(0, tenth), last: pageMs.slice(-tenth) };
}

async function measureOnce(
  variant: PullVariant,
  size: number,
  run: number,
  server: Awaited<ReturnType<typeof startServerProcess>>,
  dir: string,
  cpuProfDir: string | undefined,
): Promise<Measurement & { file: string }> {
  const file = join(dir, `${variant}-${size}-${run}.json`);
  await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  const machineBefore = await machineCpu();
  const serverBefore = await processCpuMs(server.pid);
  const parentBefore = process.cpuUsage();
  const started = performance.now();
  const result = await runChild<PullResult>(
    'pull.ts',
    ['measure', '--variant', variant, '--file', file, '--size', String(size), '--url', server.info.url],
    {
      env: { BENCH_TOKEN: server.info.token },
      nodeArgs: cpuProfDir
        ? [
            '--cpu-prof',
            '--cpu-prof-dir',
            cpuProfDir,
            '--cpu-prof-name',
            `pull-${variant}-${size}-${run}.cpuprofile`,
          ]
        : [],
    },
  );
  const windowMs = performance.now() - started;
  const machineAfter = await machineCpu();
  const serverAfter = await processCpuMs(server.pid);
  const parent = process.cpuUsage(parentBefore);
  let contention: number | undefined;
  if (machineAfter && machineBefore && serverBefore !== undefined && serverAfter !== undefined) {
    const ours = result.processCpuMs + (serverAfter - serverBefore) + (parent.user + parent.system) / 1000;
    const foreign = machineAfter.busyMs - machineBefore.busyMs - ours;
    contention = Math.max(0, foreign) / (windowMs * availableParallelism());
  }
  return { ...result, run, contention, file };
}

async function removeStore(file: string): Promise<void> {
  for (const suffix of ['', '.journal', '.lock']) await rm(`${file}${suffix}`, { force: true });
}

async function main(args: readonly string[]): Promise<void> {
  const sizes = option(args, 'sizes', '10000,100000')
    .split(',')
    .map(Number)
    .sort((a, b) => a - b);
  const runs = Number(option(args, 'runs', '3'));
  const runsFor = new Map<number, number>();
  for (const entry of option(args, 'runs-for', '').split(',').filter(Boolean)) {
    const [size, count] = entry.split('=').map(Number);
    if (!Number.isInteger(size) || !Number.isInteger(count))
      throw new Error(`--runs-for: size=runs, got ${entry}`);
    runsFor.set(size as number, count as number);
  }
  const variants = option(args, 'variants', PULL_VARIANTS.join(',')).split(',') as PullVariant[];
  for (const variant of variants)
    if (!PULL_VARIANTS.includes(variant)) throw new Error(`Unknown variant ${variant}`);
  if (!variants.includes('baseline')) variants.unshift('baseline');
  const asJson = args.includes('--json');
  const cpuProfDir = args.includes('--cpu-prof') ? resolve(option(args, 'cpu-prof')) : undefined;
  if (sizes.some((size) => !Number.isInteger(size) || size < 1))
    throw new Error('--sizes: positive whole numbers');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive whole number');

  const dir = mkdtempSync(join(tmpdir(), 'actorsync-pull-'));
  const measurements: Measurement[] = [];
  const openOnly: OpenOnlySummary[] = [];
  const busyBefore = await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
  log(
    `machine: ${cpus()[0]?.model ?? 'unknown CPU'} x${availableParallelism()}, ` +
      `${busyBefore === undefined ? '?' : `${(busyBefore * 100).toFixed(0)}%`} busy`,
  );
  try {
    for (const size of sizes) {
      const loadStarted = performance.now();
      const server = await startServerProcess({ BENCH_PRELOAD: String(size) });
      log(`size ${size}: server loaded in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
      try {
        const runsHere = runsFor.get(size) ?? runs;
        const lastFile = new Map<PullVariant, string>();
        for (let run = 1; run <= runsHere; run += 1) {
          // Rotate the order so no variant always runs first (warmer server, cooler disk cache).
          const order = variants.map((_, i) => variants[(i + run - 1) % variants.length] as PullVariant);
          for (const variant of order) {
            const measured = await measureOnce(variant, size, run, server, dir, cpuProfDir);
            const { file, ...measurement } = measured;
            measurements.push(measurement);
            const previous = lastFile.get(variant);
            if (previous) await removeStore(previous);
            lastFile.set(variant, file);
            log(
              `  ${variant} run ${run}: ${measured.ms.toFixed(0)} ms, ${((size / measured.ms) * 1000).toFixed(0)} records/s, ` +
                `peak RSS ${(measured.peakRssBytes / MB).toFixed(0)} MiB, ${measured.compactions} compactions, ` +
                `others ${measured.contention === undefined ? '?' : `${(measured.contention * 100).toFixed(0)}%`}`,
            );
          }
        }
        // What holding the pulled store costs: open + close of the last store each store variant left.
        for (const variant of variants) {
          const file = lastFile.get(variant);
          if (!file || variant === 'baseline') continue;
          await waitForQuietCpu(QUIET_THRESHOLD, QUIET_WAIT_MS, 1);
          const opened = await runChild<OpenOnlyResult>('run-one.ts', [
            'open-only',
            '--file',
            file,
            '--size',
            String(size),
          ]);
          openOnly.push({ size, variant, ms: opened.ms, peakRssMiB: opened.peakRssBytes / MB });
          log(
            `  open-only (${variant}'s store): ${opened.ms.toFixed(0)} ms, peak RSS ${(opened.peakRssBytes / MB).toFixed(0)} MiB`,
          );
        }
        for (const file of lastFile.values()) await removeStore(file);
      } finally {
        await server.stop();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const summaries = summarize(measurements, sizes, variants);
  if (asJson) {
    report({ summaries, openOnly, measurements: measurements.map(({ pageMs, ...rest }) => rest) });
    return;
  }
  printTables(summaries, openOnly);
}

function summarize(
  measurements: readonly Measurement[],
  sizes: readonly number[],
  variants: readonly PullVariant[],
) {
  const summaries: Summary[] = [];
  for (const size of sizes) {
    for (const variant of variants) {
      const runs = measurements.filter((m) => m.size === size && m.variant === variant);
      if (runs.length === 0) continue;
      const ms = runs.map((m) => m.ms);
      const medianMs = median(ms);
      // The per-page figures of the run closest to the median.
      const typical = [...runs].sort(
        (a, b) => Math.abs(a.ms - medianMs) - Math.abs(b.ms - medianMs),
      )[0] as Measurement;
      const { first, last } = tenths(typical.pageMs);
      const contention = runs.map((m) => m.contention).filter((c) => c !== undefined);
      summaries.push({
        size,
        variant,
        runs: runs.length,
        medianMs,
        minMs: Math.min(...ms),
        maxMs: Math.max(...ms),
        recordsPerSecond: (size / medianMs) * 1000,
        ratio: undefined,
        firstPageMedianMs: median(first),
        lastPageMedianMs: median(last),
        firstPageMeanMs: mean(first),
        lastPageMeanMs: mean(last),
        allPageMedianMs: median(typical.pageMs),
        localMs: typical.pageMs.reduce((sum, ms) => sum + ms, 0),
        maxPageMs: Math.max(...typical.pageMs),
        compactions: median(runs.map((m) => m.compactions)),
        peakRssMiB: median(runs.map((m) => m.peakRssBytes)) / MB,
        cpuMs: median(runs.map((m) => m.cpuMs)),
        maxContention: contention.length ? Math.max(...contention) : undefined,
      });
    }
  }
  for (const summary of summaries) {
    const base = summaries.find((other) => other.size === summary.size && other.variant === 'baseline');
    if (base) summary.ratio = base.medianMs / summary.medianMs;
  }
  return summaries;
}

function printTables(summaries: readonly Summary[], openOnly: readonly OpenOnlySummary[]): void {
  const n = (value: number, digits = 0) =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const pct = (share: number | undefined) => (share === undefined ? '?' : `${(share * 100).toFixed(0)}%`);
  console.log(
    '| records | variant | runs | median ms | records/s | × baseline | spread | page ms all (median) | first 10% (median / mean) | last 10% (median / mean) | slowest page ms | local ms (all pages) | compactions | peak RSS MiB | open-only RSS MiB | RSS ratio | CPU ms | others busy (max) |',
  );
  console.log(
    '| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const s of summaries) {
    const opened = openOnly.find((o) => o.size === s.size && o.variant === s.variant);
    console.log(
      `| ${n(s.size)} | ${s.variant} | ${s.runs} | ${n(s.medianMs)} | ${n(s.recordsPerSecond)} | ${s.ratio === undefined ? 'n/a' : s.ratio.toFixed(2)} | ` +
        `${pct((s.maxMs - s.minMs) / s.medianMs)} | ${n(s.allPageMedianMs, 2)} | ${n(s.firstPageMedianMs, 2)} / ${n(s.firstPageMeanMs, 2)} | ` +
        `${n(s.lastPageMedianMs, 2)} / ${n(s.lastPageMeanMs, 2)} | ${n(s.maxPageMs)} | ${n(s.localMs)} | ${n(s.compactions)} | ${n(s.peakRssMiB)} | ` +
        `${opened ? n(opened.peakRssMiB) : 'n/a'} | ${opened ? (s.peakRssMiB / opened.peakRssMiB).toFixed(2) : 'n/a'} | ` +
        `${n(s.cpuMs)} | ${pct(s.maxContention)} |`,
    );
  }
  const largest = Math.max(...summaries.map((s) => s.size));
  const targets: { name: string; pass: boolean; detail: string }[] = [];
  for (const s of summaries) {
    if (s.variant === 'baseline' || s.ratio === undefined) continue;
    targets.push({
      name: `${s.variant} ≥ ${TARGET_RATIO} × baseline at ${n(s.size)}`,
      pass: s.ratio >= TARGET_RATIO,
      detail: s.ratio.toFixed(2),
    });
    const small = summaries.find(
      (o) => o.variant === s.variant && o.size === Math.min(...summaries.map((x) => x.size)),
    );
    if (s.size === largest && small) {
      const growth = s.lastPageMedianMs / small.allPageMedianMs;
      targets.push({
        name: `${s.variant} per-page cost flat (median of the last tenth at ${n(s.size)} ÷ median of all pages at ${n(small.size)} ≤ ${TARGET_FLAT})`,
        pass: growth <= TARGET_FLAT,
        detail: growth.toFixed(2),
      });
      const opened = openOnly.find((o) => o.size === s.size && o.variant === s.variant);
      if (opened) {
        const ratio = s.peakRssMiB / opened.peakRssMiB;
        targets.push({
          name: `${s.variant} peak RSS ≤ ${TARGET_RSS_RATIO} × opening the store at ${n(s.size)}`,
          pass: ratio <= TARGET_RSS_RATIO,
          detail: ratio.toFixed(2),
        });
      }
      if (s.size >= 1_000_000) {
        targets.push({
          name: `${s.variant} ≥ ${n(TARGET_RECORDS_PER_SECOND)} records/s at ${n(s.size)}`,
          pass: s.recordsPerSecond >= TARGET_RECORDS_PER_SECOND,
          detail: n(s.recordsPerSecond),
        });
      }
    }
  }
  console.log('');
  for (const target of targets)
    console.log(`${target.pass ? 'PASS' : 'MISS'}  ${target.name}: ${target.detail}`);
}

// Run as a script (not imported by bench/competitors/measure.ts).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === 'measure') {
    const measureArgs = args.slice(1);
    report(
      await measurePull(
        option(measureArgs, 'variant') as PullVariant,
        option(measureArgs, 'file'),
        Number(option(measureArgs, 'size')),
        option(measureArgs, 'url'),
        process.env.BENCH_TOKEN ?? '',
      ),
    );
  } else await main(args);
}
