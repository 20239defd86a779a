/**
 * How `maxBatchesInFlight` pays off: actorsync at 1, 2 (the default), 4 and 8 batches in flight against the
 * plain baselines, interleaved in one run (the order rotates every round), on loopback or behind the reference
 * server's latency option. `npx tsx bench/in-flight.ts [options]`:
 *
 *   --size 100000          records (default 100000)
 *   --runs 3               rounds; every variant runs once per round, the median is reported (default 3)
 *   --latency-ms 20-60     the server's latency per sync request, fixed or a range (default: none, loopback)
 *   --before DIR           also measure `actorsync` (defaults) from the checkout at DIR (its own bench/run-one.ts,
 *                          node_modules in place), as `actorsync@before`: the previous code in the same run
 *
 * Every measurement gets a fresh store copy, a fresh server process and a fresh measuring process, as in
 * bench/throughput.ts; docs/performance.md records the figures.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  firstJsonLine,
  type MeasureResult,
  option,
  type PrepareResult,
  REPO_ROOT,
  runChild,
  type ServerInfo,
  tsxArgs,
  type Variant,
  waitForQuietCpu,
} from './shared.js';

type Measured = Variant | 'actorsync@before';

const args = process.argv.slice(2);
const size = Number(option(args, 'size', '100000'));
const runs = Number(option(args, 'runs', '3'));
const latency = args.includes('--latency-ms') ? option(args, 'latency-ms') : undefined;
const before = args.includes('--before') ? resolve(option(args, 'before')) : undefined;
if (!Number.isInteger(size) || size < 1) throw new Error('--size: a positive whole number');
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: a positive whole number');

const VARIANTS: Measured[] = [
  'baseline-serial',
  'baseline-pipelined',
  'actorsync-1-in-flight',
  'actorsync',
  'actorsync-4-in-flight',
  'actorsync-8-in-flight',
  ...(before ? (['actorsync@before'] as const) : []),
];
const log = (line: string) => process.stderr.write(`${line}\n`);

async function startServer(): Promise<{ info: ServerInfo; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, tsxArgs('server-process.ts'), {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...(latency ? { BENCH_LATENCY_MS: latency } : {}) },
  });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
    });
  return { info: await firstJsonLine<ServerInfo>(child, 'server-process.ts'), stop };
}

/** `run-one.ts measure` of this checkout, or of `--before`'s for `actorsync@before`. */
async function measureIn(variant: Measured, file: string, server: ServerInfo): Promise<MeasureResult> {
  const measureArgs = ['--file', file, '--size', String(size), '--url', server.url];
  const env = { BENCH_TOKEN: server.token };
  if (variant !== 'actorsync@before') {
    return runChild<MeasureResult>('run-one.ts', ['measure', '--variant', variant, ...measureArgs], { env });
  }
  const root = before as string;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench', 'run-one.ts'),
      'measure',
      '--variant',
      'actorsync',
      ...measureArgs,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
  );
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const result = await firstJsonLine<MeasureResult>(child, `${root} run-one.ts measure`);
  if ((await exited) !== 0) throw new Error(`${root} run-one.ts measure failed`);
  return result;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

const dir = await mkdtemp(join(tmpdir(), 'actorsync-in-flight-'));
const times = new Map<Measured, number[]>(VARIANTS.map((variant) => [variant, []]));
try {
  log(
    `in-flight bench: ${size} records, ${runs} round(s), latency ${latency ?? 'none (loopback)'}, in ${dir}`,
  );
  const template = join(dir, 'template.json');
  await runChild<PrepareResult>('run-one.ts', ['prepare', '--file', template, '--size', String(size)]);
  for (let run = 0; run < runs; run += 1) {
    const shift = run % VARIANTS.length;
    for (const variant of [...VARIANTS.slice(shift), ...VARIANTS.slice(0, shift)]) {
      const file = join(dir, `run-${run}-${variant.replace('@', '-')}.json`);
      await copyFile(template, file);
      await copyFile(`${template}.journal`, `${file}.journal`);
      const server = await startServer();
      try {
        // Short: the machine is shared, so a quiet CPU is hoped for, not waited for; the rounds interleave.
        await waitForQuietCpu(0.15, 5_000, 1);
        const result = await measureIn(variant, file, server.info);
        times.get(variant)?.push(result.ms);
        log(`  round ${run + 1} ${variant.padEnd(22)} ${Math.round(result.ms)} ms`);
      } finally {
        await server.stop();
        for (const suffix of ['', '.journal', '.lock']) await rm(`${file}${suffix}`, { force: true });
      }
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}

const baseline = median(times.get('baseline-serial') ?? []);
const rows = VARIANTS.map((variant) => {
  const own = times.get(variant) ?? [];
  const ms = median(own);
  const share = variant === 'baseline-serial' ? '—' : `${((baseline / ms) * 100).toFixed(1)}%`;
  const range = `${Math.round(Math.min(...own)).toLocaleString('en')}–${Math.round(Math.max(...own)).toLocaleString('en')}`;
  return `| ${variant} | ${Math.round(ms).toLocaleString('en')} (${range}) | ${Math.round(size / (ms / 1000)).toLocaleString('en')} | ${share} |`;
});
console.log(
  [
    `${size.toLocaleString('en')} records, latency ${latency ?? 'none (loopback)'}, ${runs} interleaved round(s)`,
    '',
    '| variant | median ms (min–max) | records/s | throughput ÷ baseline-serial |',
    '| --- | ---: | ---: | ---: |',
    ...rows,
  ].join('\n'),
);
