import { type Actor, createActor, type InspectionEvent, type Observer } from 'xstate';
import { entityActorId } from '../../machines/coordinator.machine.js';
import type { CoordinatorCommand, CoordinatorInput } from '../../machines/coordinator.types.js';
import { createSyncMachine, runSources, type SyncDeps, type SyncTarget } from '../../machines/deps.js';
import type { RunReport, RunSnapshot } from '../../machines/entity-sync.types.js';
import {
  DEFAULT_MAX_BATCHES_IN_FLIGHT,
  DEFAULT_PULL_POLICY,
  type PullPolicy,
} from '../../machines/run-policy.js';
import { ProgressStream } from '../core/progress-stream.js';
import {
  CoordinatorStoppedError,
  errorMessage,
  InvalidOptionsError,
  MissingRemoteError,
  UnknownEntityTypeError,
} from '../domain/errors.js';
import { assertEntityTypeName } from '../domain/names.js';
import type {
  ConflictPolicy,
  FailureRecord,
  LocalDataSource,
  RemoteDataSource,
  RepositoryEntity,
  RetryOptions,
  SyncDirection,
  SyncLogger,
  SyncProgress,
  SyncResult,
} from '../domain/types.js';
import { resolveRetryPolicy } from '../protocol/backoff.js';
import { cancelledBeforeStart, toSyncProgress, toSyncResult } from './to-domain.js';

/** What the coordinator needs of a repository; the stock `Repository` fits. */
export interface SyncableRepository<T extends RepositoryEntity = RepositoryEntity> {
  readonly entityType: string;
  readonly local: LocalDataSource<T>;
  readonly remote?: RemoteDataSource<T> | undefined;
  /**
   * What a run does (see `SyncDirection`). Default: `'both'` when the store and the remote can pull
   * (`checkpoint`, `applyPulledPage`, `pullChanges`), else `'push'`.
   */
  readonly direction?: SyncDirection | undefined;
  /**
   * Keep the type up to date between runs: after a run, hold one long-poll request for the server's changes and
   * start a run (push, then pull) when one arrives. Needs a pulling direction. Default false.
   */
  readonly live?: boolean | undefined;
}

/**
 * The events an app may send the root actor through `send()`. Registering goes through `register()`, which also
 * gives the actors the repository's store and remote; a `SYNC` sent here answers no `sync()` call.
 */
export type SyncCommand =
  | { type: 'SYNC'; entityType: string }
  | { type: 'SYNC_ALL' }
  | { type: 'CANCEL'; entityType: string };

export interface SyncCoordinatorOptions {
  /** Sync every registered type on an interval. Default false. */
  enableAutoSync?: boolean;
  /** Default 300,000 (5 minutes). */
  autoSyncIntervalMs?: number;
  /** Items per batch. Default 100. */
  batchSize?: number;
  /**
   * Batch requests of one run in flight at once: any positive whole number. Default 2: the next batch's request
   * overlaps the current one's reply, which keeps client and server both busy (docs/performance.md has the
   * figures for 1, 2, 4 and 8, on loopback and over a slow network). Results are still handled in batch order (a
   * batch's outcome, retries included, is settled before a later batch's result is looked at), nothing new is
   * pushed during a retry wait, and a run that stops early leaves the batches pushed ahead pending (the server
   * acknowledges those versions again on the next run). 1 sends one request at a time.
   */
  maxBatchesInFlight?: number;
  /** Entity types that may sync at once. Default 1: runs are serialised in request order. */
  concurrency?: number;
  /** How conflicts reported by the remote are resolved. Default `'server-wins'`. */
  conflicts?: ConflictPolicy;
  retry?: RetryOptions;
  /** Where actorsync reports runs and failures. Default: nowhere. */
  logger?: SyncLogger;
  /** An XState inspection observer, passed to `createActor` (see docs/inspector.md). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Jitter source for backoff; `Math.random` by default. */
  random?: () => number;
  /** How pulls go. */
  pull?: PullOptions;
}

export interface PullOptions {
  /** Changes asked for per page (a server may send fewer). Default 1,000. */
  pageSize?: number;
  /** Seconds a live type's held request may wait before it is renewed. Default 25; at most 60. */
  liveWaitSeconds?: number;
  /**
   * Resets (pulls from the beginning the server asked for) allowed per entity type within `resetWindowMs`. One
   * more stops the run with `PULL_RESET_LIMIT`, and the type's next automatic run waits for the window. Default 3.
   */
  maxResets?: number;
  /** Default 3,600,000 (one hour). */
  resetWindowMs?: number;
}

type CoordinatorActor = Actor<ReturnType<typeof createSyncMachine>>;

interface PendingRequest {
  entityType: string;
  resolve(result: SyncResult): void;
  reject(error: Error): void;
}

const SILENT: SyncLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The facade over the actor tree: wires repositories into the machines, answers each `sync()` with the run that
 * covers it, and turns actor events into `SyncProgress` and `SyncResult`.
 */
export class SyncCoordinator {
  /** The root actor (`systemId` "coordinator"), for apps that embed or inspect the actors. */
  readonly actor: CoordinatorActor;
  /** Progress of every entity type: replays the latest per type to new subscribers, then live. */
  readonly progress: ProgressStream;
  readonly #repositories = new Map<string, SyncTarget>();
  readonly #requests = new Map<string, PendingRequest>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #logger: SyncLogger;
  /** The run whose first `syncing` snapshot each type has had: the one sent before its outbox was read. */
  readonly #announcedRuns = new Map<string, number>();
  #nextRequest = 0;
  #stopped = false;

  constructor(options: SyncCoordinatorOptions = {}) {
    const resolved = resolveOptions(options);
    this.#logger = options.logger ?? SILENT;
    this.progress = new ProgressStream((error) =>
      this.#logger.error('A progress listener threw', { error: errorMessage(error) }),
    );
    const deps: SyncDeps = {
      resolve: (entityType) => this.#target(entityType),
      ...(options.random ? { random: options.random } : {}),
      track: (work) => {
        this.#inFlight.add(work);
        void work.then(
          () => this.#inFlight.delete(work),
          () => this.#inFlight.delete(work),
        );
      },
    };
    this.actor = createActor(createSyncMachine(deps), {
      // The machines read the clock, mint batch keys and draw jitter only through the sources of `deps`.
      input: { ...resolved, sources: runSources(deps) },
      systemId: 'coordinator',
      ...(options.inspect ? { inspect: options.inspect } : {}),
    });
    this.actor.on('progress', ({ snapshot }) => {
      if (this.#isRunAnnouncement(snapshot)) return;
      this.progress.publish(toSyncProgress(snapshot));
    });
    this.actor.on('runFinished', ({ report, requestIds }) => this.#finish(report, requestIds));
    this.actor.on('requestsCancelled', ({ entityType, requestIds }) => {
      const state = this.progress.latest(entityType)?.state ?? 'idle';
      for (const id of requestIds)
        this.#settle(id, (r) => r.resolve(cancelledBeforeStart(entityType, state)));
    });
    this.actor.on('rejected', ({ requestId, entityType, registered }) => {
      const error = new UnknownEntityTypeError(entityType, registered);
      this.#logger.warn(error.message, { entityType, code: error.code });
      if (requestId !== undefined) this.#settle(requestId, (r) => r.reject(error));
    });
    this.actor.start();
  }

  /** Registered entity types, in registration order. */
  get entityTypes(): string[] {
    return [...this.#repositories.keys()];
  }

  /** Makes a repository's type known to the coordinator. Registering the same repository again does nothing. */
  register<T extends RepositoryEntity>(repository: SyncableRepository<T>): void {
    this.#assertRunning();
    const { entityType, local, remote } = repository;
    assertEntityTypeName(entityType);
    const existing = this.#repositories.get(entityType);
    if (existing) {
      if (existing.local === local && existing.remote === remote) return;
      throw new InvalidOptionsError(
        `Entity type "${entityType}" is already registered with another repository`,
      );
    }
    if (!remote) throw new MissingRemoteError(entityType);
    const { direction, live } = syncMode(repository, remote);
    this.#repositories.set(entityType, { local, remote } as SyncTarget);
    this.actor.send({ type: 'REGISTER', entityType, direction, live });
  }

  /**
   * Syncs one entity type, registering the repository if needed. Resolves with the result of a run that started
   * after this call, so everything saved before it is covered; never rejects because items failed (see `state`).
   */
  sync<T extends RepositoryEntity>(target: SyncableRepository<T> | string): Promise<SyncResult> {
    try {
      this.#assertRunning();
      const entityType = typeof target === 'string' ? target : target.entityType;
      if (typeof target !== 'string') this.register(target);
      else if (!this.#repositories.has(entityType))
        throw new UnknownEntityTypeError(entityType, this.entityTypes);
      const requestId = `sync-${++this.#nextRequest}`;
      const result = new Promise<SyncResult>((resolve, reject) => {
        this.#requests.set(requestId, { entityType, resolve, reject });
      });
      this.actor.send({ type: 'SYNC', entityType, requestId });
      return result;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Syncs every registered type (in registration order, `concurrency` at a time). */
  syncAll(): Promise<SyncResult[]> {
    return Promise.all(this.entityTypes.map((entityType) => this.sync(entityType)));
  }

  /** True exactly while a run of `entityType` is active (pushing or pulling), retry waits included. */
  isSyncing(entityType: string): boolean {
    const child = this.actor.getSnapshot().children[entityActorId(entityType)];
    return child?.getSnapshot().matches('syncing') ?? false;
  }

  /** The latest progress of `entityType`, if it has synced. */
  getProgress(entityType: string): SyncProgress | undefined {
    return this.progress.latest(entityType);
  }

  /**
   * Sends `SYNC`, `SYNC_ALL` or `CANCEL` to the root actor; anything else is refused (`InvalidOptionsError`). Only
   * the fields named in `SyncCommand` are passed on: a `requestId` would tie the run to another caller's `sync()`.
   */
  send(command: SyncCommand): void {
    this.#assertRunning();
    this.actor.send(appCommand(command));
  }

  /** Cancels the run of `entityType` (aborting its request) and any run queued for it. */
  cancel(entityType: string): void {
    this.send({ type: 'CANCEL', entityType });
  }

  /** Failure records of `entityType`: scheduled retries first, then dead letters. */
  failures(entityType: string): Promise<FailureRecord[]> {
    try {
      return this.#target(entityType).local.failures();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Clears the failure records of `entityType` (all, or `ids`) and syncs it. */
  async retryFailed(entityType: string, ids?: readonly string[]): Promise<SyncResult> {
    const requeued = await this.#target(entityType).local.requeueFailures(ids);
    this.#logger.info('Re-queued failed items', { entityType, requeued });
    return this.sync(entityType);
  }

  /**
   * Stops every actor and timer and aborts in-flight requests; waits for in-flight store writes to settle.
   * Open `sync()` calls resolve as cancelled. Safe to call more than once.
   */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true;
      this.#cancelEverything();
      this.actor.stop();
      for (const [id, request] of this.#requests) {
        const state = this.progress.latest(request.entityType)?.state ?? 'idle';
        this.#settle(id, (r) => r.resolve(cancelledBeforeStart(request.entityType, state)));
      }
      this.progress.close();
    }
    await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Cancels queued runs, then active ones, through the machines' own CANCEL, so a `sync()` whose run was under way
   * resolves with that run's counts and duration (`cancelled: true`) rather than an empty result. Queued runs go
   * first: a cancelled active run would otherwise start the next one.
   */
  #cancelEverything(): void {
    const { queue, active } = this.actor.getSnapshot().context;
    const activeTypes = Object.keys(active);
    const queuedOnly = queue.map((run) => run.entityType).filter((type) => !activeTypes.includes(type));
    for (const entityType of [...queuedOnly, ...activeTypes]) this.actor.send({ type: 'CANCEL', entityType });
  }

  /**
   * The entity actor reports a run as soon as it starts, before the run has read its outbox: that snapshot's
   * zero total says nothing yet (a `syncing 0% (0/0)` that the next snapshot, with the real total, repeats), so it
   * is not published. Only the first `syncing` snapshot of a run with every count at zero is held back.
   */
  #isRunAnnouncement(snapshot: RunSnapshot): boolean {
    if (snapshot.state !== 'syncing' || this.#announcedRuns.get(snapshot.entityType) === snapshot.runId) {
      return false;
    }
    this.#announcedRuns.set(snapshot.entityType, snapshot.runId);
    const { totalItems, syncedItems, failedItems, conflicts, retries } = snapshot.counts;
    return totalItems === 0 && syncedItems === 0 && failedItems === 0 && conflicts === 0 && retries === 0;
  }

  #finish(report: RunReport, requestIds: readonly string[]): void {
    const result = toSyncResult(report);
    const details = { entityType: result.entityType, runId: result.runId, syncedItems: result.syncedItems };
    if (result.state === 'error') {
      this.#logger.warn(`Sync of "${result.entityType}" ended in error: ${result.errorMessage}`, {
        ...details,
        failedItems: result.failedItems,
      });
    } else {
      this.#logger.info(
        `Sync of "${result.entityType}" ${result.cancelled ? 'cancelled' : 'finished'}`,
        details,
      );
    }
    for (const id of requestIds) this.#settle(id, (r) => r.resolve(result));
  }

  #settle(requestId: string, settle: (request: PendingRequest) => void): void {
    const request = this.#requests.get(requestId);
    if (!request) return;
    this.#requests.delete(requestId);
    settle(request);
  }

  #target(entityType: string): SyncTarget {
    const target = this.#repositories.get(entityType);
    if (!target) throw new UnknownEntityTypeError(entityType, this.entityTypes);
    return target;
  }

  #assertRunning(): void {
    if (this.#stopped) throw new CoordinatorStoppedError();
  }
}

/** The event `send()` passes on, rebuilt from the accepted fields (JavaScript callers are not type-checked). */
function appCommand(command: SyncCommand): CoordinatorCommand {
  const type: unknown = (command as { type?: unknown } | null)?.type;
  switch (type) {
    case 'SYNC':
    case 'CANCEL':
      return { type, entityType: (command as { entityType: string }).entityType };
    case 'SYNC_ALL':
      return { type };
    default:
      throw new InvalidOptionsError(
        `send() accepts SYNC, SYNC_ALL or CANCEL (register types with register()), got ${JSON.stringify(type) ?? String(type)}`,
      );
  }
}

function resolveOptions(options: SyncCoordinatorOptions): Omit<CoordinatorInput, 'sources'> {
  const batchSize = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 1;
  const autoSyncIntervalMs = options.autoSyncIntervalMs ?? 300_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new InvalidOptionsError(`batchSize must be a whole number from 1 to 10,000, got ${batchSize}`);
  }
  const maxBatchesInFlight = options.maxBatchesInFlight ?? DEFAULT_MAX_BATCHES_IN_FLIGHT;
  if (!Number.isSafeInteger(maxBatchesInFlight) || maxBatchesInFlight < 1) {
    throw new InvalidOptionsError(
      `maxBatchesInFlight must be a whole number of at least 1, got ${JSON.stringify(maxBatchesInFlight) ?? String(maxBatchesInFlight)}`,
    );
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionsError(`concurrency must be a whole number of at least 1, got ${concurrency}`);
  }
  if (!Number.isFinite(autoSyncIntervalMs) || autoSyncIntervalMs < 1) {
    throw new InvalidOptionsError(`autoSyncIntervalMs must be a positive number, got ${autoSyncIntervalMs}`);
  }
  const conflicts = options.conflicts ?? 'server-wins';
  if (conflicts !== 'server-wins' && conflicts !== 'client-wins' && typeof conflicts !== 'function') {
    throw new InvalidOptionsError(
      `conflicts must be 'server-wins', 'client-wins' or a function, got ${JSON.stringify(conflicts)}`,
    );
  }
  return {
    concurrency,
    enableAutoSync: options.enableAutoSync ?? false,
    autoSyncIntervalMs,
    policy: {
      batchSize,
      retry: resolveRetryPolicy(options.retry),
      conflicts,
      maxBatchesInFlight,
      pull: resolvePullPolicy(options.pull ?? {}),
    },
  };
}

function resolvePullPolicy(options: PullOptions): PullPolicy {
  const policy = { ...DEFAULT_PULL_POLICY, ...definedOnly(options) };
  const wholeIn = (name: keyof PullPolicy, least: number, most: number) => {
    const value: unknown = policy[name];
    if (!Number.isSafeInteger(value) || (value as number) < least || (value as number) > most) {
      throw new InvalidOptionsError(
        `pull.${name} must be a whole number from ${least} to ${most}, got ${JSON.stringify(value) ?? String(value)}`,
      );
    }
  };
  wholeIn('pageSize', 1, 10_000);
  wholeIn('maxResets', 0, 1_000);
  wholeIn('resetWindowMs', 1, 2 ** 31 - 1);
  const wait: unknown = policy.liveWaitSeconds;
  if (typeof wait !== 'number' || !Number.isFinite(wait) || wait < 1 || wait > 60) {
    throw new InvalidOptionsError(
      `pull.liveWaitSeconds must be a number of seconds from 1 to 60, got ${JSON.stringify(wait) ?? String(wait)}`,
    );
  }
  return policy;
}

/** The options an app set, without keys it left `undefined` (they keep the defaults). */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * A repository's direction and live mode, checked against what its store and remote can do: pulling needs the
 * store's `checkpoint` and `applyPulledPage` and the remote's `pullChanges`; live mode needs pulling.
 */
function syncMode(
  repository: SyncableRepository<RepositoryEntity>,
  remote: RemoteDataSource<RepositoryEntity>,
): { direction: SyncDirection; live: boolean } {
  const { entityType, local } = repository;
  const missing = [
    typeof local.checkpoint === 'function' ? undefined : "the store's checkpoint()",
    typeof local.applyPulledPage === 'function' ? undefined : "the store's applyPulledPage()",
    typeof remote.pullChanges === 'function' ? undefined : "the remote's pullChanges()",
  ].filter((part) => part !== undefined);
  const direction = repository.direction ?? (missing.length === 0 ? 'both' : 'push');
  if (direction !== 'push' && direction !== 'pull' && direction !== 'both') {
    throw new InvalidOptionsError(
      `direction of "${entityType}" must be 'push', 'pull' or 'both', got ${JSON.stringify(direction) ?? String(direction)}`,
    );
  }
  if (direction !== 'push' && missing.length > 0) {
    throw new InvalidOptionsError(
      `"${entityType}" cannot ${direction === 'pull' ? 'pull' : 'push and pull'}: it needs ${missing.join(', ')}`,
    );
  }
  const live = repository.live ?? false;
  if (typeof live !== 'boolean') {
    throw new InvalidOptionsError(`live of "${entityType}" must be true or false, got ${typeof live}`);
  }
  if (live && direction === 'push') {
    throw new InvalidOptionsError(`"${entityType}" cannot be live: it only pushes (live mode watches pulls)`);
  }
  return { direction, live };
}
