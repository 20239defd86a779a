/**
 * The change feed's cost per page as the server holds more records: `npx tsx bench/feed.ts [--sizes 10000,1000000]`.
 *
 * No HTTP: a `SyncServerState` holding N records (applied in batches, as pushes store them) is read the way pulling
 * clients read it, one page of 100 after the other through `changes()`. Two readings per size:
 * - catch-up: the whole feed from the beginning; mean µs per page over the first, middle and last tenth;
 * - live: 200 rounds of "another client writes 100 records, this one pulls the page after its checkpoint".
 * Beside them, in the same process: a plain baseline (slicing the same records from an array and copying them, the
 * least work any page needs) and a full scan (finding the page by filtering and sorting every record by sequence
 * number, what a feed without an index costs; 20 pages). Flat figures from 10,000 to 1,000,000 are the target.
 */
import { SyncServerState } from '../src/server/server-state.js';
import { BATCH_SIZE, makeRecords, option, type TelemetryRecord } from './shared.js';

const sizes = option(process.argv.slice(2), 'sizes', '10000,1000000')
  .split(',')
  .map((size) => Number(size));
if (sizes.some((size) => !Number.isInteger(size) || size < BATCH_SIZE * 10)) {
  throw new Error(`--sizes: whole numbers of at least ${BATCH_SIZE * 10}`);
}

const TYPE = 'telemetry';
const LIVE_ROUNDS = 200;
const SCAN_PAGES = 20;

const mean = (times: readonly number[]): number =>
  (times.reduce((sum, time) => sum + time, 0) / times.length) * 1000;

function tenths(times: readonly number[]): [number, number, number] {
  const tenth = Math.max(1, Math.floor(times.length / 10));
  const middle = Math.floor((times.length - tenth) / 2);
  return [mean(times.slice(0, tenth)), mean(times.slice(middle, middle + tenth)), mean(times.slice(-tenth))];
}

function load(size: number): { state: SyncServerState; records: TelemetryRecord[] } {
  const state = new SyncServerState();
  const records: TelemetryRecord[] = [];
  for (let from = 0; from < size; from += 10_000) {
    const batch = makeRecords(from, Math.min(10_000, size - from));
    state.apply(TYPE, `load-${from}`, batch);
    records.push(...batch);
  }
  return { state, records };
}

function page(state: SyncServerState, since: string | undefined) {
  const read = state.changes(TYPE, since, BATCH_SIZE);
  if (read.status !== 'page') throw new Error(`The feed answered ${read.status}`);
  return read.page;
}

/** The whole feed from the beginning, page by page: µs per page. */
function catchUp(state: SyncServerState, size: number): { times: number[]; checkpoint: string } {
  const times: number[] = [];
  let since: string | undefined;
  let served = 0;
  for (;;) {
    const started = performance.now();
    const { changes, checkpoint, hasMore } = page(state, since);
    times.push(performance.now() - started);
    served += changes.length;
    since = checkpoint;
    if (!hasMore) break;
  }
  if (served !== size) throw new Error(`Served ${served} of ${size} records`);
  return { times, checkpoint: since as string };
}

/** Rounds of 100 writes by another client, then the page after the reader's checkpoint: µs per page. */
function live(state: SyncServerState, records: readonly TelemetryRecord[], checkpoint: string): number[] {
  const times: number[] = [];
  let since = checkpoint;
  for (let round = 0; round < LIVE_ROUNDS; round += 1) {
    const edits = Array.from({ length: BATCH_SIZE }, (_, i) => {
      const record = records[(round * 7919 + i * 104_729) % records.length] as TelemetryRecord;
      return { ...record, version: record.version + round + 1 };
    });
    state.apply(TYPE, `live-${round}`, edits);
    const started = performance.now();
    const { changes, checkpoint } = page(state, since);
    times.push(performance.now() - started);
    if (changes.length !== BATCH_SIZE) throw new Error(`A live page held ${changes.length} changes`);
    since = checkpoint;
  }
  return times;
}

function baseline(records: readonly TelemetryRecord[]): number[] {
  const times: number[] = [];
  for (let from = 0; from < records.length; from += BATCH_SIZE) {
    const started = performance.now();
    records.slice(from, from + BATCH_SIZE).map((record) => structuredClone(record));
    times.push(performance.now() - started);
  }
  return times;
}

/** A feed without an index: every record tagged with its sequence number, filtered and sorted for each page. */
function fullScan(records: readonly TelemetryRecord[]): number[] {
  const tagged = records.map((record, seq) => ({ seq, record }));
  const times: number[] = [];
  for (let i = 0; i < SCAN_PAGES; i += 1) {
    const after = Math.floor((records.length * i) / SCAN_PAGES);
    const started = performance.now();
    tagged
      .filter(({ seq }) => seq > after)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, BATCH_SIZE)
      .map(({ record }) => structuredClone(record));
    times.push(performance.now() - started);
  }
  return times;
}

// A short warm-up so the first tenth measures paging, not the JIT.
{
  const warm = load(BATCH_SIZE * 20);
  live(warm.state, warm.records, catchUp(warm.state, BATCH_SIZE * 20).checkpoint);
}

const rows = sizes.map((size) => {
  const loadStarted = performance.now();
  const { state, records } = load(size);
  const loadMs = performance.now() - loadStarted;
  const caughtUp = catchUp(state, size);
  const [first, middle, last] = tenths(caughtUp.times);
  return {
    size,
    loadMs,
    first,
    middle,
    last,
    all: mean(caughtUp.times),
    live: mean(live(state, records, caughtUp.checkpoint)),
    baseline: mean(baseline(records)),
    scan: mean(fullScan(records)),
  };
});

const format = (us: number) => us.toFixed(1).padStart(9);
console.log(
  '| records | catch-up µs/page first 10% | middle 10% | last 10% | whole feed | live µs/page | plain array slice + copy | full scan |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  console.log(
    `| ${row.size.toLocaleString('en-US')} | ${format(row.first)} | ${format(row.middle)} | ${format(row.last)} | ` +
      `${format(row.all)} | ${format(row.live)} | ${format(row.baseline)} | ${format(row.scan)} |`,
  );
}
console.log(
  `(loading: ${rows.map((row) => `${row.size.toLocaleString('en-US')} in ${(row.loadMs / 1000).toFixed(1)} s`).join(', ')})`,
);
