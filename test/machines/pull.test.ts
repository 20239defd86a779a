/**
 * The pull machine alone: fake I/O actors through `.provide({ actors })`, fake timers, and assertions on the whole
 * sequence of states, requests, applied pages and events sent to the parent. Pages come from a scripted feed, so
 * every rule of the machine is pinned here: paging from checkpoint to checkpoint, retries of transient failures
 * with the same `since`, fatal and store errors ending it with nothing applied past what was stored, resets up to
 * the cap, late (stale) pages read again from the store.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type AnyActorRef, createActor, fromPromise, type InspectionEvent, setup } from 'xstate';
import { pullMachine } from '../../machines/pull.machine.js';
import type {
  ApplyPageInput,
  ApplyPageOutput,
  FetchPageInput,
  FetchPageOutput,
  PullInput,
  PullOutput,
  PullToParentEvent,
  ReadCheckpointInput,
  ReadCheckpointOutput,
} from '../../machines/pull.types.js';
import { DEFAULT_PULL_POLICY } from '../../machines/run-policy.js';
import { FatalSyncError, StalePageError, TransientSyncError } from '../../src/domain/errors.js';
import type { PulledChange, PulledPageResult } from '../../src/domain/types.js';

const NOW = 1_000_000;
const RETRY = { baseDelayMs: 1_000, maxDelayMs: 1_000, maxAttempts: 3, maxItemAttempts: 5 };

const change = (id: string, version = 1): PulledChange => ({
  id,
  version,
  deleted: false,
  item: { id, version, createdAt: 0, updatedAt: 0, syncPending: false },
});

type Answer = FetchPageOutput | Error;

/** The pull machine's input as the tests give it: a fixed clock, key and jitter. */
const pullInput = (options: { pageSize?: number; resetsAllowed?: number } = {}): PullInput => ({
  entityType: 'note',
  runId: 1,
  policy: {
    batchSize: 100,
    retry: RETRY,
    conflicts: 'server-wins',
    maxBatchesInFlight: 2,
    pull: { ...DEFAULT_PULL_POLICY, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
  },
  sources: { now: () => NOW, newBatchKey: () => 'key', random: () => 1 },
  resetsAllowed: options.resetsAllowed ?? 3,
});

/**
 * A scripted remote (one answer per fetch, in order), a store whose checkpoint is the last applied page's and whose
 * apply may be scripted to fail, and a minimal parent that records what the pull child tells it.
 */
function harness(options: {
  answers: Answer[];
  stored?: string;
  applyErrors?: (Error | undefined)[];
  resetsAllowed?: number;
  refuse?: (page: ApplyPageInput['page']) => PulledPageResult['refused'];
}) {
  const answers = [...options.answers];
  const applyErrors = [...(options.applyErrors ?? [])];
  let checkpoint = options.stored;
  const fetches: (string | undefined)[] = [];
  const applied: { since: string | undefined; checkpoint: string; reset: boolean; ids: string[] }[] = [];
  const toParent: PullToParentEvent[] = [];
  const states: string[] = [];
  let output: PullOutput | undefined;
  const actors = {
    readCheckpoint: fromPromise<ReadCheckpointOutput, ReadCheckpointInput>(async () => checkpoint),
    fetchPage: fromPromise<FetchPageOutput, FetchPageInput>(async ({ input }) => {
      fetches.push(input.since);
      const answer = answers.shift();
      if (!answer) throw new Error('the script has no more answers');
      if (answer instanceof Error) throw answer;
      return answer;
    }),
    applyPage: fromPromise<ApplyPageOutput, ApplyPageInput>(async ({ input }) => {
      const error = applyErrors.shift();
      if (error) throw error;
      const { page } = input;
      applied.push({
        since: page.since,
        checkpoint: page.checkpoint,
        reset: page.reset === true,
        ids: page.changes.map((c) => c.id),
      });
      checkpoint = page.checkpoint;
      const refused = options.refuse?.(page) ?? [];
      return {
        pulled: page.changes.length - refused.length,
        deleted: 0,
        conflicts: 0,
        echoes: 0,
        invalid: refused.length,
        refused,
        repush: [],
        dropped: page.reset && !page.hasMore ? 2 : 0,
        checkpoint: page.checkpoint,
      };
    }),
  };
  const input = pullInput({ pageSize: 2, resetsAllowed: options.resetsAllowed ?? 3 });
  const parent = setup({ actors: { pull: pullMachine.provide({ actors }) } }).createMachine({
    invoke: {
      id: 'pull',
      src: 'pull',
      input,
      onDone: {
        actions: ({ event }) => {
          output = event.output;
        },
      },
    },
    on: {
      'PULL.PROGRESS': { actions: ({ event }) => void toParent.push(event as PullToParentEvent) },
      'PULL.RETRYING': { actions: ({ event }) => void toParent.push(event as PullToParentEvent) },
    },
  });
  const inspect = (event: InspectionEvent) => {
    const ref = event.actorRef as AnyActorRef;
    if (ref.id !== 'pull' || (event.type !== '@xstate.microstep' && event.type !== '@xstate.snapshot'))
      return;
    const value = String((event.snapshot as unknown as { value: unknown }).value);
    if (states.at(-1) !== value) states.push(value);
  };
  const actor = createActor(parent, { inspect });
  return {
    fetches,
    applied,
    toParent,
    states,
    actor,
    output: () => output,
    start: async () => {
      actor.start();
      await vi.advanceTimersByTimeAsync(0);
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('pull machine alone', () => {
  it('pages from the stored checkpoint to the end, each page applied from the one before', async () => {
    const h = harness({
      stored: 'c0',
      answers: [
        { changes: [change('a'), change('b')], checkpoint: 'c1', hasMore: true },
        { changes: [change('c')], checkpoint: 'c2', hasMore: false },
      ],
    });
    await h.start();
    expect(h.fetches).toEqual(['c0', 'c1']);
    expect(h.applied).toEqual([
      { since: 'c0', checkpoint: 'c1', reset: false, ids: ['a', 'b'] },
      { since: 'c1', checkpoint: 'c2', reset: false, ids: ['c'] },
    ]);
    // The second page was fetched while the first was written: it is taken from the look-ahead, not fetched again.
    expect(h.states).toEqual([
      'reading',
      'fetching',
      'received',
      'applying',
      'next',
      'received',
      'applying',
      'next',
      'done',
    ]);
    expect(h.toParent.map((e) => e.type === 'PULL.PROGRESS' && e.counts.pulledItems)).toEqual([2, 3]);
    expect(h.output()).toMatchObject({
      outcome: 'completed',
      counts: { pulledItems: 3, pages: 2, resets: 0, retries: 0, refusedItems: 0 },
      error: undefined,
    });
  });

  it('pulls from the beginning when nothing is stored, and an empty feed is one request', async () => {
    const h = harness({ answers: [{ changes: [], checkpoint: 'c0', hasMore: false }] });
    await h.start();
    expect(h.fetches).toEqual([undefined]);
    expect(h.applied).toEqual([{ since: undefined, checkpoint: 'c0', reset: false, ids: [] }]);
    expect(h.output()?.outcome).toBe('completed');
  });

  it('retries a transient failure from the same checkpoint after the backoff, telling the parent', async () => {
    const h = harness({
      stored: 'c0',
      answers: [new TransientSyncError('503'), { changes: [change('a')], checkpoint: 'c1', hasMore: false }],
    });
    await h.start();
    expect(h.states.at(-1)).toBe('backingOff');
    expect(h.toParent).toEqual([
      expect.objectContaining({ type: 'PULL.RETRYING', retryAt: NOW + 1_000, attempt: 2 }),
    ]);
    await vi.advanceTimersByTimeAsync(999);
    expect(h.fetches).toEqual(['c0']);
    await vi.advanceTimersByTimeAsync(1);
    expect(h.fetches).toEqual(['c0', 'c0']);
    expect(h.output()).toMatchObject({ outcome: 'completed', counts: { retries: 1, pulledItems: 1 } });
  });

  it('gives up after maxAttempts transient failures of one page, with nothing applied past the last page', async () => {
    const h = harness({
      stored: 'c0',
      answers: [
        { changes: [change('a')], checkpoint: 'c1', hasMore: true },
        // The look-ahead's failure is dropped; the page is then fetched the ordinary way, with its retries.
        new TransientSyncError('down ahead'),
        new TransientSyncError('down'),
        new TransientSyncError('down'),
        new TransientSyncError('still down'),
      ],
    });
    await h.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(h.fetches).toEqual(['c0', 'c1', 'c1', 'c1', 'c1']);
    expect(h.applied.map((p) => p.checkpoint)).toEqual(['c1']);
    expect(h.output()).toMatchObject({
      outcome: 'aborted',
      counts: { pages: 1, retries: 2 },
      error: { code: 'TRANSIENT', message: 'still down', retryable: true },
    });
  });

  it('fetches the next page while the current one is written, and waits for it if the write is quicker', async () => {
    let releaseApply!: () => void;
    let releaseFetch!: () => void;
    const appliedSince: (string | undefined)[] = [];
    const fetchedSince: (string | undefined)[] = [];
    const pages: Record<string, FetchPageOutput> = {
      c0: { changes: [change('a')], checkpoint: 'c1', hasMore: true },
      c1: { changes: [change('b')], checkpoint: 'c2', hasMore: false },
    };
    const held = pullMachine.provide({
      actors: {
        readCheckpoint: fromPromise<ReadCheckpointOutput, ReadCheckpointInput>(async () => 'c0'),
        fetchPage: fromPromise<FetchPageOutput, FetchPageInput>(async ({ input }) => {
          fetchedSince.push(input.since);
          // The look-ahead (c1) waits until the test lets it go.
          if (input.since === 'c1') await new Promise<void>((resolve) => (releaseFetch = resolve));
          return pages[input.since ?? ''] as FetchPageOutput;
        }),
        applyPage: fromPromise<ApplyPageOutput, ApplyPageInput>(async ({ input }) => {
          appliedSince.push(input.page.since);
          if (input.page.since === 'c0') await new Promise<void>((resolve) => (releaseApply = resolve));
          return {
            pulled: input.page.changes.length,
            deleted: 0,
            conflicts: 0,
            echoes: 0,
            invalid: 0,
            refused: [],
            repush: [],
            dropped: 0,
            checkpoint: input.page.checkpoint,
          };
        }),
      },
    });
    let output: PullOutput | undefined;
    const parent = setup({ actors: { pull: held } }).createMachine({
      invoke: {
        id: 'pull',
        src: 'pull',
        onDone: {
          actions: ({ event }) => {
            output = event.output;
          },
        },
        input: pullInput(),
      },
    });
    const actor = createActor(parent);
    actor.start();
    const pull = () => actor.getSnapshot().children.pull;
    await vi.advanceTimersByTimeAsync(0);
    // Page 1 is being written and page 2 is already asked for.
    expect(appliedSince).toEqual(['c0']);
    expect(fetchedSince).toEqual(['c0', 'c1']);
    releaseApply();
    await vi.advanceTimersByTimeAsync(0);
    // The write was quicker: the pull waits for the page on its way instead of asking again.
    expect(pull()?.getSnapshot().value).toBe('awaitingAhead');
    releaseFetch();
    await vi.advanceTimersByTimeAsync(0);
    expect(appliedSince).toEqual(['c0', 'c1']);
    expect(fetchedSince).toEqual(['c0', 'c1']);
    expect(output).toMatchObject({
      outcome: 'completed',
      counts: { pages: 2, pulledItems: 2 },
    });
  });

  it('ends at once on a fatal error', async () => {
    const h = harness({ stored: 'c0', answers: [new FatalSyncError('401')] });
    await h.start();
    expect(h.states).toEqual(['reading', 'fetching', 'aborted']);
    expect(h.output()).toMatchObject({ outcome: 'aborted', error: { code: 'FATAL', retryable: false } });
  });

  it('a store error ends the pull; nothing later is applied', async () => {
    const h = harness({
      stored: 'c0',
      answers: [{ changes: [change('a')], checkpoint: 'c1', hasMore: true }],
      applyErrors: [new Error('disk full')],
    });
    await h.start();
    // The look-ahead of the next page went out (and found nothing scripted); nothing of it was applied.
    expect(h.fetches).toEqual(['c0', 'c1']);
    expect(h.applied).toEqual([]);
    expect(h.output()).toMatchObject({ outcome: 'aborted', error: { message: 'disk full' } });
  });

  it('a late page refused by the store is read again from the stored checkpoint', async () => {
    const h = harness({
      stored: 'c0',
      answers: [
        { changes: [change('a')], checkpoint: 'c1', hasMore: false },
        { changes: [change('a')], checkpoint: 'c1', hasMore: false },
      ],
      applyErrors: [new StalePageError('c0', 'c5')],
    });
    await h.start();
    expect(h.states).toEqual([
      'reading',
      'fetching',
      'received',
      'applying',
      'reading',
      'fetching',
      'received',
      'applying',
      'next',
      'done',
    ]);
    expect(h.output()?.outcome).toBe('completed');
  });

  it('a reset pulls again from the beginning, every page flagged, the next from the page before', async () => {
    const h = harness({
      stored: 'old',
      answers: [
        { reset: true },
        { changes: [change('a'), change('b')], checkpoint: 'r1', hasMore: true },
        { changes: [change('c')], checkpoint: 'r2', hasMore: false },
      ],
    });
    await h.start();
    expect(h.fetches).toEqual(['old', undefined, 'r1']);
    expect(h.applied).toEqual([
      { since: undefined, checkpoint: 'r1', reset: true, ids: ['a', 'b'] },
      { since: 'r1', checkpoint: 'r2', reset: true, ids: ['c'] },
    ]);
    expect(h.output()).toMatchObject({
      outcome: 'completed',
      counts: { resets: 1, pulledItems: 3, deletedItems: 2 },
    });
  });

  it('refuses a reset beyond the cap: PULL_RESET_LIMIT, not retryable, nothing applied', async () => {
    const h = harness({ stored: 'c0', resetsAllowed: 1, answers: [{ reset: true }, { reset: true }] });
    await h.start();
    expect(h.fetches).toEqual(['c0', undefined]);
    expect(h.applied).toEqual([]);
    expect(h.output()).toMatchObject({
      outcome: 'aborted',
      counts: { resets: 1 },
      error: { code: 'PULL_RESET_LIMIT', retryable: false },
    });
    const none = harness({ stored: 'c0', resetsAllowed: 0, answers: [{ reset: true }] });
    await none.start();
    expect(none.output()).toMatchObject({ outcome: 'aborted', counts: { resets: 0 } });
  });

  it('reports refused changes: the run completes, the refusals are listed and the error says why', async () => {
    const h = harness({
      answers: [{ changes: [change('a'), change('bad')], checkpoint: 'c1', hasMore: false }],
      refuse: (page) =>
        page.changes
          .filter((c) => c.id === 'bad')
          .map((c) => ({ id: c.id, error: 'not a record', kind: 'invalid' as const })),
    });
    await h.start();
    expect(h.output()).toMatchObject({
      outcome: 'completed',
      counts: { pulledItems: 1, refusedItems: 1 },
      refused: [{ id: 'bad', error: 'not a record', kind: 'invalid' }],
      error: { code: 'ITEM_FAILED', message: 'not a record', retryable: false },
    });
  });

  it('stopping the machine mid-request aborts the request through its signal', async () => {
    let aborted = false;
    const hung = pullMachine.provide({
      actors: {
        readCheckpoint: fromPromise<ReadCheckpointOutput, ReadCheckpointInput>(async () => undefined),
        fetchPage: fromPromise<FetchPageOutput, FetchPageInput>(
          ({ signal }) =>
            new Promise<FetchPageOutput>(() => {
              signal.addEventListener('abort', () => {
                aborted = true;
              });
            }),
        ),
      },
    });
    const actor = createActor(hung, {
      input: pullInput(),
    });
    actor.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(actor.getSnapshot().value).toBe('fetching');
    actor.stop();
    expect(aborted).toBe(true);
  });
});
