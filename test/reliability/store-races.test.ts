/**
 * Processes racing to open one store (issue 10, point 1). Six processes leave the start line within a fraction of
 * a millisecond, each opens the same store (retrying while it is locked), saves one record, holds the store a
 * moment and closes it. Whatever the interleaving: no two may hold the store at once, every acknowledged save must
 * be there afterwards, and the store must always open again. Rounds start on a brand-new store, on a store in use
 * before, and on stores whose lock was left by a dead process or is an old empty file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import type { RaceLine } from '../fixtures/store-racer.js';
import { recordFigures } from './report.js';

const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
const RACERS = 6;
/** Each entry is one round; the list repeats SCALE times under `npm run reliability`. */
const ROUND_KINDS = [
  'new store',
  'reused store',
  'dead-pid lock',
  'reused store',
  'old empty lock',
  'new store',
];
const ROUNDS = ROUND_KINDS.length * SCALE;
const HOLD_MS = 10;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RACER = fileURLToPath(new URL('../fixtures/store-racer.ts', import.meta.url));

let dir: string;
let log: string;
const racers: ChildProcess[] = [];
const doneWaiters = new Map<number, () => void>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-races-'));
  log = join(dir, 'race.log');
  const ready: Promise<void>[] = [];
  for (let racer = 0; racer < RACERS; racer += 1) {
    const child = spawn(process.execPath, ['--import', 'tsx', RACER, log, String(racer)], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    racers.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`racer ${racer} exited with ${code}`)));
        child.on('message', (message: { ready?: boolean; done?: boolean; round?: number }) => {
          if (message.ready) resolve();
          if (message.done) doneWaiters.get(racer)?.();
        });
      }),
    );
  }
  await Promise.all(ready);
}, 60_000);

afterAll(async () => {
  for (const child of racers) {
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

/** A pid no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

/** Runs one round: every racer starts at the same moment; resolves with their log lines once all are done. */
async function runRound(round: number, file: string): Promise<RaceLine[]> {
  const done = racers.map((_, racer) => new Promise<void>((resolve) => doneWaiters.set(racer, resolve)));
  const startAt = performance.timeOrigin + performance.now() + 50;
  for (const child of racers) {
    child.send({ round, file, startAt, holdMs: HOLD_MS, deadlineAt: startAt + 15_000 });
  }
  await Promise.all(done);
  const lines = (await readFile(log, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RaceLine);
  return lines.filter((line) => line.round === round);
}

/** Pairs of holding intervals that overlap. */
function overlaps(lines: RaceLine[]): string[] {
  const held = lines
    .filter((line) => line.t1 !== undefined && line.t2 !== undefined)
    .map((line) => ({ racer: line.racer, t1: BigInt(line.t1 as string), t2: BigInt(line.t2 as string) }))
    .sort((a, b) => (a.t1 < b.t1 ? -1 : a.t1 > b.t1 ? 1 : 0));
  const found: string[] = [];
  for (let i = 0; i < held.length; i += 1) {
    for (let j = i + 1; j < held.length; j += 1) {
      const [a, b] = [held[i], held[j]] as [(typeof held)[0], (typeof held)[0]];
      if (b.t1 < a.t2) found.push(`racers ${a.racer} and ${b.racer}`);
    }
  }
  return found;
}

describe('processes racing for one store', () => {
  it(`${RACERS} processes × ${ROUNDS} rounds: one holder at a time, no acknowledged write lost, always reopens`, async () => {
    const acked = new Map<string, string[]>();
    const figures = { overlaps: 0, lost: 0, unopenable: 0, failedOpens: 0 };
    const problems: string[] = [];
    let reused = '';
    for (let round = 0; round < ROUNDS; round += 1) {
      const kind = ROUND_KINDS[round % ROUND_KINDS.length] as string;
      // Stale locks are left on the store in use, which holds every earlier round's saves.
      const file = kind === 'new store' ? join(dir, `round-${round}.json`) : reused;
      if (kind === 'dead-pid lock') await writeFile(`${file}.lock`, `${await deadPid()}\n`);
      if (kind === 'old empty lock') {
        await writeFile(`${file}.lock`, '');
        const minuteAgo = new Date(Date.now() - 60_000);
        await utimes(`${file}.lock`, minuteAgo, minuteAgo);
      }
      if (kind === 'new store') reused = file;

      const lines = await runRound(round, file);
      expect(lines).toHaveLength(RACERS);
      for (const pair of overlaps(lines))
        problems.push(`round ${round} (${kind}): ${pair} held the store at once`);
      figures.overlaps += overlaps(lines).length;
      for (const line of lines.filter((l) => l.error !== undefined)) {
        problems.push(`round ${round} (${kind}): racer ${line.racer}: ${line.error}`);
        figures.failedOpens += 1;
      }
      const ids = acked.get(file) ?? [];
      ids.push(...lines.flatMap((line) => (line.id ? [line.id] : [])));
      acked.set(file, ids);

      // The store opens again and holds every save that was acknowledged in it, this round and before.
      const store = await LowdbLocalStore.open(file).catch((error: unknown) => error as Error);
      if (store instanceof Error) {
        problems.push(`round ${round} (${kind}): the store no longer opens: ${store.message}`);
        figures.unopenable += 1;
        continue;
      }
      const present = new Set((await store.collection('race').getAll()).map((record) => record.id));
      await store.close();
      const lost = ids.filter((id) => !present.has(id));
      figures.lost += lost.length;
      if (lost.length) problems.push(`round ${round} (${kind}): lost ${lost.join(', ')}`);
    }
    expect(problems).toEqual([]);
    recordFigures('store-races', { rounds: ROUNDS, processes: RACERS, ...figures });
  }, 120_000);
});
