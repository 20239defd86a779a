import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncCoordinator } from '../../src/index.js';
import { collectProgress, makeCoordinator, makeRepo, seed } from '../helpers/fixtures.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let coordinator: SyncCoordinator | undefined;

afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
});

describe('issue 11: what a stopped or starting run reports', () => {
  it('stop() answers a sync whose run was under way with that run, cancelled, not an empty result', async () => {
    const { repository, remote } = makeRepo();
    await seed(repository, 30);
    coordinator = makeCoordinator({ batchSize: 10, maxBatchesInFlight: 1 });
    // Hold the second batch: the run has synced 10 of 30 when it is stopped.
    const held = new Promise<void>((resolve) => {
      const sub = coordinator?.progress.subscribe((p) => {
        if (p.syncedItems !== 10) return;
        sub?.unsubscribe();
        void remote.holdNext().reached.then(resolve);
      });
    });
    const run = coordinator.sync(repository);
    await held;
    await coordinator.stop();
    const result = await run;
    expect(result).toMatchObject({
      state: 'idle',
      cancelled: true,
      runId: 1,
      totalItems: 30,
      syncedItems: 10,
      failedItems: 0,
    });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(remote.calls.at(-1)?.signal.aborted).toBe(true);
  });

  it('stop() answers a sync queued behind another type as cancelled before it started, and starts nothing', async () => {
    const a = makeRepo('alpha');
    const b = makeRepo('beta');
    await seed(a.repository, 1);
    await seed(b.repository, 1);
    coordinator = makeCoordinator();
    const hold = a.remote.holdNext();
    const runA = coordinator.sync(a.repository);
    const runB = coordinator.sync(b.repository);
    await hold.reached;
    await coordinator.stop();
    expect(await runA).toMatchObject({ cancelled: true, runId: 1, totalItems: 1 });
    expect(await runB).toMatchObject({ cancelled: true, runId: 0, totalItems: 0 });
    expect(b.remote.calls).toHaveLength(0);
  });

  it('the first progress of a run carries its total; no event repeats the one before it', async () => {
    const { repository } = makeRepo();
    await seed(repository, 5);
    coordinator = makeCoordinator();
    const events = collectProgress(coordinator, 'note');
    await coordinator.sync(repository);
    await coordinator.sync(repository);
    expect(events.map((p) => `${p.runId} ${p.state} ${p.syncedItems}/${p.totalItems}`)).toEqual([
      '1 syncing 0/5',
      '1 syncing 5/5',
      '1 synced 5/5',
      '2 syncing 0/0',
      '2 synced 0/0',
    ]);
  });

  it('npm run example prints each progress line once', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'examples/basic-usage.ts'],
      { cwd: root, timeout: 30_000 },
    );
    const progress = stdout.split('\n').filter((line) => line.startsWith('[telemetry]'));
    expect(progress[0]).toBe('[telemetry] syncing 0% (0 synced, 0 failed)');
    expect(new Set(progress).size).toBe(progress.length);
  });
});
