import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { InspectionEvent } from 'xstate';
import { PermanentSyncError, SyncCoordinator, TransientSyncError } from '../../src/index.js';
import { makeRepo } from '../helpers/fixtures.js';
import { recordFigures } from './report.js';

const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
const RUNS = 1_000 * SCALE;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
const handles = () => process.getActiveResourcesInfo().filter((r) => r !== 'Timeout').length;

function heapMb(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

/** Live actors, counted from the inspection stream: started minus stopped or finished. */
function liveActorCounter() {
  const live = new Set<string>();
  const inspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.actor') live.add(event.actorRef.sessionId);
    if (event.type === '@xstate.snapshot') {
      const status = (event.snapshot as { status?: string }).status;
      if (status === 'stopped' || status === 'done' || status === 'error')
        live.delete(event.actorRef.sessionId);
    }
  };
  return { inspect, count: () => live.size };
}

describe('leaks', () => {
  it(`${RUNS} sync runs with failures and cancels leave listeners, timers, handles and actors flat`, async () => {
    const baseline = { timers: timers(), handles: handles() };
    const actors = liveActorCounter();
    const { repository, remote } = makeRepo();
    const coordinator = new SyncCoordinator({
      inspect: actors.inspect,
      retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 3, maxItemAttempts: 2 },
    });
    const subscription = coordinator.progress.subscribe(() => {});
    const samples: { run: number; heap: number; actors: number; timers: number; listeners: number }[] = [];

    for (let run = 1; run <= RUNS; run += 1) {
      await repository.save({ id: `r${run % 200}`, text: `run ${run}` });
      if (run % 7 === 0) remote.failNext(1, () => new TransientSyncError('503'));
      if (run % 11 === 0) remote.failNext(1, () => new PermanentSyncError('400'));
      if (run % 13 === 0) {
        const hold = remote.holdNext();
        const result = coordinator.sync(repository);
        await hold.reached;
        coordinator.cancel('note');
        expect((await result).cancelled).toBe(true);
      } else {
        await coordinator.sync(repository);
      }
      if (run === 100 || run === RUNS) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        samples.push({
          run,
          heap: heapMb(),
          actors: actors.count(),
          timers: timers(),
          listeners: coordinator.progress.listenerCount,
        });
      }
    }
    const [early, late] = samples as [(typeof samples)[0], (typeof samples)[0]];
    // Between runs only the coordinator and the one entity actor live.
    expect(early.actors).toBe(2);
    expect(late.actors).toBe(2);
    expect(late.listeners).toBe(1);
    expect(late.timers).toBeLessThanOrEqual(early.timers);
    expect(coordinator.actor.getSnapshot().children).toHaveProperty(['entity:note']);
    expect(Object.keys(coordinator.actor.getSnapshot().children)).toHaveLength(1);
    // Heap growth bounded: the in-process remote keeps one reply per batch, ~1 KB each.
    expect(late.heap - early.heap).toBeLessThan(8 * SCALE);

    subscription.unsubscribe();
    await coordinator.stop();
    expect(coordinator.progress.listenerCount).toBe(0);
    expect(actors.count()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(timers()).toBeLessThanOrEqual(baseline.timers);
    expect(handles()).toBeLessThanOrEqual(baseline.handles);
    recordFigures('leaks', {
      runs: RUNS,
      cancels: Math.floor(RUNS / 13),
      liveActorsAfter: late.actors,
      timersGrowth: late.timers - early.timers,
      heapGrowthMb: Number((late.heap - early.heap).toFixed(2)),
      listenersAfterStop: coordinator.progress.listenerCount,
    });
  }, 120_000);

  it('async iterators unsubscribe when the loop breaks, and when the coordinator stops', async () => {
    const { repository } = makeRepo();
    const coordinator = new SyncCoordinator();
    await repository.save({ text: 'x' });
    await coordinator.sync(repository);
    for await (const _ of coordinator.progress) break;
    expect(coordinator.progress.listenerCount).toBe(0);
    const iterate = (async () => {
      for await (const _ of coordinator.progress) {
        /* until stop */
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1));
    expect(coordinator.progress.listenerCount).toBe(1);
    await coordinator.stop();
    await iterate;
    expect(coordinator.progress.listenerCount).toBe(0);
  });
});
