import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import {
  batchPushMachine,
  coordinatorMachine,
  DEFAULT_MAX_BATCHES_IN_FLIGHT,
  DEFAULT_PULL_POLICY,
  entitySyncMachine,
  runSources,
} from '../../machines/index.js';
import { toSyncResult } from '../../src/coordinator/to-domain.js';
import {
  FatalSyncError,
  type LocalDataSource,
  MemoryLocalDataSource,
  RemoteUnavailableError,
  Repository,
  type SyncCoordinator,
  type SyncCoordinatorOptions,
  type SyncResult,
  TransientSyncError,
} from '../../src/index.js';
import { machineGraph } from '../../src/inspect/machine-graph.js';
import { resolveRetryPolicy } from '../../src/protocol/backoff.js';
import { makeCoordinator, type Note } from '../helpers/fixtures.js';
import { TestRemote } from '../helpers/test-remote.js';
import { errorTransitionNames, settle } from '../helpers/watchdog.js';
import { recordFigures } from './report.js';

const RETRY = { baseDelayMs: 100, maxDelayMs: 1_000, maxAttempts: 2, maxItemAttempts: 5 };

/** A real memory store whose next call to one method fails, as a full disk or a broken file would. */
class FailingStore extends MemoryLocalDataSource<Note> {
  /** Calls of a method still to pass before one fails. */
  readonly #failing = new Map<string, number>();
  failNext(method: 'outbox' | 'pending' | 'commit', skip = 0): void {
    this.#failing.set(method, skip);
  }
  #check(method: string): void {
    const skip = this.#failing.get(method);
    if (skip === undefined) return;
    if (skip > 0) this.#failing.set(method, skip - 1);
    else {
      this.#failing.delete(method);
      throw new Error(`disk error in ${method}`);
    }
  }
  override async outbox(now: number) {
    this.#check('outbox');
    return super.outbox(now);
  }
  override async pending(query: Parameters<LocalDataSource<Note>['pending']>[0]) {
    this.#check('pending');
    return super.pending(query);
  }
  /** The next commit takes a while (fake time): later results come in while it writes. */
  delayNext(method: 'commit'): void {
    this.#delayed.add(method);
  }
  readonly #delayed = new Set<string>();
  override async commit(commit: Parameters<LocalDataSource<Note>['commit']>[0]) {
    this.#check('commit');
    if (this.#delayed.delete('commit')) await new Promise((resolve) => setTimeout(resolve, 50));
    return super.commit(commit);
  }
}

interface Scenario {
  arrange(local: FailingStore, remote: TestRemote<Note>): void;
  /** Where the run that met the fault ends. */
  ends: 'synced' | 'error';
  /** Coordinator options beyond the defaults, e.g. a lookahead. */
  options?: SyncCoordinatorOptions;
  /** Items the run that met the fault reports synced, where the scenario pins it. */
  syncedItems?: number;
}

/** One item per batch, two pushes in flight: the second item's batch is out while the first is the head. */
const WINDOW_OF_TWO: SyncCoordinatorOptions = { batchSize: 1, maxBatchesInFlight: 2 };

/** One scenario per error transition of the batch machine; the test fails if a transition has none. */
const SCENARIOS: Record<string, Scenario> = {
  'opening -> stopping: error(opening)': { arrange: (local) => local.failNext('outbox'), ends: 'error' },
  // Page loads are spawned for the window: the first one and the one loaded while a batch is out.
  '* -> stopping: error(page)': {
    arrange: (local) => local.failNext('pending', 1),
    ends: 'error',
    options: WINDOW_OF_TWO,
  },
  'headResult -> stopping: always [isFatal]': {
    arrange: (_, remote) => remote.failNext(1, () => new FatalSyncError('401 Unauthorized')),
    ends: 'error',
    options: WINDOW_OF_TWO,
  },
  'headResult -> backingOff: always [canRetryBatch]': {
    arrange: (_, remote) => remote.failNext(1, () => new TransientSyncError('503')),
    ends: 'synced',
    options: WINDOW_OF_TWO,
  },
  // Out of reach on every attempt: the run stops with its items pending, no attempt counted against them.
  'headResult -> stopping: always [isUnavailable]': {
    arrange: (_, remote) =>
      remote.failNext(2, () => new RemoteUnavailableError('Network error: ENETUNREACH')),
    ends: 'error',
  },
  // The head's last attempt failed too: its items are settled as failed, retried by a later run.
  'headResult -> handOff: always': {
    arrange: (_, remote) => remote.failNext(2, () => new TransientSyncError('503')),
    ends: 'error',
  },
  '* -> aborted: error(commit)': { arrange: (local) => local.failNext('commit'), ends: 'error' },
  // A fatal head while the commit before it is writing: the run waits for the commit, then stops.
  'stopping -> aborted: always [!commitInFlight]': {
    arrange: (local, remote) => {
      local.delayNext('commit');
      remote.passNext(1);
      remote.failNext(1, () => new FatalSyncError('401 Unauthorized'));
    },
    ends: 'error',
    options: WINDOW_OF_TWO,
    // n0's commit finished after the fatal result came in: the run counts it.
    syncedItems: 1,
  },
  'next -> backingOff: always [windowIdle && hasCarry && carryWantsBackoff]': {
    arrange: (_, remote) => {
      remote.reject('n1', 'busy', true);
      setTimeout(() => remote.clearRejects(), 0);
    },
    ends: 'synced',
  },
};

/** Failure paths: into `aborted` or `backingOff`, an actor's error, or any judgement of the head but success. */
const isErrorTransition = (t: { source: string; target: string; label: string }) =>
  t.target === 'aborted' ||
  t.target === 'stopping' ||
  t.target === 'backingOff' ||
  t.label.startsWith('error(') ||
  (t.source === 'headResult' && !t.label.endsWith('[headSucceeded]'));

const crashingBatch = fromPromise<never>(() => Promise.reject(new Error('bug in the batch actor')));

describe('stuck-queue watchdog', () => {
  let coordinator: SyncCoordinator;

  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    await coordinator?.stop();
    vi.useRealTimers();
  });

  it('has a scenario for every error transition in the machine definitions', () => {
    const transitions = errorTransitionNames(batchPushMachine, isErrorTransition);
    expect(transitions).toEqual(Object.keys(SCENARIOS).sort());
    recordFigures('watchdog', { errorTransitionsWalked: transitions.length + 2 });
    // The entity machine's error paths: a failed run (covered above) and a crashed batch actor (below). Waiting
    // in `error` again after a retry timer that fired early is not a way into it.
    expect(
      machineGraph(entitySyncMachine)
        .transitions.filter((t) => t.target === 'error' && t.source !== 'error')
        .map((t) => t.label),
    ).toEqual(['done(batch) [endsInError]', 'error(batch)', 'done(pull) [endsInError]', 'error(pull)']);
  });

  it.each(Object.entries(SCENARIOS))(
    '%s: a retry is scheduled while items are pending, and it drains them',
    async (_, scenario) => {
      const local = new FailingStore();
      const remote = new TestRemote<Note>();
      const repository = new Repository<Note>({ entityType: 'note', local, remote });
      await repository.saveMany([
        { id: 'n0', text: 'a' },
        { id: 'n1', text: 'b' },
      ]);
      // No jitter: a retry drawn near zero would run before the test looks at the first run's outcome.
      coordinator = makeCoordinator({ retry: RETRY, random: () => 1, ...scenario.options });
      scenario.arrange(local, remote);
      const started = Date.now();
      const result = await settle(coordinator.sync(repository));
      expect(result.state).toBe(scenario.ends);
      if (scenario.syncedItems !== undefined) expect(result.syncedItems).toBe(scenario.syncedItems);
      if (result.state === 'error') {
        // Whatever the path: pending items, nothing dead-lettered, so a retry is scheduled and visible.
        expect(await repository.pendingCount()).toBeGreaterThan(0);
        // Full jitter may draw a delay near zero, so the retry time is only known to be after the run began.
        expect(result.nextRetryAt).toBeGreaterThanOrEqual(started);
        expect(coordinator.getProgress('note')).toMatchObject({
          state: 'error',
          nextRetryAt: result.nextRetryAt,
          lastError: expect.any(String),
        });
        expect(coordinator.getProgress('note')?.lastError).not.toBe('');
      } else {
        expect(result.retries).toBeGreaterThan(0);
      }
      // Nobody calls sync() again: the scheduled retry drains the outbox.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(await repository.pendingCount()).toBe(0);
      expect(coordinator.getProgress('note')).toMatchObject({ state: 'synced' });
      expect(coordinator.getProgress('note')?.nextRetryAt).toBeUndefined();
      expect(coordinator.getProgress('note')?.lastError).toBeUndefined();
    },
  );

  it('a crashed batch actor (error(batch)) ends the run in error with a retry scheduled', async () => {
    const crashing = coordinatorMachine.provide({
      actors: {
        entitySync: entitySyncMachine.provide({
          // Replaced by an actor that crashes: the path a bug in the batch actor would take.
          actors: { batchPush: crashingBatch as unknown as typeof batchPushMachine },
        }),
      },
    });
    const reports: SyncResult[] = [];
    const actor = createActor(crashing, {
      input: {
        concurrency: 1,
        enableAutoSync: false,
        autoSyncIntervalMs: 1_000,
        policy: {
          batchSize: 10,
          retry: resolveRetryPolicy(RETRY),
          conflicts: 'server-wins',
          maxBatchesInFlight: DEFAULT_MAX_BATCHES_IN_FLIGHT,
          pull: DEFAULT_PULL_POLICY,
        },
        sources: runSources(),
      },
    });
    actor.on('runFinished', ({ report }) => reports.push(toSyncResult(report)));
    actor.start();
    actor.send({ type: 'REGISTER', entityType: 'note' });
    actor.send({ type: 'SYNC', entityType: 'note' });
    await vi.advanceTimersByTimeAsync(0);
    expect(reports[0]).toMatchObject({
      state: 'error',
      errorMessage: 'Sync run failed unexpectedly: bug in the batch actor',
    });
    expect(reports[0]?.nextRetryAt).toBeGreaterThanOrEqual(Date.now() + 1_000);
    // The watchdog keeps trying, backing off, never in a tight loop.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reports.length).toBeGreaterThan(1);
    expect(reports.length).toBeLessThan(12);
    actor.stop();
  });
});
