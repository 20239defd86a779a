/**
 * How fast actorsync, PouchDB and RxDB push N telemetry records to a server over loopback HTTP, next to a plain
 * serial fetch loop (baseline-serial), and pull N records from a server that holds them, next to a plain paged
 * fetch loop (pull-baseline), on this machine. See README.md.
 *
 *   npx tsx bench/competitors/run.ts [--sizes 10000,100000] [--runs 3] [--variants a,b] [--runs-for v:size=n]
 *                                    [--quiet-cpu 0.25] [--json]
 *   npx tsx bench/competitors/run.ts --render report.json     (the tables of an earlier --json report)
 *
 * Every timed run is a fresh client process (measure.ts) against a fresh server process (server.ts), so peak RSS
 * is the client's own and no run inherits a warm server. Runs are interleaved (run 1 of every variant, then run
 * 2, ...) so a slow patch of the machine hits all variants alike.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processCpuMs } from '../shared.js';
import {
  VARIANTS as ALL_VARIANTS,
  baselineOf,
  type CompetitorResult,
  isPullVariant,
  type Variant,
} from './measure.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(HERE, '..', '..');
const SERVER_OF: Record<Variant, 'actorsync' | 'pouchdb'> = {
  'baseline-serial': 'actorsync',
  actorsync: 'actorsync',
  pouchdb: 'pouchdb',
  rxdb: 'actorsync',
  'rxdb-serial': 'actorsync',
  'pull-baseline': 'actorsync',
  'pull-store-loop': 'actorsync',
  'pull-actorsync': 'actorsync',
  'pull-pouchdb': 'pouchdb',
  'pull-rxdb': 'actorsync',
};
/** A run that takes longer than this is a hang. */
const CHILD_TIMEOUT_MS = 15 * 60_000;

interface Options {
  sizes: number[];
  runs: number;
  variants: Variant[];
  /** `variant:size` → runs, overriding `runs`. */
  runsFor: Map<string, number>;
  quietCpu: number;
  json: boolean;
  /** Print the tables of this earlier `--json` report instead of measuring. */
  render: string | undefined;
}

interface RunRecord extends CompetitorResult {
  run: number;
  /** CPU time of the server process while the client ran (setup included; the server idles then). */
  serverCpuMs: number | undefined;
  /** Busy share of the machine's CPUs in the second before this run started. */
  machineBusyBefore: number | undefined;
  /** Items the server holds after the run (checked === size). */
  serverCount: number;
  /** HTTP requests the server got from the client (actorsync server: POSTs; PouchDB server: all). */
  serverRequests: number | undefined;
}

interface Summary {
  size: number;
  variant: Variant;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  recordsPerSecond: number;
  /** Throughput relative to the baseline of its direction at the same size (medians): 0.1 = ten times slower. */
  ratioToBaseline: number | undefined;
  medianPeakRssMB: number;
  medianCpuMs: number;
  medianServerCpuMs: number | undefined;
}

function parseArgs(args: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const index = args.indexOf(`--${name}`);
    if (index < 0) return undefined;
    const found = args[index + 1];
    if (found === undefined || found.startsWith('--')) throw new Error(`Missing value for --${name}`);
    return found;
  };
  const sizes = (value('sizes') ?? '10000,100000').split(',').map(Number);
  if (sizes.some((size) => !Number.isInteger(size) || size < 1)) throw new Error('--sizes: whole numbers');
  const runs = Number(value('runs') ?? '3');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a whole number of at least 1');
  const variants = (value('variants') ?? ALL_VARIANTS.join(',')).split(',') as Variant[];
  for (const variant of variants) {
    if (!ALL_VARIANTS.includes(variant)) throw new Error(`Unknown variant ${variant} (${ALL_VARIANTS})`);
  }
  // The ratios need the plain loop of every direction measured.
  for (const baseline of new Set(variants.map(baselineOf)).values()) {
    if (!variants.includes(baseline))
      variants.splice(
        variants.findIndex((v) => baselineOf(v) === baseline),
        0,
        baseline,
      );
  }
  const runsFor = new Map<string, number>();
  for (const entry of (value('runs-for') ?? '').split(',').filter(Boolean)) {
    const match = /^([\w-]+):(\d+)=(\d+)$/.exec(entry);
    if (!match) throw new Error(`--runs-for: variant:size=runs, got ${entry}`);
    runsFor.set(`${match[1]}:${match[2]}`, Number(match[3]));
  }
  const quietCpu = Number(value('quiet-cpu') ?? '0.25');
  return { sizes, runs, variants, runsFor, quietCpu, json: args.includes('--json'), render: value('render') };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

function childArgs(script: string, args: readonly string[]): string[] {
  return ['--import', 'tsx', join(HERE, script), ...args];
}

/** Resolves with the first stdout line of `child` parsed as JSON; rejects if it exits or times out first. */
function firstJsonLine<T>(child: ChildProcess, what: string, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buffered = '';
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      settle();
    };
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      finish(() => {
        try {
          resolve(JSON.parse(line) as T);
        } catch {
          reject(new Error(`${what} printed something that is not JSON: ${line.slice(0, 200)}`));
        }
      });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(() => reject(new Error(`${what} exited (code ${code}, signal ${signal}) before reporting`)));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`${what} did not report within ${timeoutMs} ms`))),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

interface ServerHandle {
  url: string;
  token: string;
  pid: number | undefined;
  /** Stops the server; resolves with the request count it printed on the way out. */
  stop(): Promise<number | undefined>;
}

async function startServer(kind: 'actorsync' | 'pouchdb', preload: number): Promise<ServerHandle> {
  const child = spawn(process.execPath, childArgs('server.ts', [kind, '--preload', String(preload)]), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const info = await firstJsonLine<{ url: string; token: string }>(child, `server ${kind}`, 5 * 60_000);
    let rest = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      rest += chunk.toString('utf8');
    });
    return {
      ...info,
      pid: child.pid,
      stop: async () => {
        const done = exited(child);
        child.stdin?.end();
        child.kill('SIGTERM');
        await done;
        const last = rest.trim().split('\n').pop();
        if (!last) return undefined;
        return (JSON.parse(last) as { requests?: number }).requests;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

async function measure(variant: Variant, size: number, server: ServerHandle): Promise<CompetitorResult> {
  const args = ['--variant', variant, '--size', String(size), '--url', server.url];
  const child = spawn(process.execPath, childArgs('measure.ts', args), {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_TOKEN: server.token },
  });
  const what = `measure.ts ${args.join(' ')}`;
  const done = exited(child);
  try {
    const result = await firstJsonLine<CompetitorResult>(child, what, CHILD_TIMEOUT_MS);
    const code = await done;
    if (code !== 0) throw new Error(`${what} exited with code ${code}`);
    return result;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

/** How many records the server holds now (untimed; done by this process so the client's RSS stays its own). */
async function serverCount(variant: Variant, server: ServerHandle): Promise<number> {
  if (SERVER_OF[variant] === 'pouchdb') {
    const response = await fetch(`${server.url}/bench`, { headers: { 'x-bench-check': '1' } });
    const info = (await response.json()) as { doc_count: number };
    return info.doc_count;
  }
  const response = await fetch(`${server.url}/v1/items/telemetry`, {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const body = (await response.json()) as { items: { appliedCount: number }[] };
  const twice = body.items.filter((item) => item.appliedCount !== 1).length;
  if (twice > 0) throw new Error(`${variant}: ${twice} items were applied more than once`);
  return body.items.length;
}

async function machineTicks(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((sum, tick) => sum + tick, 0);
    return { busy: total - (ticks[3] ?? 0) - (ticks[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

async function machineBusy(ms = 1000): Promise<number | undefined> {
  const first = await machineTicks();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const second = await machineTicks();
  if (!first || !second || second.total === first.total) return undefined;
  return (second.busy - first.busy) / (second.total - first.total);
}

/** Waits up to a minute for the machine to be quiet (other benchmarks, builds); returns the last busy share. */
async function waitForQuiet(threshold: number): Promise<number | undefined> {
  const deadline = Date.now() + 60_000;
  let busy = await machineBusy();
  while (busy !== undefined && busy > threshold && Date.now() < deadline) busy = await machineBusy();
  if (busy !== undefined && busy > threshold) {
    log(`  (machine still ${(busy * 100).toFixed(0)}% busy after a minute: measuring anyway, expect noise)`);
  }
  return busy;
}

async function runOne(variant: Variant, size: number, run: number, options: Options): Promise<RunRecord> {
  const machineBusyBefore = await waitForQuiet(options.quietCpu);
  // A pull variant's server holds the N records before the client starts; a push variant's starts empty.
  const server = await startServer(SERVER_OF[variant], isPullVariant(variant) ? size : 0);
  let result: CompetitorResult;
  let serverCpuMs: number | undefined;
  let count: number;
  try {
    const cpuBefore = await processCpuMs(server.pid);
    result = await measure(variant, size, server);
    const cpuAfter = await processCpuMs(server.pid);
    if (cpuBefore !== undefined && cpuAfter !== undefined) serverCpuMs = cpuAfter - cpuBefore;
    count = await serverCount(variant, server);
  } catch (error) {
    await server.stop().catch(() => undefined);
    throw error;
  }
  const serverRequests = await server.stop();
  if (count !== size) throw new Error(`${variant}: the server holds ${count} of ${size} records`);
  return { ...result, run, serverCpuMs, machineBusyBefore, serverCount: count, serverRequests };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle] as number;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

const MB = 1024 * 1024;

function summarize(records: readonly RunRecord[], options: Options): Summary[] {
  const summaries: Summary[] = [];
  for (const size of options.sizes) {
    for (const variant of options.variants) {
      const runs = records.filter((record) => record.size === size && record.variant === variant);
      if (runs.length === 0) continue;
      const ms = runs.map((record) => record.ms);
      const serverCpu = runs.map((record) => record.serverCpuMs).filter((cpu) => cpu !== undefined);
      summaries.push({
        size,
        variant,
        runs: runs.length,
        medianMs: median(ms),
        minMs: Math.min(...ms),
        maxMs: Math.max(...ms),
        recordsPerSecond: (size / median(ms)) * 1000,
        ratioToBaseline: undefined,
        medianPeakRssMB: median(runs.map((record) => record.peakRssBytes)) / MB,
        medianCpuMs: median(runs.map((record) => record.cpuMs)),
        medianServerCpuMs: serverCpu.length > 0 ? median(serverCpu) : undefined,
      });
    }
  }
  for (const summary of summaries) {
    const baseline = summaries.find(
      (other) => other.size === summary.size && other.variant === baselineOf(summary.variant),
    );
    if (baseline) summary.ratioToBaseline = baseline.medianMs / summary.medianMs;
  }
  return summaries;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join(' | ')} |`;
  // The alignment row as Biome's Markdown formatter writes it, so a table pasted into a README stays as it is.
  const rule = line(
    widths.map((width, column) => (column < 2 ? `:${'-'.repeat(width - 1)}` : `${'-'.repeat(width - 1)}:`)),
  );
  return [line(header), rule, ...rows.map(line)].join('\n');
}

const fixed = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function ratioText(ratio: number | undefined): string {
  if (ratio === undefined) return 'n/a';
  if (ratio >= 0.995) return `${ratio.toFixed(2)}`;
  return `${ratio.toFixed(3)} (1/${(1 / ratio).toFixed(1)})`;
}

function summaryTable(summaries: readonly Summary[]): string {
  return table(
    ['size', 'variant', 'runs', 'median ms', 'records/s', '× baseline', 'spread', 'peak RSS MB'],
    summaries.map((summary) => [
      fixed(summary.size),
      summary.variant,
      String(summary.runs),
      fixed(summary.medianMs),
      fixed(summary.recordsPerSecond),
      ratioText(summary.ratioToBaseline),
      `${(((summary.maxMs - summary.minMs) / summary.medianMs) * 100).toFixed(0)}%`,
      fixed(summary.medianPeakRssMB),
    ]),
  );
}

function rawTable(records: readonly RunRecord[]): string {
  return table(
    [
      'size',
      'variant',
      'run',
      'ms',
      'records/s',
      'client CPU ms',
      'server CPU ms',
      'requests',
      'peak RSS MB',
      'setup ms',
      'setup RSS MB',
      'busy before',
    ],
    records.map((record) => [
      fixed(record.size),
      record.variant,
      String(record.run),
      fixed(record.ms),
      fixed((record.size / record.ms) * 1000),
      fixed(record.cpuMs),
      record.serverCpuMs === undefined ? 'n/a' : fixed(record.serverCpuMs),
      record.serverRequests === undefined ? 'n/a' : fixed(record.serverRequests),
      fixed(record.peakRssBytes / MB),
      fixed(record.setupMs),
      fixed(record.setupPeakRssBytes / MB),
      record.machineBusyBefore === undefined ? 'n/a' : `${(record.machineBusyBefore * 100).toFixed(0)}%`,
    ]),
  );
}

interface Report {
  startedAt: string;
  node: string;
  libraries: Record<string, string>;
  summaries: Summary[];
  runs: RunRecord[];
}

function printTables(report: Report): void {
  const libraries = [...new Set(Object.values(report.libraries))].join(', ');
  process.stdout.write(
    `\n${libraries}; node ${report.node}; push batches of 100, pull pages of 1,000; ${report.startedAt}\n\n`,
  );
  process.stdout.write(`${summaryTable(report.summaries)}\n\nPer run:\n\n${rawTable(report.runs)}\n`);
}

async function measureAll(options: Options): Promise<Report> {
  const startedAt = new Date();
  const records: RunRecord[] = [];
  for (const size of options.sizes) {
    const runsOf = (variant: Variant) => options.runsFor.get(`${variant}:${size}`) ?? options.runs;
    const maxRuns = Math.max(...options.variants.map(runsOf));
    for (let run = 1; run <= maxRuns; run += 1) {
      for (const variant of options.variants) {
        if (run > runsOf(variant)) continue;
        log(`size ${size}, run ${run}, ${variant}...`);
        const record = await runOne(variant, size, run, options);
        const rate = (size / record.ms) * 1000;
        log(
          `  ${fixed(record.ms)} ms, ${fixed(rate)} records/s, peak RSS ${fixed(record.peakRssBytes / MB)} MB`,
        );
        records.push(record);
      }
    }
  }
  return {
    startedAt: startedAt.toISOString(),
    node: process.version,
    libraries: Object.fromEntries(records.map((record) => [record.variant, record.library])),
    summaries: summarize(records, options),
    runs: records,
  };
}

const options = parseArgs(process.argv.slice(2));
if (options.render) {
  // Tables of an earlier `--json` report.
  printTables(JSON.parse(await readFile(options.render, 'utf8')) as Report);
} else {
  const report = await measureAll(options);
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printTables(report);
}
