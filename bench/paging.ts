/**
 * The store's paging cost as a backlog drains: `npx tsx bench/paging.ts [--sizes 10000,100000,1000000]`.
 *
 * No disk, no network, no machines: an `OutboxIndex` (the in-memory state both stores keep) holding N pending
 * records is drained the way a sync run drains it, one page of 100 after the other, each page's acks applied after
 * the next page is read (the batch machine commits batch N while batch N+1 is in flight). Prints the mean µs per
 * `pending()` page over the first, middle and last tenth of the run, beside a plain baseline in the same process:
 * slicing the same records, held in an array, 100 at a time. Flat figures from 10,000 to 1,000,000 are the target.
 */
import { OutboxIndex } from '../src/store/outbox-index.js';
import { BATCH_SIZE, makeRecords, option, type TelemetryRecord } from './shared.js';

const sizes = option(process.argv.slice(2), 'sizes', '10000,100000,1000000')
  .split(',')
  .map((size) => Number(size));
if (sizes.some((size) => !Number.isInteger(size) || size < BATCH_SIZE * 10)) {
  throw new Error(`--sizes: whole numbers of at least ${BATCH_SIZE * 10}`);
}

const mean = (times: readonly number[]): number =>
  (times.reduce((sum, time) => sum + time, 0) / times.length) * 1000;

/** Means over the first, middle and last tenth of the per-page times, and over all of them. */
function tenths(times: readonly number[]): [number, number, number, number] {
  const tenth = Math.max(1, Math.floor(times.length / 10));
  const middle = Math.floor((times.length - tenth) / 2);
  return [
    mean(times.slice(0, tenth)),
    mean(times.slice(middle, middle + tenth)),
    mean(times.slice(-tenth)),
    mean(times),
  ];
}

function drainIndex(size: number): number[] {
  const index = new OutboxIndex<TelemetryRecord>();
  for (let from = 0; from < size; from += 10_000) {
    index.put(index.adopt(makeRecords(from, Math.min(10_000, size - from))));
  }
  const upTo = index.outbox(Date.now()).highWater;
  const times: number[] = [];
  let after: number | undefined;
  let previous: readonly TelemetryRecord[] = [];
  for (;;) {
    const started = performance.now();
    const page = index.pending({
      limit: BATCH_SIZE,
      ...(after === undefined ? {} : { after }),
      upTo,
      now: Date.now(),
    });
    times.push(performance.now() - started);
    const synced = previous.map((record) => ({ id: record.id, version: record.version }));
    index.applyDelta({ synced, stale: [], replaced: [], failures: [] });
    previous = page.items;
    if (page.next === undefined) return times;
    after = page.next;
  }
}

function drainArray(size: number): number[] {
  const records = makeRecords(0, size);
  const times: number[] = [];
  for (let from = 0; from < size; from += BATCH_SIZE) {
    const started = performance.now();
    records.slice(from, from + BATCH_SIZE);
    times.push(performance.now() - started);
  }
  return times;
}

const rows = sizes.map((size) => {
  // A short warm-up so the first tenth measures paging, not the JIT.
  drainIndex(BATCH_SIZE * 10);
  const [first, middle, last, all] = tenths(drainIndex(size));
  const [, , , baseline] = tenths(drainArray(size));
  return { size, first, middle, last, all, baseline };
});

const format = (us: number) => us.toFixed(1).padStart(9);
console.log('| records | µs/page first 10% | middle 10% | last 10% | whole run | plain array slice |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  console.log(
    `| ${row.size.toLocaleString('en-US')} | ${format(row.first)} | ${format(row.middle)} | ${format(row.last)} | ` +
      `${format(row.all)} | ${format(row.baseline)} |`,
  );
}
