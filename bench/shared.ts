/**
 * Shared by the throughput benchmark's parent (`throughput.ts`) and its children (`run-one.ts`,
 * `server-process.ts`): the record shape, the data generator and the child-process protocol (one JSON line on
 * stdout).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../src/core/random.js';

/** The entity type (and store collection) every measurement syncs. */
export const ENTITY_TYPE = 'telemetry';
export const BATCH_SIZE = 100;

/** One item of the reference server's reply, as the baselines read it. */
export interface WireResult {
  id: string;
  status: string;
  version?: number;
}

/**
 * POSTs one batch to the reference server with plain `fetch`, the way actorsync's HttpRemoteDataSource does
 * (bearer token, batch id as Idempotency-Key), and returns the per-item results. Throws unless the answer is 200.
 */
export async function postBatch(
  url: string,
  token: string,
  batchId: string,
  items: readonly object[],
): Promise<WireResult[]> {
  const response = await fetch(`${url}/v1/sync/${ENTITY_TYPE}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'idempotency-key': batchId,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ batchId, items }),
  });
  if (response.status !== 200) {
    throw new Error(`batch ${batchId}: server answered ${response.status} ${await response.text()}`);
  }
  return ((await response.json()) as { results: WireResult[] }).results;
}

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A telemetry event as an SDK would queue it: the five bookkeeping fields plus eight payload fields. */
export interface TelemetryRecord {
  id: string;
  createdAt: number;
  updatedAt: number;
  syncPending: boolean;
  version: number;
  event: string;
  sessionId: string;
  timestamp: number;
  value: number;
  platform: 'ios' | 'android' | 'web';
  sdkVersion: string;
  appVersion: string;
  attributes: { screen: string; network: string; durationMs: number; retry: boolean };
}

/** Batches the pipelined baseline keeps in flight. */
export const PIPELINE_DEPTH = 4;
/**
 * actorsync-best's batch size: the fastest of 100, 250, 500, 1,000 and 2,000 in a quick measurement at 100,000
 * records (docs/performance.md). A 1,000-record body is about 0.37 MB, under the server's default 1 MiB cap.
 */
export const BEST_BATCH_SIZE = 1000;

export type Variant =
  | 'baseline-serial'
  | 'baseline-pipelined'
  | 'actorsync'
  | 'actorsync-1-in-flight'
  | 'actorsync-4-in-flight'
  | 'actorsync-8-in-flight'
  | 'actorsync-best';
export const VARIANTS: readonly Variant[] = [
  'baseline-serial',
  'baseline-pipelined',
  'actorsync',
  'actorsync-1-in-flight',
  'actorsync-best',
];
/** Every variant `run-one.ts measure` knows: `VARIANTS` plus the in-flight depths bench/in-flight.ts compares. */
export const ALL_VARIANTS: readonly Variant[] = [
  ...VARIANTS,
  'actorsync-4-in-flight',
  'actorsync-8-in-flight',
];

/** `maxBatchesInFlight` of an actorsync variant; undefined for the default (2). */
export function inFlightOf(variant: Variant): number | undefined {
  const depth = /^actorsync-(\d+)-in-flight$/.exec(variant)?.[1];
  return depth === undefined ? undefined : Number(depth);
}

/** The actorsync variants: the library with its defaults, with one request at a time, and with larger batches. */
export type ActorsyncVariant = Extract<Variant, `actorsync${string}`>;
export const isActorsyncVariant = (variant: Variant): variant is ActorsyncVariant =>
  variant.startsWith('actorsync');

/** What `run-one.ts measure` reports for one timed run. */
export interface MeasureResult {
  variant: Variant;
  size: number;
  /** Wall time of the timed section (open/read, every batch, write/close). */
  ms: number;
  batches: number;
  synced: number;
  /** Local bytes written during the timed section (see docs/performance.md for what counts). */
  localBytesWritten: number;
  compactions: number;
  journalAppends: number;
  /** process.resourceUsage().maxRSS of the measuring process, in bytes. */
  peakRssBytes: number;
  /** CPU time (user + system, all threads) of the measuring process during the timed section. */
  cpuMs: number;
  /** CPU time of the measuring process over its whole life (startup and checks included). */
  processCpuMs: number;
}

/** What `run-one.ts open-only` reports: `LowdbLocalStore.open` + `close` and nothing else. */
export interface OpenOnlyResult {
  size: number;
  ms: number;
  peakRssBytes: number;
}

/** What `run-one.ts actor-cost` reports: the whole actor path with an instant remote and a memory store. */
export interface ActorCostResult {
  size: number;
  batchSize: number;
  batches: number;
  /** Counted with an `inspect` observer, in a pass of its own (the observer costs time). */
  eventsPerBatch: number;
  snapshotsPerBatch: number;
  /** Every inspection event type seen and how often, for the curious. */
  inspectionCounts: Record<string, number>;
  /** The timed pass (no observer): wall time of `sync()`, and the part spent inside the data sources. */
  ms: number;
  cpuMs: number;
  dataSourceMs: number;
  remoteMs: number;
}

/** What `run-one.ts idle-cpu` reports. */
export interface IdleCpuResult {
  seconds: number;
  intervalMs: number;
  cpuMs: number;
  /** CPU time ÷ wall time, as a share of one core (0–1). */
  coreShare: number;
  /** Runs the auto-sync started during the window (each one ends with a progress event marked complete). */
  runs: number;
}

/** What `run-one.ts first-progress` reports. */
export interface FirstProgressResult {
  size: number;
  /** `LowdbLocalStore.open` (not part of the two times below). */
  openMs: number;
  /** From the `sync()` call to the first `progress` event. */
  firstProgressMs: number;
  /** From the `sync()` call to the first `progress` event with `totalItems > 0`. */
  firstTotalMs: number;
  firstTotal: number;
}

/** What `run-one.ts prepare` reports. */
export interface PrepareResult {
  file: string;
  records: number;
  snapshotBytes: number;
  journalBytes: number;
  ms: number;
}

export interface ServerInfo {
  url: string;
  token: string;
}

const EVENTS = ['screen_view', 'button_tap', 'app_start', 'purchase', 'api_latency', 'crash_free_session'];
const SCREENS = ['home', 'search', 'product', 'cart', 'checkout', 'settings', 'profile'];
const NETWORKS = ['wifi', '4g', '5g', 'offline'];
const PLATFORMS: readonly TelemetryRecord['platform'][] = ['ios', 'android', 'web'];

function pick<T>(random: () => number, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)] as T;
}

function hex(random: () => number, length: number): string {
  let text = '';
  while (text.length < length)
    text += Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return text.slice(0, length);
}

/** `count` pending records starting at `from`, as a repository would have saved them (version 1). */
export function makeRecords(from: number, count: number, seed = 42): TelemetryRecord[] {
  const random = seededRandom(seed + from);
  const base = Date.UTC(2025, 0, 1);
  const records: TelemetryRecord[] = [];
  let sessionId = hex(random, 32);
  for (let i = from; i < from + count; i += 1) {
    if (random() < 0.05) sessionId = hex(random, 32);
    const timestamp = base + i * 250 + Math.floor(random() * 250);
    records.push({
      id: `evt-${String(i).padStart(8, '0')}`,
      createdAt: timestamp + 3,
      updatedAt: timestamp + 3,
      syncPending: true,
      version: 1,
      event: pick(random, EVENTS),
      sessionId,
      timestamp,
      value: Math.round(random() * 100_000) / 100,
      platform: pick(random, PLATFORMS),
      sdkVersion: '4.12.3',
      appVersion: `2.${Math.floor(random() * 4)}.${Math.floor(random() * 10)}`,
      attributes: {
        screen: pick(random, SCREENS),
        network: pick(random, NETWORKS),
        durationMs: Math.floor(random() * 5_000),
        retry: random() < 0.02,
      },
    });
  }
  return records;
}

/** Writes the one JSON line a child reports to its parent. */
export function report(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** `--name value` from argv, or `fallback`. */
export function option(args: readonly string[], name: string, fallback?: string): string {
  const index = args.indexOf(`--${name}`);
  const value = index >= 0 ? args[index + 1] : fallback;
  if (value === undefined || value.startsWith('--')) throw new Error(`Missing value for --${name}`);
  return value;
}

/** Node arguments that run a TypeScript file the way `tsx` does. */
export function tsxArgs(script: string, nodeArgs: readonly string[] = []): string[] {
  return [...nodeArgs, '--import', 'tsx', join(REPO_ROOT, 'bench', script)];
}

/** Resolves with the first line a child writes to stdout, parsed as JSON; rejects if it exits first. */
export function firstJsonLine<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as T);
      } catch (error) {
        reject(
          new Error(`${what} printed something that is not JSON: ${buffered.slice(0, 200)}`, {
            cause: error,
          }),
        );
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      reject(new Error(`${what} exited (code ${code}, signal ${signal}) before reporting`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', reject);
  });
}

/** Runs a bench script to completion and returns the JSON it reported; stderr goes to ours. */
export async function runChild<T>(
  script: string,
  args: readonly string[],
  options: { nodeArgs?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<T> {
  const child = spawn(process.execPath, [...tsxArgs(script, options.nodeArgs), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...options.env },
  });
  const what = `${script} ${args.join(' ')}`;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const result = await firstJsonLine<T>(child, what);
  const code = await exited;
  if (code !== 0) throw new Error(`${what} exited with code ${code}`);
  return result;
}

/** Linux clock ticks (USER_HZ) are 1/100 s on every mainstream architecture. */
const MS_PER_TICK = 10;

/** CPU time of the whole machine so far, from /proc/stat; undefined where there is none (not Linux). */
export async function machineCpu(): Promise<{ busyMs: number; totalMs: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    // user nice system idle iowait irq softirq steal
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((sum, value) => sum + value, 0);
    const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
    return { busyMs: (total - idle) * MS_PER_TICK, totalMs: total * MS_PER_TICK };
  } catch {
    return undefined;
  }
}

/** User + system CPU time of process `pid` so far, from /proc/<pid>/stat; undefined if unavailable. */
export async function processCpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
  } catch {
    return undefined;
  }
}

/** Busy share (0–1) of all CPUs over `ms`; undefined where it cannot be read. */
export async function cpuBusy(ms = 1000): Promise<number | undefined> {
  const first = await machineCpu();
  await new Promise((done) => setTimeout(done, ms));
  const second = await machineCpu();
  if (!first || !second || second.totalMs === first.totalMs) return undefined;
  return (second.busyMs - first.busyMs) / (second.totalMs - first.totalMs);
}

/**
 * Waits (up to `maxMs`) until other processes leave the CPUs alone: `quietSamples` one-second samples in a row
 * below `threshold` busy. Returns the last busy share seen (undefined where it cannot be read).
 */
export async function waitForQuietCpu(
  threshold = 0.15,
  maxMs = 120_000,
  quietSamples = 2,
): Promise<number | undefined> {
  const deadline = Date.now() + maxMs;
  let quiet = 0;
  let busy = await cpuBusy();
  while (busy !== undefined && Date.now() < deadline) {
    quiet = busy < threshold ? quiet + 1 : 0;
    if (quiet >= quietSamples) break;
    busy = await cpuBusy();
  }
  return busy;
}

/** The pull benchmark's variants (bench/pull.ts). */
export type PullVariant = 'baseline' | 'store-loop' | 'actorsync';
export const PULL_VARIANTS: readonly PullVariant[] = ['baseline', 'store-loop', 'actorsync'];
/** Changes per page of every pull variant: the protocol's largest page, and the coordinator's default. */
export const PULL_PAGE_SIZE = 1000;

/** What `pull.ts measure` reports for one timed pull. */
export interface PullResult {
  variant: PullVariant;
  size: number;
  /** Wall time of the timed section: open the local file or store, pull every page, close. */
  ms: number;
  pages: number;
  /** Records stored (the store's count after the pull; the baseline's lines' records). */
  stored: number;
  /**
   * Per page, in order: ms of the local write (baseline: append + fdatasync; store-loop and actorsync: the whole
   * `applyPulledPage` call, its share of a compaction included).
   */
  pageMs: number[];
  /** Compactions of the lowdb store during the pull (0 for the baseline). */
  compactions: number;
  /** Bytes the timed section wrote to the local files (journal, snapshots, or the baseline's lines). */
  localBytesWritten: number;
  /** process.resourceUsage().maxRSS of the measuring process, in bytes. */
  peakRssBytes: number;
  /** CPU time (user + system) of the measuring process during the timed section. */
  cpuMs: number;
  /** CPU time of the measuring process over its whole life. */
  processCpuMs: number;
}

/** A bench server process (bench/server-process.ts) and how to stop it. */
export interface ServerProcess {
  info: ServerInfo;
  pid: number | undefined;
  stop: () => Promise<void>;
}

/**
 * Starts bench/server-process.ts with `env` added (e.g. `BENCH_PRELOAD`) and resolves once it printed its address;
 * `stop` ends it with SIGTERM and resolves when it exited.
 */
export async function startServerProcess(env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, tsxArgs('server-process.ts'), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  try {
    return { info: await firstJsonLine<ServerInfo>(child, 'server-process.ts'), pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
