/**
 * The entity actor's two-way run, asserted as whole sequences of its state values: push then pull, the direction
 * leaving either out, a push that stops early skipping the pull, a cancel during the pull, and live mode (the held
 * watch asking for a run when the server has changes, backing off when the watch fails). Real coordinator, real
 * memory store, the reference server's state as the remote (scripted where a fault is wanted), fake timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InspectionEvent } from 'xstate';
import {
  FatalSyncError,
  InvalidOptionsError,
  MemoryLocalDataSource,
  type PullReply,
  type PullRequest,
  type RemoteDataSource,
  Repository,
  type RepositoryEntity,
  type SyncBatchContext,
  SyncCoordinator,
  type SyncDirection,
  TransientSyncError,
} from '../../src/index.js';
import { SyncServerState } from '../../src/server.js';

interface Note extends RepositoryEntity {
  text: string;
}

/** The reference state as a remote: pushes applied, pulls served from its feed; faults and holds on demand. */
class StateRemote implements RemoteDataSource<Note> {
  readonly state = new SyncServerState();
  readonly pulls: { since: string | undefined; wait: number }[] = [];
  pushFault: (() => Error) | undefined;
  pullFault: (() => Error) | undefined;
  /** Long-polls wait here until `wake()` (or their signal aborts). */
  #sleepers = new Set<() => void>();
  async syncBatch(items: readonly Note[], context: SyncBatchContext) {
    const fault = this.pushFault?.();
    if (fault) throw fault;
    return this.state.apply(context.entityType, context.batchId, items);
  }
  async pullChanges(request: PullRequest): Promise<PullReply> {
    this.pulls.push({ since: request.since, wait: request.wait ?? 0 });
    const fault = this.pullFault?.();
    if (fault) throw fault;
    const read = () => this.state.changes(request.entityType, request.since, request.limit);
    let page = read();
    if (page.status === 'page' && page.page.changes.length === 0 && (request.wait ?? 0) > 0) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          this.#sleepers.delete(wake);
          resolve();
        };
        this.#sleepers.add(wake);
        request.signal.addEventListener('abort', () => {
          this.#sleepers.delete(wake);
          reject(request.signal.reason);
        });
      });
      page = read();
    }
    if (page.status === 'reset') return { reset: true };
    if (page.status !== 'page') throw new FatalSyncError(page.error);
    return page.page;
  }
  /** Another client writes: held long-polls answer. */
  write(id: string, text: string, version = 1): void {
    this.state.apply('note', `other.${id}.${version}`, [
      { id, text, version, createdAt: 1, updatedAt: 1, syncPending: false } as Note,
    ]);
    for (const wake of [...this.#sleepers]) wake();
  }
  get held(): number {
    return this.#sleepers.size;
  }
}

const RETRY = { baseDelayMs: 100, maxDelayMs: 1_000, maxAttempts: 2, maxItemAttempts: 5 };

function setupRun(options: { direction?: SyncDirection; live?: boolean } = {}) {
  const remote = new StateRemote();
  const local = new MemoryLocalDataSource<Note>();
  const repository = new Repository<Note>({ entityType: 'note', local, remote, ...options });
  const states: string[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot' || (event.actorRef as { id?: string }).id !== 'entity:note') return;
    const path = statePath((event.snapshot as { value?: unknown }).value);
    if (states.at(-1) !== path) states.push(path);
  };
  const coordinator = new SyncCoordinator({
    retry: RETRY,
    random: () => 1,
    inspect,
    pull: { liveWaitSeconds: 5 },
  });
  return { remote, local, repository, coordinator, states };
}

function statePath(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null) return '';
  return Object.entries(value)
    .map(([key, inner]) => {
      const rest = statePath(inner);
      return rest ? `${key}.${rest}` : key;
    })
    .join(',');
}

const flush = () => vi.advanceTimersByTimeAsync(0);

let coordinator: SyncCoordinator | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
  vi.useRealTimers();
});

describe('the entity actor, push then pull', () => {
  it('both: pushing, then pulling, then synced; the result counts both directions', async () => {
    const run = setupRun();
    coordinator = run.coordinator;
    run.remote.write('theirs', 'from another client');
    await run.repository.save({ id: 'mine', text: 'written here' });
    const result = await coordinator.sync(run.repository);
    expect(run.states).toEqual(['idle', 'syncing.pushing', 'syncing.pulling', 'synced.still']);
    expect(result).toMatchObject({ state: 'synced', syncedItems: 1, pulledItems: 1, phase: 'pull' });
    expect((await run.repository.getAll()).map((n) => n.id).sort()).toEqual(['mine', 'theirs']);
  });

  it.each([
    ['push' as const, ['idle', 'syncing.pushing', 'synced.still'], 0],
    ['pull' as const, ['idle', 'syncing.pulling', 'synced.still'], 1],
  ])('%s only: the other phase never runs', async (direction, states, pulled) => {
    const run = setupRun({ direction });
    coordinator = run.coordinator;
    run.remote.write('theirs', 'from another client');
    const result = await coordinator.sync(run.repository);
    expect(run.states).toEqual(states);
    expect(result.pulledItems).toBe(pulled);
    expect(run.remote.pulls.length).toBe(pulled);
  });

  it('a push that stops early ends the run before the pull', async () => {
    const run = setupRun();
    coordinator = run.coordinator;
    run.remote.pushFault = () => new FatalSyncError('401 Unauthorized');
    await run.repository.save({ id: 'mine', text: 'written here' });
    const result = await coordinator.sync(run.repository);
    expect(run.states).toEqual(['idle', 'syncing.pushing', 'error.still']);
    expect(result).toMatchObject({ state: 'error', phase: 'push', errorCode: 'FATAL' });
    expect(run.remote.pulls).toEqual([]);
  });

  it('a push with failed items still pulls, and the run ends in error for the items', async () => {
    const run = setupRun();
    coordinator = run.coordinator;
    run.remote.write('theirs', 'from another client');
    await run.repository.save({ id: 'mine', text: 'x' });
    const original = run.remote.syncBatch.bind(run.remote);
    run.remote.syncBatch = async (items, context) =>
      (await original(items, context)).map((r) => ({
        id: r.id,
        status: 'failed' as const,
        error: 'no',
        retryable: false,
      }));
    const result = await coordinator.sync(run.repository);
    expect(run.states.at(-2)).toBe('syncing.pulling');
    expect(result).toMatchObject({
      state: 'error',
      failedItems: 1,
      pulledItems: 1,
      errorCode: 'ITEM_FAILED',
    });
  });

  it('a conflict the pull resolves into a local change (client-wins) is pushed by a run that follows at once', async () => {
    const remote = new StateRemote();
    const repository = new Repository<Note>({
      entityType: 'note',
      local: new MemoryLocalDataSource(),
      remote,
    });
    coordinator = new SyncCoordinator({ retry: RETRY, random: () => 1, conflicts: 'client-wins' });
    remote.write('n1', 'first');
    await coordinator.sync(repository);
    remote.write('n1', 'edited elsewhere', 2);
    // The pull of the next run waits until the app has edited n1 too: the pulled v2 meets a pending change.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const original = remote.pullChanges.bind(remote);
    remote.pullChanges = async (request) => {
      await gate;
      return original(request);
    };
    const run = coordinator.sync(repository);
    await flush();
    await repository.save({ id: 'n1', text: 'edited here' });
    release();
    const result = await run;
    expect(result).toMatchObject({ state: 'synced', conflicts: 1 });
    expect(result.nextRetryAt).toBeLessThanOrEqual(Date.now());
    expect(await repository.pendingCount()).toBe(1);
    remote.pullChanges = original;
    // Nobody calls sync(): the follow-up run pushes the resolution.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await repository.pendingCount()).toBe(0);
    expect(remote.state.get('note', 'n1')?.item).toMatchObject({ text: 'edited here', version: 3 });
  });

  it('a cancel during the pull ends the run idle and aborts the held request; nothing past the last page is stored', async () => {
    const run = setupRun({ direction: 'pull' });
    coordinator = run.coordinator;
    let release!: () => void;
    run.remote.pullFault = undefined;
    const original = run.remote.pullChanges.bind(run.remote);
    let aborted = false;
    run.remote.pullChanges = (request) =>
      new Promise<PullReply>((resolve, reject) => {
        release = () => void original(request).then(resolve, reject);
        request.signal.addEventListener('abort', () => {
          aborted = true;
          reject(request.signal.reason);
        });
      });
    run.remote.write('theirs', 'from another client');
    const result = coordinator.sync(run.repository);
    await flush();
    expect(run.states.at(-1)).toBe('syncing.pulling');
    coordinator.cancel('note');
    await flush();
    expect(aborted).toBe(true);
    expect(await result).toMatchObject({ state: 'idle', cancelled: true, phase: 'pull', pulledItems: 0 });
    expect(await run.local.checkpoint()).toBeUndefined();
    release();
  });
});

describe('live mode', () => {
  it('holds one watch after a run; another client write starts a run that pulls it', async () => {
    const run = setupRun({ live: true });
    coordinator = run.coordinator;
    await coordinator.sync(run.repository);
    expect(run.states.at(-1)).toBe('synced.settling');
    await vi.advanceTimersByTimeAsync(250);
    expect(run.states.at(-1)).toBe('synced.watching');
    expect(run.remote.held).toBe(1);
    expect(run.remote.pulls.at(-1)?.wait).toBe(5);

    run.remote.write('theirs', 'from another client');
    await flush();
    await flush();
    expect(await run.repository.get('theirs')).toMatchObject({
      text: 'from another client',
      syncPending: false,
    });
    // The watch saw the change and asked for a run, which pushed (nothing) and pulled it.
    const watched = run.states.lastIndexOf('synced.watching');
    expect(run.states.slice(watched, watched + 4)).toEqual([
      'synced.watching',
      'synced.changed',
      'syncing.pushing',
      'syncing.pulling',
    ]);
    await vi.advanceTimersByTimeAsync(250);
    // Back to one held watch, from the new checkpoint.
    expect(run.remote.held).toBe(1);
  });

  it('a watch that fails backs off with the retry policy instead of asking again at once', async () => {
    const run = setupRun({ live: true });
    coordinator = run.coordinator;
    await coordinator.sync(run.repository);
    const before = run.remote.pulls.length;
    run.remote.pullFault = () => new TransientSyncError('server down');
    await vi.advanceTimersByTimeAsync(250);
    expect(run.states.at(-1)).toBe('synced.backingOff');
    await vi.advanceTimersByTimeAsync(999);
    expect(run.remote.pulls.length).toBe(before + 1);
    run.remote.pullFault = undefined;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(run.states.at(-1)).toBe('synced.watching');
    expect(run.remote.pulls.length).toBeLessThanOrEqual(before + 6);
  });

  it('a server whose watch keeps saying "changed" while its feed is empty cannot start runs back to back', async () => {
    const run = setupRun({ live: true });
    coordinator = run.coordinator;
    const original = run.remote.pullChanges.bind(run.remote);
    // Every held watch is answered at once with a change; the pulls of the runs it starts find nothing.
    run.remote.pullChanges = async (request) =>
      (request.wait ?? 0) > 0
        ? {
            changes: [{ id: 'ghost', version: 1, deleted: false, item: {} }],
            checkpoint: 'x',
            hasMore: false,
          }
        : original(request);
    const runs: number[] = [];
    coordinator.progress.subscribe((p) => {
      if (p.isComplete && !runs.includes(p.runId)) runs.push(p.runId);
    });
    await coordinator.sync(run.repository);
    await vi.advanceTimersByTimeAsync(60_000);
    // 250 ms doubling per empty run: about 8 runs in a minute, not one every 250 ms (240).
    expect(runs.length).toBeGreaterThan(3);
    expect(runs.length).toBeLessThanOrEqual(10);
    // A run that does receive something puts the gap back to its least.
    run.remote.pullChanges = original;
    run.remote.write('theirs', 'real change');
    await vi.advanceTimersByTimeAsync(40_000);
    expect(await run.repository.get('theirs')).toMatchObject({ text: 'real change' });
  });

  it('a type that only pushes cannot be live', () => {
    const run = setupRun();
    coordinator = run.coordinator;
    const telemetry = new Repository<Note>({
      entityType: 'telemetry',
      local: new MemoryLocalDataSource(),
      remote: { syncBatch: async () => [] },
      live: true,
    });
    expect(() => coordinator?.register(telemetry)).toThrow(InvalidOptionsError);
    const wants = new Repository<Note>({
      entityType: 'wants',
      local: new MemoryLocalDataSource(),
      remote: { syncBatch: async () => [] },
      direction: 'pull',
    });
    expect(() => coordinator?.register(wants)).toThrow(/cannot pull: it needs the remote's pullChanges\(\)/);
  });
});
