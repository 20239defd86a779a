/**
 * Model-based tests of the entity sync machine.
 *
 * `createTestModel` only accepts machines without `invoke`/`after`, so the paths come from a small pure model whose
 * states mirror the real entity actor (`idle`, `syncing`, `synced`, `error`) and whose events are the things a test
 * can make happen: start a run, edit an item while its batch is in flight, let the remote answer in one of several
 * ways, cancel. Every generated path is then played against the REAL actor tree: `createSyncMachine(deps)` (the
 * coordinator, with the real entity and batch machines and the real I/O actors from `makeSyncActors`) over a
 * `MemoryLocalDataSource` and a `TestRemote`. After every step the real entity state must equal the model state, and
 * the store and the remote must agree: nothing is marked synced locally unless the remote holds that exact version.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { type Actor, type ActorRefFrom, assign, createActor, type SnapshotFrom, setup } from 'xstate';
import { createTestModel, type TestPath } from 'xstate/graph';
import { batchPushMachine } from '../../machines/batch-push.machine.js';
import { coordinatorMachine, entityActorId } from '../../machines/coordinator.machine.js';
import type { CoordinatorInput } from '../../machines/coordinator.types.js';
import { createSyncMachine, makeSyncActors, runSources, type SyncDeps } from '../../machines/deps.js';
import { entitySyncMachine, syncStateOf } from '../../machines/entity-sync.machine.js';
import type { RunReport } from '../../machines/entity-sync.types.js';
import { DEFAULT_PULL_POLICY } from '../../machines/run-policy.js';
import { toSyncResult } from '../../src/coordinator/to-domain.js';
import { FatalSyncError, PermanentSyncError } from '../../src/domain/errors.js';
import type { RepositoryEntity, RetryPolicy } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
import { MemoryLocalDataSource } from '../../src/store/memory-store.js';
import { TestRemote } from '../helpers/test-remote.js';

// ---------------------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------------------

type ModelEvent =
  /** Save a new version of every item, then ask the coordinator to sync; the run's first push is held in flight. */
  | { type: 'SYNC' }
  /** Save a new version of item `a` (`EDITED_ID`) while the batch holding its previous version is in flight. */
  | { type: 'EDIT_DURING_FLIGHT' }
  /** The remote accepts everything. */
  | { type: 'BATCH_OK' }
  /** The remote rejects item `b` (`REJECTED_ID`) permanently (`failed`, `retryable: false`), accepts the rest. */
  | { type: 'ITEM_REJECTED' }
  /** The remote throws a `PermanentSyncError` for the held batch: its items fail permanently. */
  | { type: 'BATCH_REJECTED' }
  /** The remote throws a `FatalSyncError`: the whole run stops at once. */
  | { type: 'REMOTE_FATAL' }
  /** Cancel the run while its batch is in flight. */
  | { type: 'CANCEL' };

interface ModelContext {
  /** Runs started so far: bounds the graph and must equal the real entity's `runId`. */
  runs: number;
  /** Whether item `a` (`EDITED_ID`) was edited while this run's first batch was in flight. */
  editedInFlight: boolean;
}

/** A pure model of the entity actor: no `invoke`, no `after`, so `createTestModel` can traverse it. */
function createEntitySyncModel(maxRuns: number) {
  return setup({
    types: { context: {} as ModelContext, events: {} as ModelEvent },
    guards: {
      mayStartRun: ({ context }) => context.runs < maxRuns,
      notEditedYet: ({ context }) => !context.editedInFlight,
    },
    actions: {
      startRun: assign(({ context }) => ({ runs: context.runs + 1, editedInFlight: false })),
      markEdited: assign({ editedInFlight: true }),
    },
  }).createMachine({
    id: 'entitySyncModel',
    context: { runs: 0, editedInFlight: false },
    initial: 'idle',
    states: {
      idle: { on: { SYNC: { guard: 'mayStartRun', target: 'syncing', actions: 'startRun' } } },
      syncing: {
        on: {
          EDIT_DURING_FLIGHT: { guard: 'notEditedYet', actions: 'markEdited' },
          BATCH_OK: 'synced',
          ITEM_REJECTED: 'error',
          BATCH_REJECTED: 'error',
          REMOTE_FATAL: 'error',
          CANCEL: 'idle',
        },
      },
      synced: { on: { SYNC: { guard: 'mayStartRun', target: 'syncing', actions: 'startRun' } } },
      error: { on: { SYNC: { guard: 'mayStartRun', target: 'syncing', actions: 'startRun' } } },
    },
  });
}

type EntitySyncModel = ReturnType<typeof createEntitySyncModel>;
type ModelSnapshot = SnapshotFrom<EntitySyncModel>;
type StepEventType = ModelEvent['type'] | 'xstate.init';

// ---------------------------------------------------------------------------------------------------------------
// The real system
// ---------------------------------------------------------------------------------------------------------------

interface Note extends RepositoryEntity {
  title: string;
}

const TYPE = 'note';
const IDS = ['a', 'b', 'c'] as const;
/** Two items per batch: every run pushes `[a, b]` (held in flight) and then `[c]`. */
const BATCH_SIZE = 2;
const EDITED_ID = 'a';
/**
 * Never the edited item. How a run should count the rejection of a version that was edited locally meanwhile is
 * unsettled (today it counts as failed although the item left the run, and no failure record is kept for it), so
 * the model keeps the rejected item and the edited one apart.
 */
const REJECTED_ID = 'b';
/** No in-run backoff delays; an aborted run schedules its retry a minute out, far beyond any test here. */
const RETRY: RetryPolicy = { baseDelayMs: 0, maxDelayMs: 60_000, maxAttempts: 1, maxItemAttempts: 8 };
const STEP_TIMEOUT_MS = 2_000;

type CoordinatorMachine = typeof coordinatorMachine;
type EntityActor = ActorRefFrom<typeof entitySyncMachine>;

async function within<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)),
      STEP_TIMEOUT_MS,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The real actor tree for one entity type, with handles to steer the remote and inspect both ends. */
class RealSystem {
  readonly local = new MemoryLocalDataSource<Note>();
  readonly remote = new TestRemote<Note>();
  readonly repo = new Repository<Note>({ entityType: TYPE, local: this.local, remote: this.remote });
  readonly actor: Actor<CoordinatorMachine>;
  readonly reports: RunReport[] = [];
  /** The model event whose effects the next state check looks at. */
  lastEvent: StepEventType = 'xstate.init';
  #hold: { reached: Promise<void>; release: () => void } | undefined;
  /** `remote.calls.length` when the current (or last) run started. */
  #callsAtRunStart = 0;

  /** Batches in flight: with 2 or more, `[c]` may go out (and be applied) while `[a, b]` is held. */
  readonly inFlight: number;

  constructor(build: (deps: SyncDeps) => CoordinatorMachine = createSyncMachine, inFlight = 1) {
    this.inFlight = inFlight;
    const deps: SyncDeps = {
      resolve: (entityType) => {
        if (entityType !== TYPE) throw new Error(`unexpected entity type ${entityType}`);
        return { local: this.local, remote: this.remote };
      },
    };
    const input: CoordinatorInput = {
      concurrency: 1,
      enableAutoSync: false,
      autoSyncIntervalMs: 300_000,
      policy: {
        batchSize: BATCH_SIZE,
        retry: RETRY,
        conflicts: 'server-wins',
        maxBatchesInFlight: inFlight,
        pull: DEFAULT_PULL_POLICY,
      },
      sources: runSources(),
    };
    this.actor = createActor(build(deps), { input });
    this.actor.on('runFinished', ({ report }) => this.reports.push(report));
  }

  async start(): Promise<void> {
    await this.repo.saveMany(IDS.map((id) => ({ id, title: `${id} v1` })));
    this.actor.start();
    this.actor.send({ type: 'REGISTER', entityType: TYPE });
  }

  stop(): void {
    this.#hold?.release();
    this.actor.stop();
  }

  entity(): EntityActor {
    const child = this.actor.getSnapshot().children[entityActorId(TYPE)];
    if (!child) throw new Error(`the coordinator has no child ${entityActorId(TYPE)}`);
    return child as EntityActor;
  }

  // --- model events, played for real ---------------------------------------------------------------------------

  async sync(): Promise<void> {
    const run = this.entity().getSnapshot().context.runId + 1;
    await this.repo.saveMany(IDS.map((id) => ({ id, title: `${id} for run ${run}` })));
    this.#hold = this.remote.holdNext();
    this.#callsAtRunStart = this.remote.calls.length;
    this.actor.send({ type: 'SYNC', entityType: TYPE });
    await within(this.#hold.reached, 'the run to push its first batch');
  }

  async editInFlight(): Promise<void> {
    await this.repo.save({ id: EDITED_ID, title: `${EDITED_ID} edited while its batch was in flight` });
  }

  /** Arranges how the remote answers the held batch, lets it go and waits for the run to finish. */
  async answer(arrange: () => void): Promise<void> {
    const hold = this.#hold;
    if (!hold) throw new Error('no batch is held in flight');
    const finished = this.#nextRunFinished();
    arrange();
    this.#hold = undefined;
    hold.release();
    await within(finished, 'the run to finish');
    this.remote.clearRejects();
  }

  async cancel(): Promise<void> {
    const finished = this.#nextRunFinished();
    this.actor.send({ type: 'CANCEL', entityType: TYPE });
    await within(finished, 'the cancelled run to report');
    this.#hold = undefined;
  }

  #nextRunFinished(): Promise<RunReport> {
    return new Promise((resolve) => {
      const subscription = this.actor.on('runFinished', ({ report }) => {
        subscription.unsubscribe();
        resolve(report);
      });
    });
  }

  // --- the oracle ----------------------------------------------------------------------------------------------

  /** Asserts the real system agrees with the model state reached by `this.lastEvent`. */
  async check(model: ModelSnapshot): Promise<void> {
    const event = this.lastEvent;
    const root = this.actor.getSnapshot();
    expect(root.status, 'coordinator status').toBe('active');
    await this.#checkStoreAgainstRemote(event, model);
    const entity = this.entity().getSnapshot();
    expect(entity.status, 'entity status').toBe('active');
    expect(syncStateOf(entity), 'entity state').toBe(model.value);
    expect(entity.context.runId, 'entity runId').toBe(model.context.runs);
    expect(TYPE in root.context.active, 'coordinator counts the type as active').toBe(
      model.value === 'syncing',
    );
    expect(root.context.queue, 'coordinator queue').toEqual([]);
    expect(this.reports, 'one report per finished run').toHaveLength(
      model.context.runs - (model.value === 'syncing' ? 1 : 0),
    );

    this.#checkRemoteCalls(event);
    if (model.value === 'syncing') {
      expect(entity.context.error, 'no error while syncing').toBeUndefined();
      expect(entity.context.nextRetryAt, 'no retry scheduled while the batch is in flight').toBeUndefined();
      return;
    }
    if (event === 'xstate.init') {
      expect(entity.context.lastRun, 'no run yet').toBeUndefined();
      return;
    }
    this.#checkReport(event, model, entity.context.lastRun);
  }

  /** Synced locally ⇒ the remote holds that exact version; plus what each outcome leaves pending. */
  async #checkStoreAgainstRemote(event: StepEventType, model: ModelSnapshot): Promise<void> {
    const records = await this.local.getAll();
    expect(records.map((r) => r.id).sort(), 'local records').toEqual([...IDS]);
    for (const record of records) {
      const stored = this.remote.stored(TYPE, record.id);
      if (!record.syncPending) {
        expect(
          stored?.item,
          `"${record.id}" is marked synced, so the remote must hold that exact version`,
        ).toEqual(record);
      } else if (this.inFlight > 1 && record.id === 'c') {
        // Pushed ahead while [a, b] was held: applied, but its result is handled only after [a, b]'s (and never,
        // if the run stops first). The next run sends that version again and the remote acknowledges it.
        expect(stored?.item.version ?? 0, `remote version of pending "${record.id}"`).toBeLessThanOrEqual(
          record.version,
        );
      } else {
        // Only this client writes, so a pending version is one the remote has never applied.
        expect(stored?.item.version ?? 0, `remote version of pending "${record.id}"`).toBeLessThan(
          record.version,
        );
      }
      if (stored) {
        const versions = stored.appliedVersions;
        expect(versions, `"${record.id}" applied at most once per version, in order`).toEqual(
          [...new Set(versions)].sort((x, y) => x - y),
        );
        expect(stored.appliedCount, `"${record.id}" apply count`).toBe(versions.length);
      }
    }

    const pending = records
      .filter((r) => r.syncPending)
      .map((r) => r.id)
      .sort();
    expect(pending, `items left pending after ${event}`).toEqual(expectedPending(event, model));

    const failures = await this.local.failures();
    for (const failure of failures) {
      const record = records.find((r) => r.id === failure.id);
      expect(failure.version, `failure record of "${failure.id}" is for the stored version`).toBe(
        record?.version,
      );
      expect(record?.syncPending, `"${failure.id}" has a failure record, so it is still pending`).toBe(true);
    }
    expect(failures.map((f) => f.id).sort(), `failure records after ${event}`).toEqual(
      expectedFailureRecords(event, model),
    );
    for (const failure of failures) {
      expect(failure.deadLettered, `permanent failure of "${failure.id}" is dead-lettered`).toBe(true);
      expect(failure.nextAttemptAt, `no automatic retry of "${failure.id}"`).toBeUndefined();
    }
  }

  /** Which batches reached the remote in the current run. */
  #checkRemoteCalls(event: StepEventType): void {
    const calls = this.remote.calls.slice(this.#callsAtRunStart);
    const ids = calls.map((call) => call.ids);
    // While [a, b] is held, [c] is either not pushed yet or (with 2 or more in flight) pushed ahead.
    const whileHeld: string[][][] = this.inFlight > 1 ? [[['a', 'b']], [['a', 'b'], ['c']]] : [[['a', 'b']]];
    switch (event) {
      case 'xstate.init':
        expect(ids, 'no pushes before the first run').toEqual([]);
        break;
      case 'SYNC':
      case 'EDIT_DURING_FLIGHT':
        expect(whileHeld, 'only the held first batch, and at most [c] ahead of it').toContainEqual(ids);
        expect(calls[0]?.signal.aborted, 'the held batch is not aborted').toBe(false);
        break;
      case 'BATCH_OK':
      case 'ITEM_REJECTED':
      case 'BATCH_REJECTED':
        expect(ids, 'both batches pushed once').toEqual([['a', 'b'], ['c']]);
        expect(new Set(calls.map((c) => c.batchId)).size, 'distinct batch ids').toBe(2);
        break;
      case 'REMOTE_FATAL':
        expect(whileHeld, 'a fatal error stops the run before the second batch is handled').toContainEqual(
          ids,
        );
        break;
      case 'CANCEL':
        expect(whileHeld, 'cancel stops the run before the second batch is handled').toContainEqual(ids);
        expect(calls[0]?.signal.aborted, 'cancel aborts the in-flight request').toBe(true);
        break;
    }
  }

  #checkReport(event: StepEventType, model: ModelSnapshot, lastRun: RunReport | undefined): void {
    const report = this.reports.at(-1);
    expect(report, 'the emitted report is the entity’s lastRun').toEqual(lastRun);
    if (!report) return;
    const entity = this.entity().getSnapshot().context;
    const edited = model.context.editedInFlight;
    expect(report.runId, 'report runId').toBe(model.context.runs);
    expect(report.state, 'report state').toBe(model.value);
    expect(report.cancelled, 'report cancelled').toBe(event === 'CANCEL');
    expect(entity.nextRetryAt, 'entity nextRetryAt matches the report').toBe(report.nextRetryAt);
    expect(entity.error, 'entity error matches the report').toEqual(report.error);
    // The error travels as data; the facade words it.
    const { errorMessage, errorCode } = toSyncResult(report);
    const { counts } = report;
    switch (event) {
      case 'BATCH_OK':
        // An item edited in flight leaves the run: its stale ack is not counted.
        expect(counts, 'counts').toMatchObject({
          totalItems: edited ? 2 : 3,
          syncedItems: edited ? 2 : 3,
          failedItems: 0,
        });
        expect(errorMessage).toBeUndefined();
        expect(report.nextRetryAt).toBeUndefined();
        break;
      case 'ITEM_REJECTED':
        // a and c, or only c when a was edited in flight (its stale ack leaves the run).
        expect(counts, 'counts').toMatchObject({
          totalItems: edited ? 2 : 3,
          syncedItems: edited ? 1 : 2,
          failedItems: 1,
        });
        expect(report.failures, 'failed items').toEqual([
          { id: REJECTED_ID, error: 'title must not be empty', attempts: 1, deadLettered: true },
        ]);
        expect(errorMessage).toBe(
          `1 of ${counts.totalItems} items failed to sync; last error: title must not be empty`,
        );
        expect(errorCode, 'an item the remote refused').toBe('ITEM_FAILED');
        expect(report.nextRetryAt, 'a permanent failure schedules no retry').toBeUndefined();
        break;
      case 'BATCH_REJECTED':
        expect(counts.syncedItems, 'synced: c').toBe(1);
        if (!edited) expect(counts.failedItems, 'failed: a and b').toBe(2);
        else expect(counts.failedItems, 'failed: b at least').toBeGreaterThanOrEqual(1);
        expect(
          report.failures.map((item) => item.id),
          'failed items',
        ).toEqual(edited ? ['b'] : ['a', 'b']);
        expect(report.failures.every((item) => item.deadLettered)).toBe(true);
        expect(errorMessage).toMatch(/items failed to sync; last error: 413 batch too large$/);
        expect(errorCode, 'the batch error behind its items').toBe('PERMANENT');
        expect(report.nextRetryAt, 'a permanent failure schedules no retry').toBeUndefined();
        break;
      case 'REMOTE_FATAL':
        expect(counts.syncedItems, 'nothing synced').toBe(0);
        expect(errorMessage).toMatch(/Sync run stopped/);
        expect(errorCode, 'a fatal remote error keeps its code').toBe('FATAL');
        expect(report.nextRetryAt, 'an aborted run schedules another one').toBeGreaterThan(Date.now());
        expect(report.nextRetryAt).toBeLessThanOrEqual(Date.now() + RETRY.maxDelayMs);
        break;
      case 'CANCEL':
        expect(errorMessage).toBeUndefined();
        expect(report.nextRetryAt).toBeUndefined();
        expect(report.failures).toEqual([]);
        break;
      default:
        throw new Error(`no run finishes on ${event}`);
    }
  }
}

/** Ids the model says are still pending locally after `event`, in id order. */
function expectedPending(event: StepEventType, model: ModelSnapshot): string[] {
  const edited = model.context.editedInFlight;
  switch (event) {
    case 'BATCH_OK':
      return edited ? ['a'] : [];
    case 'ITEM_REJECTED':
      return edited ? [EDITED_ID, REJECTED_ID] : [REJECTED_ID];
    case 'BATCH_REJECTED':
      return ['a', 'b'];
    default:
      // Before any run, while a batch is in flight, after a fatal error or a cancel: nothing was acknowledged.
      return [...IDS];
  }
}

/** Ids with a failure record after `event`: only failures of versions still stored are recorded. */
function expectedFailureRecords(event: StepEventType, model: ModelSnapshot): string[] {
  const edited = model.context.editedInFlight;
  switch (event) {
    case 'ITEM_REJECTED':
      return [REJECTED_ID];
    case 'BATCH_REJECTED':
      return edited ? ['b'] : ['a', 'b'];
    default:
      // Every run starts with new versions of all items, so older failure records no longer apply.
      return [];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Playing a model path against the real system
// ---------------------------------------------------------------------------------------------------------------

let system: RealSystem | undefined;

afterEach(() => {
  system?.stop();
  system = undefined;
});

type ModelPath = TestPath<ModelSnapshot, ModelEvent>;

async function playPath(
  path: ModelPath,
  build?: (deps: SyncDeps) => CoordinatorMachine,
  inFlight = 1,
): Promise<void> {
  const sut = new RealSystem(build, inFlight);
  system = sut;
  await sut.start();
  const on =
    (type: ModelEvent['type'], exec: () => Promise<void>): (() => Promise<void>) =>
    async () => {
      sut.lastEvent = type;
      await exec();
    };
  await path.test({
    events: {
      SYNC: on('SYNC', () => sut.sync()),
      EDIT_DURING_FLIGHT: on('EDIT_DURING_FLIGHT', () => sut.editInFlight()),
      BATCH_OK: on('BATCH_OK', () => sut.answer(() => {})),
      ITEM_REJECTED: on('ITEM_REJECTED', () =>
        sut.answer(() => sut.remote.reject(REJECTED_ID, 'title must not be empty', false)),
      ),
      BATCH_REJECTED: on('BATCH_REJECTED', () =>
        sut.answer(() => sut.remote.failNext(1, () => new PermanentSyncError('413 batch too large'))),
      ),
      REMOTE_FATAL: on('REMOTE_FATAL', () =>
        sut.answer(() => sut.remote.failNext(1, () => new FatalSyncError('401 credentials rejected'))),
      ),
      CANCEL: on('CANCEL', () => sut.cancel()),
    },
    states: { '*': (state) => sut.check(state) },
  });
}

/**
 * The test model. Only events the model enables are explored: by default an event whose guard fails would still be
 * a step (the snapshot serialises differently "via" it), and the real system cannot play a step the model ignores.
 */
function testModel(maxRuns: number) {
  return createTestModel(createEntitySyncModel(maxRuns), {
    filterEvents: (snapshot, event) => snapshot.can(event),
  });
}

const EVENT_TYPES: readonly ModelEvent['type'][] = [
  'SYNC',
  'EDIT_DURING_FLIGHT',
  'BATCH_OK',
  'ITEM_REJECTED',
  'BATCH_REJECTED',
  'REMOTE_FATAL',
  'CANCEL',
];

/** Every event of the model occurs in some generated path. */
function expectFullEventCoverage(paths: readonly ModelPath[]): void {
  const seen = new Set(paths.flatMap((path) => path.steps.map((step) => step.event.type)));
  for (const type of EVENT_TYPES) expect(seen.has(type), `some path sends ${type}`).toBe(true);
}

// Simple paths of a two-run model: every loop-free route through two runs (deduplicated: prefixes of longer
// paths are dropped). Shortest paths of a three-run model add the deeper three-run sequences cheaply.
const simplePaths = testModel(2).getSimplePaths();
const shortestPaths = testModel(3).getShortestPaths();

describe('entity sync machine: model-based', () => {
  it('generates paths that cover every model event and all four states', () => {
    expect(simplePaths.length).toBeGreaterThan(50);
    expect(shortestPaths.length).toBeGreaterThan(10);
    expectFullEventCoverage(simplePaths);
    expectFullEventCoverage(shortestPaths);
    const states = new Set(simplePaths.flatMap((path) => path.steps.map((step) => String(step.state.value))));
    expect([...states].sort()).toEqual(['error', 'idle', 'synced', 'syncing']);
  });

  // 1: one request at a time; 2 (the default) and 4: [c] is pushed ahead while [a, b] is held.
  for (const inFlight of [1, 2, 4]) {
    describe(`maxBatchesInFlight ${inFlight}`, () => {
      describe('simple paths (two runs)', () => {
        for (const path of simplePaths) {
          it(path.description, async () => {
            await playPath(path, undefined, inFlight);
          });
        }
      });

      describe('shortest paths (three runs)', () => {
        for (const path of shortestPaths) {
          it(path.description, async () => {
            await playPath(path, undefined, inFlight);
          });
        }
      });
    });
  }

  describe('the oracle can fail', () => {
    const pathTo = (events: ModelEvent['type'][]): ModelPath => {
      const [path] = testModel(2).getPathsFromEvents(events.map((type) => ({ type })));
      if (!path) throw new Error(`no model path for ${events.join(' → ')}`);
      return path;
    };

    it('exercises the lookahead: with 2 in flight, [c] goes out while [a, b] is held', async () => {
      await playPath(pathTo(['SYNC']), undefined, 2);
      const remote = system?.remote;
      for (let waited = 0; (remote?.calls.length ?? 0) < 2 && waited < 2_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(remote?.calls.map((call) => call.ids)).toEqual([['a', 'b'], ['c']]);
    });

    it('catches an entity machine that reports synced after a failed batch', async () => {
      const mutant = (deps: SyncDeps): CoordinatorMachine =>
        coordinatorMachine.provide({
          actors: {
            entitySync: entitySyncMachine.provide({
              guards: { endsInError: () => false },
              actors: { batchPush: batchPushMachine.provide({ actors: makeSyncActors(deps) }) },
            }),
          },
        });
      await expect(playPath(pathTo(['SYNC', 'ITEM_REJECTED']), mutant)).rejects.toThrow(/entity state/);
    });

    it('catches items marked synced that the remote does not hold', async () => {
      // A remote that claims success for an item it rejected: the store marks it synced, the invariant objects.
      const lying = (deps: SyncDeps): CoordinatorMachine => {
        const { remote } = deps.resolve(TYPE);
        if (remote instanceof TestRemote) {
          remote.tamper = (reply) => reply.map((result) => ({ id: result.id, status: 'ok' as const }));
        }
        return createSyncMachine(deps);
      };
      await expect(playPath(pathTo(['SYNC', 'ITEM_REJECTED']), lying)).rejects.toThrow(
        /remote must hold that exact version/,
      );
    });
  });
});
