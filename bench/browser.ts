/**
 * actorsync in Chromium against a plain baseline in the same page: `npm run bench:browser -- [options]`.
 *
 *   --runs 3          timed runs per operation and variant; the median is reported (default 3)
 *   --save 10000      records saved (default 10,000)
 *   --push 10000      records pushed (default 10,000)
 *   --pull 100000     records pulled (default 100,000)
 *   --durability strict  both variants' IndexedDB transactions: strict (default, a flush per commit) or relaxed
 *   --json            print the results as JSON instead of a table
 *   --cpu-prof DIR    a CPU profile of the page for each run (Chrome DevTools Protocol), DIR/<operation>-<variant>-<run>.cpuprofile
 *
 * Every run gets a Chromium of its own on a fresh profile in a temporary directory (IndexedDB on disk, as in a user's
 * browser), removed after it: runs in one profile slow each other down, even with each database deleted after its
 * run (docs/performance.md, "In Chromium"). Each run starts once the machine is quiet (below 15% busy for 2 s, waiting
 * up to a minute) and reports the share of the CPU other processes took while it ran ("others' CPU"; the load
 * average counts the bench's own processes too).
 *
 * Operations, each into a fresh IndexedDB database, batches of 100 records (pages of 1,000 changes for the pull):
 * - save: actorsync `Repository.saveMany` on an `IndexedDbLocalStore`, one call per batch; baseline: the same
 *   records, stamped as a save stamps them, `put` with `idb` in one transaction per batch.
 * - push: the records saved first (not timed), then actorsync `SyncCoordinator.sync` (push only, default two batches
 *   in flight) through `HttpRemoteDataSource`; baseline: the same batches POSTed with `fetch`, two in flight, each
 *   batch's acknowledged records written back as synced with `idb`, one transaction per batch.
 * - pull: actorsync `SyncCoordinator.sync` (pull only); baseline: the same pages fetched with `fetch` and written
 *   with `idb`, one transaction per page holding its records and the checkpoint.
 * Both write the same object stores and index with strict durability (the store's default). The reference server
 * runs in this process on 127.0.0.1 with CORS for the page's origin, holding the records to pull (preloaded).
 * The variants' order alternates from run to run. See docs/performance.md, "In Chromium".
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createSyncServer } from '../src/server.js';
import { startPageHarness } from '../test/helpers/browser-page.js';
import { launchChromiumProfile } from '../test/helpers/chromium.js';
import type { BrowserVariant, Operation, RunRequest, RunResult } from './browser-page.js';
import { ENTITY_TYPE, machineCpu, makeRecords, option, waitForQuietCpu } from './shared.js';

/** Issue 15: at least 80% of the baseline's throughput. */
const TARGET_RATIO = 0.8;
const BATCH_SIZE = 100;
const PULL_PAGE_SIZE = 1_000;

const args = process.argv.slice(2);
const runs = Number(option(args, 'runs', '3'));
const counts: Record<Operation, number> = {
  save: Number(option(args, 'save', '10000')),
  push: Number(option(args, 'push', '10000')),
  pull: Number(option(args, 'pull', '100000')),
};
const durability = option(args, 'durability', 'strict');
if (durability !== 'strict' && durability !== 'relaxed') throw new Error('--durability is strict or relaxed');
const cpuProfileDir = args.includes('--cpu-prof') ? option(args, 'cpu-prof') : undefined;
if (cpuProfileDir !== undefined) await mkdir(cpuProfileDir, { recursive: true });
const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * CPU ms so far of this process and every process under it: the bench, its server and its Chromium (browser,
 * renderer, utility processes). The machine's busy time beyond this is other processes' (the load average counts
 * the bench's own). Zero where there is no /proc.
 */
async function ownTreeCpuMs(): Promise<number> {
  const byPid = new Map<number, { parent: number; ms: number }>();
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = await readFile(`/proc/${entry}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      byPid.set(Number(entry), {
        parent: Number(fields[1]),
        ms: (Number(fields[11]) + Number(fields[12])) * 10,
      });
    } catch {
      // Exited meanwhile.
    }
  }
  const mine = new Set([process.pid]);
  let total = 0;
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, { parent }] of byPid) {
      if (!mine.has(pid) && mine.has(parent)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  for (const pid of mine) total += byPid.get(pid)?.ms ?? 0;
  return total;
}

const percent = (share: number) => `${Math.round(share * 100)}%`;

/** A run as the page reported it, plus the share of the machine's CPU other processes used meanwhile (0-1). */
type MeasuredRun = RunResult & { othersCpu: number | undefined };

const harness = await startPageHarness({ entry: 'bench/browser-page.ts' });
const server = await createSyncServer({ cors: { origins: [harness.origin] } });
try {
  for (let from = 0; from < counts.pull; from += 10_000) {
    server.state?.apply(
      ENTITY_TYPE,
      `preload-${from}`,
      makeRecords(from, Math.min(10_000, counts.pull - from)),
    );
  }
  /** One run in a browser of its own on a fresh profile: nothing an earlier run left slows it. */
  const runInFreshProfile = async (request: RunRequest, run: number): Promise<MeasuredRun> => {
    const profile = await mkdtemp(join(tmpdir(), 'actorsync-bench-profile-'));
    try {
      const context = await launchChromiumProfile(profile);
      try {
        const page = await harness.openIn(context);
        await page.waitForFunction(() => window.bench !== undefined);
        const cdp = cpuProfileDir === undefined ? undefined : await context.newCDPSession(page);
        await cdp?.send('Profiler.enable');
        await cdp?.send('Profiler.start');
        const machineBefore = await machineCpu();
        const ownBefore = await ownTreeCpuMs();
        const result = await page.evaluate((r) => window.bench?.run(r), request);
        // Read before the browser closes: its processes' time leaves the tree with them.
        const ownMs = (await ownTreeCpuMs()) - ownBefore;
        const machineAfter = await machineCpu();
        if (cdp) {
          const { profile } = await cdp.send('Profiler.stop');
          const file = join(
            cpuProfileDir ?? '',
            `${request.operation}-${request.variant}-${run + 1}.cpuprofile`,
          );
          await writeFile(file, JSON.stringify(profile));
        }
        if (!result) throw new Error('the page has no bench');
        const othersCpu =
          machineBefore && machineAfter && machineAfter.totalMs > machineBefore.totalMs
            ? Math.max(0, machineAfter.busyMs - machineBefore.busyMs - ownMs) /
              (machineAfter.totalMs - machineBefore.totalMs)
            : undefined;
        return { ...result, othersCpu };
      } finally {
        await context.close();
      }
    } finally {
      await rm(profile, { recursive: true, force: true });
    }
  };
  const results: { operation: Operation; variant: BrowserVariant; runs: MeasuredRun[] }[] = [];
  let pushes = 0;
  for (const operation of ['save', 'push', 'pull'] as const) {
    const byVariant = new Map<BrowserVariant, MeasuredRun[]>([
      ['actorsync', []],
      ['baseline', []],
    ]);
    for (let run = 0; run < runs; run++) {
      const order: BrowserVariant[] = run % 2 === 0 ? ['baseline', 'actorsync'] : ['actorsync', 'baseline'];
      for (const variant of order) {
        const request: RunRequest = {
          operation,
          variant,
          count: counts[operation],
          batchSize: operation === 'pull' ? PULL_PAGE_SIZE : BATCH_SIZE,
          entityType: operation === 'pull' ? ENTITY_TYPE : `bench-${operation}-${++pushes}`,
          url: server.url,
          token: server.token,
          durability,
        };
        // As the Node bench does: a run starts on a quiet machine (below 15% busy for 2 s, waiting up to a minute).
        await waitForQuietCpu(0.15, 60_000);
        const result = await runInFreshProfile(request, run);
        if (result.records !== counts[operation]) {
          throw new Error(
            `${operation}/${variant} stored ${result.records} records, not ${counts[operation]}`,
          );
        }
        const others = result.othersCpu === undefined ? '' : `, others' CPU ${percent(result.othersCpu)}`;
        log(`${operation} ${variant} run ${run + 1}: ${result.ms.toFixed(0)} ms${others}`);
        byVariant.get(variant)?.push(result);
      }
    }
    for (const [variant, list] of byVariant) results.push({ operation, variant, runs: list });
  }
  if (harness.pageErrors.length > 0) throw new Error(`the page reported: ${harness.pageErrors.join('\n')}`);

  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  const table = results.map(({ operation, variant, runs: list }) => {
    const ms = median(list.map((r) => r.ms));
    const baseline = median(
      results.find((r) => r.operation === operation && r.variant === 'baseline')?.runs.map((r) => r.ms) ?? [],
    );
    return {
      operation,
      variant,
      records: counts[operation],
      medianMs: Math.round(ms),
      recordsPerSecond: Math.round(counts[operation] / (ms / 1000)),
      ratio: Number((baseline / ms).toFixed(2)),
      allMs: list.map((r) => Math.round(r.ms)),
      /** The most CPU other processes took during one of these runs: above ~10%, the figure is disturbed. */
      othersCpuMax: Math.max(0, ...list.map((r) => r.othersCpu ?? 0)),
    };
  });
  const conditions = {
    chromium: harness.browser.version(),
    profile: `a fresh one per run in ${tmpdir()}`,
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
    runs,
  };
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ conditions, table }, null, 2)}\n`);
  } else {
    console.log(
      `Chromium ${conditions.chromium}, ${conditions.cpu}, load ${conditions.loadAverage.join(' ')}; ${durability} durability; ${conditions.profile}; median of ${runs}`,
    );
    console.log(
      "| operation | variant | records | time (ms) | records/s | ÷ baseline | runs (ms) | others' CPU (max) |",
    );
    console.log('|---|---|---:|---:|---:|---:|---|---:|');
    for (const row of table) {
      const mark = row.variant === 'actorsync' && row.ratio < TARGET_RATIO ? ' (below 0.8)' : '';
      console.log(
        `| ${row.operation} | ${row.variant} | ${row.records.toLocaleString('en')} | ${row.medianMs.toLocaleString('en')} | ${row.recordsPerSecond.toLocaleString('en')} | ${row.ratio}${mark} | ${row.allMs.join(', ')} | ${percent(row.othersCpuMax)} |`,
      );
    }
  }
} finally {
  await server.close();
  await harness.close();
}
