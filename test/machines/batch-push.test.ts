/**
 * The batch machine alone, the way XState's own tests and Ledger's device actions test machines: fake I/O actors
 * through `.provide({ actors })`, fake timers, and assertions on the whole sequence of state values, pushes,
 * commits and events sent to the parent. Pushes are deferred promises the test settles in any order, so the push
 * window's rule (results are handled strictly in batch order, whatever order they come back in) is pinned here.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, fromPromise, type InspectionEvent, setup } from 'xstate';
import { batchPushMachine, DEFAULT_MAX_BATCHES_IN_FLIGHT } from '../../machines/batch-push.machine.js';
import type {
  BatchPushInput,
  BatchPushOutput,
  BatchToParentEvent,
  CommitBatchInput,
  CommitBatchOutput,
  LoadPageInput,
  LoadPageOutput,
  OpenOutboxInput,
  OpenOutboxOutput,
  PushBatchInput,
  PushBatchOutput,
} from '../../machines/batch-push.types.js';
import { DEFAULT_PULL_POLICY } from '../../machines/run-policy.js';
import { FatalSyncError, TransientSyncError } from '../../src/domain/errors.js';
import type { RepositoryEntity } from '../../src/domain/types.js';

interface Push {
  batchId: string;
  ids: string[];
  signal: AbortSignal;
  ok(): void;
  fail(error: unknown): void;
}

const NOW = 1_000_000;
const RETRY = { baseDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 3, maxItemAttempts: 5 };

/** A fake outbox of `count` items paged by cursor, a push per batch the test settles, commits that write all. */
function harness(options: {
  count: number;
  batchSize: number;
  maxBatchesInFlight?: number;
  holdPages?: boolean;
  holdCommits?: boolean;
}) {
  const items: RepositoryEntity[] = Array.from({ length: options.count }, (_, i) => ({
    id: `i${i + 1}`,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    syncPending: true,
  }));
  const pushes: Push[] = [];
  const commits: string[][] = [];
  const toParent: BatchToParentEvent[] = [];
  const states: string[] = [];
  let output: BatchPushOutput | undefined;
  let open = 0;
  let mostOpen = 0;
  /** With `holdPages`, page loads wait for the test to release them. */
  const heldPages: (() => void)[] = [];
  /** With `holdCommits`, commits wait for the test to release them. */
  const heldCommits: ((error?: unknown) => void)[] = [];

  const actors = {
    openOutbox: fromPromise<OpenOutboxOutput, OpenOutboxInput>(async () => ({
      total: items.length,
      pending: items.length,
      nextDueAt: undefined,
      highWater: items.length,
    })),
    loadPage: fromPromise<LoadPageOutput, LoadPageInput>(async ({ input }) => {
      if (options.holdPages) await new Promise<void>((release) => heldPages.push(release));
      const from = input.after ?? 0;
      const page = items.slice(from, from + input.limit);
      const next = from + page.length;
      return { items: page, next: next < items.length ? next : undefined };
    }),
    pushBatch: fromPromise<PushBatchOutput, PushBatchInput>(
      ({ input, signal }) =>
        new Promise<PushBatchOutput>((resolve, reject) => {
          open += 1;
          mostOpen = Math.max(mostOpen, open);
          const done = () => {
            open -= 1;
          };
          signal.addEventListener('abort', done);
          pushes.push({
            batchId: input.batchId,
            ids: input.items.map((item) => item.id),
            signal,
            ok: () => {
              done();
              resolve(new Map(input.items.map((item) => [item.id, { id: item.id, status: 'ok' as const }])));
            },
            fail: (error) => {
              done();
              reject(error);
            },
          });
        }),
    ),
    commitBatch: fromPromise<CommitBatchOutput, CommitBatchInput>(async ({ input }) => {
      // Started is written: a store write, once begun, finishes whether or not anyone still listens.
      commits.push(input.plan.acks.map((ack) => ack.id));
      if (options.holdCommits) {
        await new Promise<void>((release, fail) =>
          heldCommits.push((error) => (error === undefined ? release() : fail(error))),
        );
      }
      return { syncedIds: input.plan.acks.map((ack) => ack.id), stale: [], replaced: [], failures: [] };
    }),
  };
  const input: BatchPushInput = {
    entityType: 'note',
    runId: 1,
    policy: {
      batchSize: options.batchSize,
      retry: RETRY,
      conflicts: 'server-wins',
      maxBatchesInFlight: options.maxBatchesInFlight ?? DEFAULT_MAX_BATCHES_IN_FLIGHT,
      pull: DEFAULT_PULL_POLICY,
    },
    sources: { now: () => NOW, newBatchKey: () => 'key', random: () => 1 },
  };
  // The batch machine reports to its parent, so it runs under a minimal one that records what it is told.
  const parent = setup({
    actors: { batchPush: batchPushMachine.provide({ actors }) },
  }).createMachine({
    invoke: {
      id: 'batch',
      src: 'batchPush',
      input,
      onDone: {
        actions: ({ event }) => {
          output = event.output;
        },
      },
    },
    on: {
      'BATCH.PROGRESS': { actions: ({ event }) => void toParent.push(event as BatchToParentEvent) },
      'BATCH.RETRYING': { actions: ({ event }) => void toParent.push(event as BatchToParentEvent) },
    },
  });
  let batchActor: AnyActorRef | undefined;
  const inspect = (event: InspectionEvent) => {
    // Every microstep's state, eventless ones included: the whole path the machine took.
    const ref = event.actorRef as AnyActorRef;
    if (ref.id !== 'batch') return;
    if (event.type !== '@xstate.microstep' && event.type !== '@xstate.snapshot') return;
    batchActor = ref;
    const value = String((event.snapshot as unknown as { value: unknown }).value);
    if (states.at(-1) !== value) states.push(value);
  };
  const actor = createActor(parent, { inspect });
  return {
    pushes,
    commits,
    toParent,
    states,
    actor,
    heldPages,
    heldCommits,
    output: () => output,
    mostOpen: () => mostOpen,
    value: () => String(batchActor?.getSnapshot().value),
    start: async () => {
      actor.start();
      await flush();
    },
  };
}

/** Lets every settled promise's continuation run (fake timers hold only timers). */
const flush = () => vi.advanceTimersByTimeAsync(0);

/** Answers pushes as they come, the newest first, until the run is over. */
async function answerNewestFirst(h: ReturnType<typeof harness>): Promise<string[]> {
  const order: string[] = [];
  const answered = new Set<Push>();
  for (let round = 0; round < 100 && !h.output(); round += 1) {
    const waiting = h.pushes.filter((push) => !answered.has(push));
    const push = waiting.at(-1);
    if (!push) throw new Error(`no push to answer in state ${h.value()}`);
    answered.add(push);
    order.push(push.batchId);
    push.ok();
    await flush();
  }
  return order;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('batch machine alone: the push window', () => {
  it('one in flight: load, push, settle, commit, one batch at a time', async () => {
    const h = harness({ count: 3, batchSize: 1, maxBatchesInFlight: 1 });
    await h.start();
    expect(await answerNewestFirst(h)).toEqual(['note.1.key.1', 'note.1.key.2', 'note.1.key.3']);
    expect(h.mostOpen()).toBe(1);
    expect(h.commits).toEqual([['i1'], ['i2'], ['i3']]);
    expect(h.states).toEqual([
      'opening',
      'next',
      'pushing',
      'headResult',
      'handOff',
      'next',
      'pushing',
      'headResult',
      'handOff',
      'next',
      'pushing',
      'headResult',
      'handOff',
      'next',
      'draining',
      // The last commit may carry items on, so `draining` looks at `next` again once it is written.
      'next',
      'draining',
      'done',
    ]);
    expect(h.toParent.map((e) => (e.type === 'BATCH.PROGRESS' ? e.counts.syncedItems : e.type))).toEqual([
      0, 1, 2, 3,
    ]);
    expect(h.output()).toMatchObject({
      outcome: 'completed',
      counts: { totalItems: 3, syncedItems: 3, failedItems: 0 },
    });
  });

  for (const inFlight of [2, 4]) {
    it(`${inFlight} in flight: answered newest first, settled and committed oldest first`, async () => {
      const h = harness({ count: 6, batchSize: 1, maxBatchesInFlight: inFlight });
      await h.start();
      // The window fills to its limit before anything is answered (a page load takes a place too).
      expect(h.pushes.map((p) => p.batchId)).toEqual(
        Array.from({ length: inFlight }, (_, i) => `note.1.key.${i + 1}`),
      );
      await answerNewestFirst(h);
      expect(h.mostOpen()).toBe(inFlight);
      expect(h.commits).toEqual([['i1'], ['i2'], ['i3'], ['i4'], ['i5'], ['i6']]);
      expect(h.toParent.map((e) => (e.type === 'BATCH.PROGRESS' ? e.counts.syncedItems : e.type))).toEqual([
        0, 1, 2, 3, 4, 5, 6,
      ]);
      // Whatever the depth, the same states in the same order: 1 and N follow one path.
      const settled = h.states.filter((s) => s === 'headResult').length;
      expect(settled).toBe(6);
      expect(h.states.slice(0, 3)).toEqual(['opening', 'next', 'pushing']);
      expect(h.states.slice(-3)).toEqual(['next', 'draining', 'done']);
      expect(new Set(h.states)).toEqual(
        new Set([
          'opening',
          'next',
          'pushing',
          'headResult',
          'handOff',
          'awaitingCommit',
          'draining',
          'done',
        ]),
      );
      expect(h.output()).toMatchObject({ outcome: 'completed', counts: { totalItems: 6, syncedItems: 6 } });
    });
  }

  it('retries the head with the same id while later batches are out, sending nothing new during the wait', async () => {
    const h = harness({ count: 4, batchSize: 1, maxBatchesInFlight: 3 });
    await h.start();
    expect(h.pushes.map((p) => p.batchId)).toEqual(['note.1.key.1', 'note.1.key.2', 'note.1.key.3']);
    // Later batches come back first; their results wait for the head.
    h.pushes[1]?.ok();
    h.pushes[2]?.ok();
    await flush();
    expect(h.commits).toEqual([]);
    h.pushes[0]?.fail(new TransientSyncError('503 Service Unavailable'));
    await flush();
    expect(h.value()).toBe('backingOff');
    expect(h.toParent.at(-1)).toEqual({
      type: 'BATCH.RETRYING',
      counts: { totalItems: 4, syncedItems: 0, failedItems: 0, conflicts: 0, retries: 1 },
      error: { code: 'TRANSIENT', message: '503 Service Unavailable', retryable: true },
      retryAt: NOW + RETRY.baseDelayMs,
      attempt: 2,
    });
    // Nothing goes out during the wait; then the head alone, with its id (the window is full behind it).
    await vi.advanceTimersByTimeAsync(RETRY.baseDelayMs - 1);
    expect(h.pushes).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.pushes.map((p) => p.batchId)).toEqual([
      'note.1.key.1',
      'note.1.key.2',
      'note.1.key.3',
      'note.1.key.1',
    ]);
    h.pushes[3]?.ok();
    await flush();
    // Batches 1 to 3 settle in order at once; the freed room takes the last page.
    expect(h.commits).toEqual([['i1'], ['i2'], ['i3']]);
    expect(h.pushes.at(-1)?.batchId).toBe('note.1.key.4');
    h.pushes.at(-1)?.ok();
    await flush();
    expect(h.commits).toEqual([['i1'], ['i2'], ['i3'], ['i4']]);
    expect(h.output()).toMatchObject({ outcome: 'completed', counts: { syncedItems: 4, retries: 1 } });
    expect(h.states.slice(0, 7)).toEqual([
      'opening',
      'next',
      'pushing',
      'headResult',
      'backingOff',
      'pushing',
      'headResult',
    ]);
  });

  it('keeps a page that arrives during a retry wait and sends it only after the retried head', async () => {
    const h = harness({ count: 2, batchSize: 1, maxBatchesInFlight: 2, holdPages: true });
    await h.start();
    h.heldPages.shift()?.();
    await flush();
    // Batch 1 is out and the next page is loading (it holds the window's second place).
    expect(h.pushes.map((p) => p.batchId)).toEqual(['note.1.key.1']);
    h.pushes[0]?.fail(new TransientSyncError('429 Too Many Requests', { retryAfterMs: 2_000 }));
    await flush();
    h.heldPages.shift()?.();
    await flush();
    expect(h.value()).toBe('backingOff');
    expect(h.pushes).toHaveLength(1);
    // Retry-After (2 s) outweighs the backoff (1 s).
    await vi.advanceTimersByTimeAsync(1_999);
    expect(h.pushes).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.pushes.map((p) => p.batchId)).toEqual(['note.1.key.1', 'note.1.key.1', 'note.1.key.2']);
    h.pushes[2]?.ok();
    h.pushes[1]?.ok();
    await flush();
    expect(h.commits).toEqual([['i1'], ['i2']]);
    expect(h.output()).toMatchObject({ outcome: 'completed', counts: { syncedItems: 2, retries: 1 } });
  });

  it('stops at a fatal head error with batches out: aborts them, commits nothing after it', async () => {
    const h = harness({ count: 5, batchSize: 1, maxBatchesInFlight: 3 });
    await h.start();
    h.pushes[1]?.ok();
    await flush();
    h.pushes[0]?.fail(new FatalSyncError('401 Unauthorized'));
    await flush();
    expect(h.states).toEqual(['opening', 'next', 'pushing', 'headResult', 'stopping', 'aborted']);
    expect(h.commits).toEqual([]);
    // The batch still out is aborted; the one answered stays pending for the next run (acknowledged again).
    expect(h.pushes.map((p) => p.signal.aborted)).toEqual([false, false, true]);
    expect(h.output()).toMatchObject({
      outcome: 'aborted',
      counts: { totalItems: 5, syncedItems: 0 },
      error: { code: 'FATAL', message: '401 Unauthorized', retryable: false },
    });
  });

  it('stops at a fatal head error only after the commit in flight: its items count as synced', async () => {
    const h = harness({ count: 3, batchSize: 1, maxBatchesInFlight: 2, holdCommits: true });
    await h.start();
    h.pushes[0]?.ok();
    await flush();
    expect(h.commits).toEqual([['i1']]);
    h.pushes[1]?.fail(new FatalSyncError('401 Unauthorized'));
    await flush();
    // The store is writing i1 as synced: the run waits for that write rather than report i1 as not synced.
    expect(h.value()).toBe('stopping');
    expect(h.output()).toBeUndefined();
    h.heldCommits[0]?.();
    await flush();
    expect(h.states.slice(-3)).toEqual(['headResult', 'stopping', 'aborted']);
    expect(h.commits).toEqual([['i1']]);
    expect(h.output()).toMatchObject({
      outcome: 'aborted',
      counts: { syncedItems: 1 },
      error: { code: 'FATAL', message: '401 Unauthorized', retryable: false },
    });
    // Nothing else went out, and what was still out is aborted.
    expect(h.pushes.map((p) => p.batchId)).toEqual(['note.1.key.1', 'note.1.key.2', 'note.1.key.3']);
    expect(h.pushes[2]?.signal.aborted).toBe(true);
  });

  it("a commit that fails while the run is stopping becomes the run's error: a store that cannot write", async () => {
    const h = harness({ count: 3, batchSize: 1, maxBatchesInFlight: 2, holdCommits: true });
    await h.start();
    h.pushes[0]?.ok();
    await flush();
    h.pushes[1]?.fail(new FatalSyncError('401 Unauthorized'));
    await flush();
    expect(h.value()).toBe('stopping');
    h.heldCommits[0]?.(new Error('ENOSPC: no space left on device'));
    await flush();
    expect(h.states.slice(-2)).toEqual(['stopping', 'aborted']);
    expect(h.output()).toMatchObject({
      outcome: 'aborted',
      counts: { syncedItems: 0 },
      error: { message: 'ENOSPC: no space left on device' },
    });
  });

  it('gives up on the head after its last attempt and settles it as failed, then goes on in order', async () => {
    const h = harness({ count: 2, batchSize: 1, maxBatchesInFlight: 2 });
    await h.start();
    h.pushes[1]?.ok();
    for (let attempt = 0; attempt < RETRY.maxAttempts; attempt += 1) {
      const head = h.pushes.filter((p) => p.batchId === 'note.1.key.1').at(-1);
      head?.fail(new TransientSyncError('503'));
      await vi.advanceTimersByTimeAsync(RETRY.baseDelayMs);
    }
    await flush();
    expect(h.pushes.filter((p) => p.batchId === 'note.1.key.1')).toHaveLength(RETRY.maxAttempts);
    expect(h.commits).toEqual([[], ['i2']]);
    expect(h.output()).toMatchObject({
      outcome: 'completed',
      counts: { syncedItems: 1, failedItems: 0, retries: 2 },
    });
  });

  it('cancel (the parent stops it) aborts every push in flight and commits nothing', async () => {
    const h = harness({ count: 4, batchSize: 2, maxBatchesInFlight: 2 });
    await h.start();
    expect(h.pushes).toHaveLength(2);
    h.actor.stop();
    await flush();
    expect(h.pushes.map((p) => p.signal.aborted)).toEqual([true, true]);
    expect(h.commits).toEqual([]);
    expect(h.output()).toBeUndefined();
  });

  it('takes its clock and batch key from its input only', async () => {
    const h = harness({ count: 1, batchSize: 1 });
    const spyNow = vi.spyOn(Date, 'now');
    const spyUuid = vi.spyOn(globalThis.crypto, 'randomUUID');
    await h.start();
    await answerNewestFirst(h);
    expect(h.pushes[0]?.batchId).toBe('note.1.key.1');
    expect(spyNow).not.toHaveBeenCalled();
    expect(spyUuid).not.toHaveBeenCalled();
  });
});
