import { fromPromise } from 'xstate';
import { InvalidOptionsError } from '../src/domain/errors.js';
import type { LocalDataSource, RemoteDataSource, RepositoryEntity } from '../src/domain/types.js';
import { backoffDelay } from '../src/protocol/backoff.js';
import { validatePullReply } from '../src/protocol/pull-reply.js';
import { validateReply } from '../src/protocol/reply.js';
import { batchPushMachine } from './batch-push.machine.js';
import type {
  CommitBatchInput,
  CommitBatchOutput,
  LoadPageInput,
  LoadPageOutput,
  OpenOutboxInput,
  OpenOutboxOutput,
  PushBatchInput,
  PushBatchOutput,
} from './batch-push.types.js';
import { coordinatorMachine } from './coordinator.machine.js';
import { entitySyncMachine } from './entity-sync.machine.js';
import { pullMachine } from './pull.machine.js';
import type {
  ApplyPageInput,
  ApplyPageOutput,
  FetchPageInput,
  FetchPageOutput,
  ReadCheckpointInput,
  ReadCheckpointOutput,
  WatchChangesInput,
  WatchChangesOutput,
} from './pull.types.js';
import type { RunSources } from './run-policy.js';

/** Where one entity type's records live and where they go. */
export interface SyncTarget {
  local: LocalDataSource<RepositoryEntity>;
  remote: RemoteDataSource<RepositoryEntity>;
}

/** The narrow port the machines' I/O runs on. */
export interface SyncDeps {
  /** The storage and remote of a registered type; throws for an unknown one. */
  resolve(entityType: string): SyncTarget;
  /** Epoch ms; `Date.now` by default. The machines read time only through this. */
  now?: () => number;
  /** A fresh unique key per run, the stem of its batch ids (the server's idempotency keys); a random UUID by default. */
  newBatchKey?: () => string;
  /** Jitter for backoff, in [0, 1); `Math.random` by default. */
  random?: () => number;
  /** Told of every I/O promise, so an owner can wait for in-flight writes before closing a store. */
  track?: (work: Promise<unknown>) => void;
}

/** The clock, id and jitter sources of `deps`, defaults filled in: what the machines' input carries. */
export function runSources(deps: Pick<SyncDeps, 'now' | 'newBatchKey' | 'random'> = {}): RunSources {
  return {
    now: deps.now ?? (() => Date.now()),
    newBatchKey: deps.newBatchKey ?? (() => globalThis.crypto.randomUUID()),
    random: deps.random ?? (() => Math.random()),
  };
}

/** Hands every I/O promise to `deps.track`, so an owner can wait for in-flight writes before closing a store. */
function tracker(deps: SyncDeps) {
  return <T>(work: Promise<T>): Promise<T> => {
    deps.track?.(work);
    return work;
  };
}

/** The batch machine's I/O actors over `deps`. Each honours its abort signal where the work can be aborted. */
export function makeSyncActors(deps: SyncDeps) {
  const { now, random } = runSources(deps);
  const tracked = tracker(deps);
  return {
    openOutbox: fromPromise<OpenOutboxOutput, OpenOutboxInput>(async ({ input }) =>
      tracked(deps.resolve(input.entityType).local.outbox(now())),
    ),
    loadPage: fromPromise<LoadPageOutput, LoadPageInput>(async ({ input }) =>
      tracked(
        deps.resolve(input.entityType).local.pending({
          limit: input.limit,
          ...(input.after === undefined ? {} : { after: input.after }),
          upTo: input.upTo,
          now: now(),
        }),
      ),
    ),
    pushBatch: fromPromise<PushBatchOutput, PushBatchInput>(async ({ input, signal }) => {
      const { remote } = deps.resolve(input.entityType);
      const reply: unknown = await tracked(
        remote.syncBatch(input.items, { signal, batchId: input.batchId, entityType: input.entityType }),
      );
      // The remote is outside our control: check its reply before anything is marked synced.
      return validateReply(input.items, reply);
    }),
    commitBatch: fromPromise<CommitBatchOutput, CommitBatchInput>(async ({ input }) => {
      const { plan, retry } = input;
      return tracked(
        deps.resolve(input.entityType).local.commit({
          acks: plan.acks,
          replace: plan.replace,
          failures: plan.failures,
          failurePolicy: {
            maxItemAttempts: retry.maxItemAttempts,
            retryDelayMs: (attempts) => backoffDelay(attempts, retry, random),
          },
          now: now(),
        }),
      );
    }),
  };
}

/** The parts of a target a pull needs; a type registered to pull has them (the facade checks at `register`). */
function pullTarget(deps: SyncDeps, entityType: string) {
  const { local, remote } = deps.resolve(entityType);
  const { checkpoint, applyPulledPage } = local;
  const { pullChanges } = remote;
  if (!checkpoint || !applyPulledPage || !pullChanges) {
    throw new InvalidOptionsError(
      `Entity type "${entityType}" cannot pull: its store needs checkpoint() and applyPulledPage(), its remote pullChanges()`,
    );
  }
  return {
    checkpoint: () => checkpoint.call(local),
    applyPulledPage: applyPulledPage.bind(local),
    pullChanges: pullChanges.bind(remote),
  };
}

/** The pull machine's I/O actors over `deps`, and the live watch of an entity actor. */
export function makePullActors(deps: SyncDeps) {
  const { now } = runSources(deps);
  const tracked = tracker(deps);
  return {
    readCheckpoint: fromPromise<ReadCheckpointOutput, ReadCheckpointInput>(async ({ input }) =>
      tracked(pullTarget(deps, input.entityType).checkpoint()),
    ),
    fetchPage: fromPromise<FetchPageOutput, FetchPageInput>(async ({ input, signal }) => {
      const reply: unknown = await tracked(
        pullTarget(deps, input.entityType).pullChanges({
          entityType: input.entityType,
          since: input.since,
          limit: input.limit,
          signal,
        }),
      );
      // The remote is outside our control: check its reply before anything is applied.
      return validatePullReply(reply, input.limit, input.since);
    }),
    applyPage: fromPromise<ApplyPageOutput, ApplyPageInput>(async ({ input }) =>
      tracked(
        pullTarget(deps, input.entityType).applyPulledPage(input.page, {
          conflicts: input.conflicts,
          now: now(),
        }),
      ),
    ),
    /**
     * Live mode: one held request for changes after the stored checkpoint (the server answers when one arrives
     * or the wait is over). Only says whether there is something to pull; the run that follows pulls it.
     */
    watchChanges: fromPromise<WatchChangesOutput, WatchChangesInput>(async ({ input, signal }) => {
      const target = pullTarget(deps, input.entityType);
      const since = await tracked(target.checkpoint());
      const reply: unknown = await tracked(
        target.pullChanges({
          entityType: input.entityType,
          since,
          limit: 1,
          wait: input.waitSeconds,
          signal,
        }),
      );
      const page = validatePullReply(reply, 1, since);
      return page.reset === true || page.changes.length > 0 ? 'changed' : 'quiet';
    }),
  };
}

/** The coordinator machine with every level's I/O bound to `deps`. */
export function createSyncMachine(deps: SyncDeps) {
  const { watchChanges, ...pullActors } = makePullActors(deps);
  return coordinatorMachine.provide({
    actors: {
      entitySync: entitySyncMachine.provide({
        actors: {
          batchPush: batchPushMachine.provide({ actors: makeSyncActors(deps) }),
          pull: pullMachine.provide({ actors: pullActors }),
          watchChanges,
        },
      }),
    },
  });
}
