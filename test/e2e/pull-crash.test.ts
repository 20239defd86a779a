/**
 * Issue 13: a pulled page and its checkpoint are one store write. A child process applies pages of a known feed to
 * a lowdb store and is SIGKILLed at random points (mid-append, mid-compaction, between pages); after every kill the
 * store must open, and hold exactly the records of the pages up to its checkpoint: never a checkpoint ahead of the
 * data, nor data ahead of the checkpoint. The next child resumes from that checkpoint.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import type { RepositoryEntity } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { expectedAfter, PULL_FEED_PAGES } from '../fixtures/pull-feed.js';
import { recordFigures } from '../reliability/report.js';

const KILL_ROUNDS = Math.max(8, 6 * Number(process.env.RELIABILITY_SCALE ?? 1));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/pull-child.ts', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Line {
  type: string;
  page?: number;
  from?: number;
}

/** A running pull-child: its lines as they arrive, and a way to wait for one. */
function startChild(file: string, env: Record<string, string> = { ACTORSYNC_COMPACT_EVERY: '7' }) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CHILD, file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: Line[] = [];
  const waiters: { matches: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  let stderr = '';
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop() ?? '';
    for (const text of complete) {
      const line = JSON.parse(text) as Line;
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.matches(line))) waiter.resolve(line);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(kill);
  const waitFor = (matches: (line: Line) => boolean, what: string) =>
    new Promise<Line>((resolve, reject) => {
      const found = lines.find(matches);
      if (found) return resolve(found);
      waiters.push({ matches, resolve });
      exited.then((code) => reject(new Error(`child exited (${code}) before ${what}: ${stderr}`)));
    });
  return { lines, waitFor, kill, exited };
}

/** The store's state: its checkpoint's page, and every record (tombstones included). */
async function inspect(file: string) {
  const store = await LowdbLocalStore.open(file);
  try {
    const local = store.collection<RepositoryEntity & { text?: string }>('note');
    const checkpoint = await local.checkpoint?.();
    const records = await local.getAll({ includeDeleted: true });
    return {
      page: checkpoint === undefined ? 0 : Number(checkpoint.slice(2)),
      records: new Map(
        records.map((r) => [r.id, [r.version, r.text ?? '', r.syncPending, r.deleted === true]]),
      ),
    };
  } finally {
    await store.close();
  }
}

const asStored = (expected: Map<string, [number, string, boolean]>) =>
  new Map([...expected].map(([id, [version, text, deleted]]) => [id, [version, text, false, deleted]]));

describe('pulled pages under SIGKILL', () => {
  it(`keep the checkpoint with its data through ${KILL_ROUNDS} kills at random points`, {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-pull-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'store.json');
    const seed = Number(process.env.ACTORSYNC_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const context = (what: string) => `${what} (ACTORSYNC_SEED=${seed})`;
    let killedMidPull = 0;
    let resumed = 0;
    let previous = 0;
    for (let round = 1; round <= KILL_ROUNDS; round += 1) {
      const child = startChild(file);
      const ready = await child.waitFor((line) => line.type === 'ready', 'the store was open');
      expect(ready.from, context('the child resumed from the stored checkpoint')).toBe(previous);
      if (previous > 0) resumed += 1;
      // Until a few pages are durable, then a random moment more: the kill lands in an append, a compaction or between.
      const target = Math.min(PULL_FEED_PAGES, previous + 1 + Math.floor(random() * 25));
      await child.waitFor((line) => line.type === 'done' || (line.page ?? 0) >= target, 'pages were applied');
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 8)));
      if (!child.lines.some((line) => line.type === 'done')) killedMidPull += 1;
      await child.kill();
      // A child that found the feed already applied reports no page: what was durable before still is.
      const reported = Math.max(previous, ...child.lines.map((line) => line.page ?? 0));
      const state = await inspect(file);
      // Every page reported durable is there; at most one more (applied, killed before it was reported).
      expect(state.page, context('checkpoint vs pages reported')).toBeGreaterThanOrEqual(reported);
      expect(state.page, context('checkpoint vs pages reported')).toBeLessThanOrEqual(reported + 1);
      expect(state.records, context(`records at checkpoint page ${state.page}`)).toEqual(
        asStored(expectedAfter(state.page)),
      );
      previous = state.page;
    }
    const last = startChild(file);
    await last.waitFor((line) => line.type === 'done', 'the last child finished');
    expect(await last.exited).toBe(0);
    const final = await inspect(file);
    expect(final.page).toBe(PULL_FEED_PAGES);
    expect(final.records).toEqual(asStored(expectedAfter(PULL_FEED_PAGES)));
    expect(killedMidPull, context('kills that landed while pages were applied')).toBeGreaterThan(0);
    recordFigures('pull-crash', {
      seed,
      kills: KILL_ROUNDS,
      killsMidPull: killedMidPull,
      resumed,
      pages: PULL_FEED_PAGES,
    });
  });

  it(`keep the checkpoint with its data through ${KILL_ROUNDS} kills while compactions run beside the pages`, {
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-pull-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'store.json');
    const next = `${file}.journal.next`;
    const seed = Number(process.env.ACTORSYNC_SEED ?? Date.now() % 100_000);
    const random = seededRandom(seed);
    const context = (what: string) => `${what} (ACTORSYNC_SEED=${seed})`;
    // No compact() calls: every compaction is one the journal's size started, in the background.
    const env = { ACTORSYNC_COMPACT_AFTER_BYTES: '2048' };
    let killedMidCompaction = 0;
    let kills = 0;
    let previous = 0;
    for (let round = 1; round <= KILL_ROUNDS; round += 1) {
      const child = startChild(file, env);
      const ready = await child.waitFor((line) => line.type === 'ready', 'the store was open');
      expect(ready.from, context('the child resumed from the stored checkpoint')).toBe(previous);
      // Once a compaction has rotated the journal, a random moment more: the kill lands mid-snapshot, at the
      // renames, or just after.
      while (!existsSync(next) && child.lines.every((line) => line.type !== 'done')) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 4)));
      await child.kill();
      kills += 1;
      if (existsSync(next)) killedMidCompaction += 1;
      const reported = Math.max(previous, ...child.lines.map((line) => line.page ?? 0));
      const state = await inspect(file);
      expect(existsSync(next), context('the open finished or dropped the next journal')).toBe(false);
      expect(state.page, context('checkpoint vs pages reported')).toBeGreaterThanOrEqual(reported);
      expect(state.page, context('checkpoint vs pages reported')).toBeLessThanOrEqual(reported + 1);
      expect(state.records, context(`records at checkpoint page ${state.page}`)).toEqual(
        asStored(expectedAfter(state.page)),
      );
      previous = state.page;
      if (previous === PULL_FEED_PAGES) break;
    }
    const last = startChild(file, env);
    await last.waitFor((line) => line.type === 'done', 'the last child finished');
    expect(await last.exited).toBe(0);
    const final = await inspect(file);
    expect(final.page).toBe(PULL_FEED_PAGES);
    expect(final.records).toEqual(asStored(expectedAfter(PULL_FEED_PAGES)));
    expect(killedMidCompaction, context('kills that landed while a compaction ran')).toBeGreaterThan(0);
    recordFigures('pull-crash-background-compaction', { seed, kills, killedMidCompaction });
  });
});
