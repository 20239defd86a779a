/**
 * Issue 13, the pull's share of the stuck-queue watchdog: for every error transition of the pull machine, a run
 * that meets the fault ends where it should, an `error` ending schedules a retry that is visible in the progress,
 * and nobody calling `sync()` again the scheduled retry pulls what was left: the client ends equal to the server.
 * The test fails if a transition of the machine has no scenario.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pullMachine } from '../../machines/pull.machine.js';
import {
  FatalSyncError,
  MemoryLocalDataSource,
  type PulledPage,
  type PulledPageOptions,
  type PullReply,
  type PullRequest,
  type RemoteDataSource,
  Repository,
  type RepositoryEntity,
  StalePageError,
  SyncCoordinator,
  type SyncCoordinatorOptions,
  TransientSyncError,
} from '../../src/index.js';
import { SyncServerState } from '../../src/server.js';
import { errorTransitionNames, settle } from '../helpers/watchdog.js';
import { recordFigures } from './report.js';

interface Note extends RepositoryEntity {
  text: string;
}

const RETRY = { baseDelayMs: 100, maxDelayMs: 1_000, maxAttempts: 2, maxItemAttempts: 5 };
const RESET_WINDOW_MS = 20_000;

/** A real memory store whose next checkpoint read or page apply fails as scripted. */
class FailingStore extends MemoryLocalDataSource<Note> {
  readonly #failing = new Map<'checkpoint' | 'applyPulledPage', () => Error>();
  failNext(method: 'checkpoint' | 'applyPulledPage', error: () => Error): void {
    this.#failing.set(method, error);
  }
  #check(method: 'checkpoint' | 'applyPulledPage'): void {
    const error = this.#failing.get(method);
    if (!error) return;
    this.#failing.delete(method);
    throw error();
  }
  override async checkpoint() {
    this.#check('checkpoint');
    return super.checkpoint();
  }
  override async applyPulledPage(page: PulledPage, options: PulledPageOptions<Note>) {
    this.#check('applyPulledPage');
    return super.applyPulledPage(page, options);
  }
}

/** The reference server's state as a remote; the next pulls answer as scripted (an error, or a reset). */
class ScriptedRemote implements RemoteDataSource<Note> {
  readonly #script: (() => PullReply | Error)[] = [];
  pulls = 0;
  constructor(readonly state: SyncServerState) {}
  answerNext(...answers: (() => PullReply | Error)[]): void {
    this.#script.push(...answers);
  }
  async syncBatch(items: readonly Note[], context: { batchId: string; entityType: string }) {
    return this.state.apply(context.entityType, context.batchId, items);
  }
  async pullChanges(request: PullRequest): Promise<PullReply> {
    this.pulls += 1;
    const scripted = this.#script.shift()?.();
    if (scripted instanceof Error) throw scripted;
    if (scripted) return scripted;
    const read = this.state.changes(request.entityType, request.since, request.limit);
    if (read.status === 'reset') return { reset: true };
    if (read.status !== 'page') throw new FatalSyncError(read.error);
    return read.page as PullReply;
  }
}

interface Scenario {
  arrange(local: FailingStore, remote: ScriptedRemote): void;
  ends: 'synced' | 'error';
  options?: SyncCoordinatorOptions;
}

const reset = (): PullReply => ({ reset: true });

/** One scenario per error transition of the pull machine. */
const SCENARIOS: Record<string, Scenario> = {
  'reading -> aborted: error(reading)': {
    arrange: (local) => local.failNext('checkpoint', () => new Error('disk error in checkpoint')),
    ends: 'error',
  },
  'received -> aborted: always [isReset]': {
    // One reset is allowed per window, the second is refused; the retry waits for the window to pass.
    arrange: (_, remote) => remote.answerNext(reset, reset),
    ends: 'error',
    options: { pull: { maxResets: 1, resetWindowMs: RESET_WINDOW_MS } },
  },
  'fetching -> aborted: error(fetching) [isFatal]': {
    arrange: (_, remote) => remote.answerNext(() => new FatalSyncError('401 Unauthorized')),
    ends: 'error',
  },
  'fetching -> backingOff: error(fetching) [canRetry]': {
    arrange: (_, remote) => remote.answerNext(() => new TransientSyncError('503')),
    ends: 'synced',
  },
  'fetching -> aborted: error(fetching)': {
    arrange: (_, remote) =>
      remote.answerNext(
        () => new TransientSyncError('503'),
        () => new TransientSyncError('503 again'),
      ),
    ends: 'error',
  },
  'applying -> reading: error(applying) [isStalePage]': {
    arrange: (local) => local.failNext('applyPulledPage', () => new StalePageError(undefined, 'elsewhere')),
    ends: 'synced',
  },
  'applying -> aborted: error(applying)': {
    arrange: (local) => local.failNext('applyPulledPage', () => new Error('disk error in applyPulledPage')),
    ends: 'error',
  },
};

/** Failure paths of the pull machine: into `aborted` or `backingOff`, or an actor's error. */
const isErrorTransition = (t: { source: string; target: string; label: string }) =>
  t.target === 'aborted' || t.target === 'backingOff' || t.label.startsWith('error(');

describe('stuck-pull watchdog', () => {
  let coordinator: SyncCoordinator | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(async () => {
    await coordinator?.stop();
    vi.useRealTimers();
  });

  it('has a scenario for every error transition of the pull machine', () => {
    const transitions = errorTransitionNames(pullMachine, isErrorTransition);
    expect(transitions).toEqual(Object.keys(SCENARIOS).sort());
    recordFigures('pull-watchdog', { errorTransitionsWalked: transitions.length });
  });

  it.each(Object.entries(SCENARIOS))(
    '%s: ends where it should, and a scheduled retry pulls the rest',
    async (_, scenario) => {
      const state = new SyncServerState();
      state.apply(
        'note',
        'other.1',
        Array.from({ length: 5 }, (_, i) => ({
          id: `o${i}`,
          text: `remote ${i}`,
          version: 1,
          createdAt: 1,
          updatedAt: 1,
          syncPending: false,
        })),
      );
      const local = new FailingStore();
      const remote = new ScriptedRemote(state);
      const repository = new Repository<Note>({ entityType: 'note', local, remote, direction: 'pull' });
      coordinator = new SyncCoordinator({
        retry: RETRY,
        random: () => 1,
        ...scenario.options,
        pull: { pageSize: 2, ...scenario.options?.pull },
      });
      scenario.arrange(local, remote);
      const started = Date.now();
      const result = await settle(coordinator.sync(repository));
      expect(result.state).toBe(scenario.ends);
      if (result.state === 'error') {
        expect(result.phase).toBe('pull');
        expect(result.nextRetryAt).toBeGreaterThanOrEqual(started);
        expect(coordinator.getProgress('note')).toMatchObject({
          state: 'error',
          nextRetryAt: result.nextRetryAt,
          lastError: expect.any(String),
          errorCode: expect.any(String),
        });
        if (result.errorCode === 'PULL_RESET_LIMIT') {
          // The retry waits for the window: a sync now would find the cap still in force.
          expect(result.nextRetryAt).toBeGreaterThanOrEqual(started + RESET_WINDOW_MS);
        }
      } else {
        // Recovered within the run: a retried request, or a late page read again from the store.
        expect(result.pulledItems).toBe(5);
        expect(result.errorCode).toBeUndefined();
      }
      // Nobody calls sync() again: the scheduled retry (or the finished run) leaves the client equal to the server.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(coordinator.getProgress('note')).toMatchObject({ state: 'synced' });
      expect(coordinator.getProgress('note')?.nextRetryAt).toBeUndefined();
      const held = (await repository.getAll()).map((n) => [n.id, n.version, n.text]).sort();
      const served = state
        .list('note')
        .map((s) => [s.item.id, s.item.version, (s.item as Note).text])
        .sort();
      expect(held).toEqual(served);
      expect(held).toHaveLength(5);
    },
  );
});
