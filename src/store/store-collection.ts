import type { Subscription } from '../core/progress-stream.js';
import { assertEntityTypeName } from '../domain/names.js';
import type {
  FailureRecord,
  LocalChangeListener,
  LocalDataSource,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  PendingQuery,
  PulledPage,
  PulledPageOptions,
  PulledPageResult,
  ReadOptions,
  RepositoryEntity,
} from '../domain/types.js';
import { LocalChangeFeed, localChangeOf } from './local-changes.js';
import {
  type CommitDelta,
  commitResult,
  OutboxIndex,
  type PageDelta,
  type SavePlan,
} from './outbox-index.js';

/**
 * One change to one entity type, as a persistent store writes it before the index applies it: the lowdb store
 * journals it as one line, the IndexedDB store writes the rows it touches in one transaction.
 */
export type StoreChange<T extends RepositoryEntity = RepositoryEntity> =
  | { kind: 'save'; plan: SavePlan<T> }
  | { kind: 'delete'; id: string }
  | { kind: 'commit'; delta: CommitDelta<T> }
  | { kind: 'requeue'; ids: string[] }
  | { kind: 'page'; delta: PageDelta<T> };

/** A change planned against the state it will apply to (`undefined`: nothing to write), and its plan. */
export interface PlannedChange<P> {
  change: StoreChange | undefined;
  plan: P;
}

/** What a persistent store gives its collections: the in-memory index of a type, and its write queue. */
export interface CollectionHost {
  index(entityType: string): OutboxIndex<RepositoryEntity>;
  /**
   * Runs `prepare` in the write queue, against the state the change will apply to; writes the change it returns
   * (if any) durably, and only then `apply`s the plan, so nothing is visible before it is durable.
   */
  mutate<P, R>(entityType: string, prepare: () => PlannedChange<P>, apply: (plan: P) => R): Promise<R>;
  /**
   * Waits before a pulled page is queued, if the host wants to: planning a page is a pull's longest synchronous
   * stretch, and I/O the caller started just before (the pull machine's look-ahead request) should reach the socket
   * first, so the server works while this page is planned and written.
   */
  beforePulledPage?(): Promise<void>;
  /** The listeners of a type's changes (one feed per type, whichever collection object wrote). */
  changeFeed(entityType: string): LocalChangeFeed;
}

/** A persistent store's entity types, each an `OutboxIndex` in memory; the store adds how changes are written. */
export abstract class PersistentStore implements CollectionHost {
  /** In the order they were first loaded or written. */
  protected readonly indexes = new Map<string, OutboxIndex<RepositoryEntity>>();
  readonly #feeds = new Map<string, LocalChangeFeed>();
  /** The store's write queue: the last write queued, settled or not. */
  #tail: Promise<unknown> = Promise.resolve();

  /**
   * The `LocalDataSource` of one entity type (created empty on first use). New names follow `assertEntityTypeName`
   * (1-64 letters, digits, ".", "_" or "-", starting with a letter or digit); others throw `InvalidEntityError`.
   * A name the store already holds is always accepted: earlier versions stored any name, and their users must
   * keep reaching their data.
   */
  collection<T extends RepositoryEntity>(entityType: string): LocalDataSource<T> {
    if (!this.indexes.has(entityType)) assertEntityTypeName(entityType);
    return new StoreCollection<T>(this, entityType);
  }

  /** Entity types held, in the order they were first written. */
  get entityTypes(): string[] {
    return [...this.indexes.keys()];
  }

  /** @internal the in-memory state of a collection. */
  index(entityType: string): OutboxIndex<RepositoryEntity> {
    let index = this.indexes.get(entityType);
    if (!index) {
      index = this.newIndex();
      this.indexes.set(entityType, index);
    }
    return index;
  }

  /** Runs `work` once every write queued before it has settled (failed or not): writes run one at a time. */
  protected enqueue<R>(work: () => Promise<R>): Promise<R> {
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Resolves once every write queued so far has settled. */
  protected writesSettled(): Promise<void> {
    return this.#tail.then(() => undefined);
  }

  /** An empty index for a type: stores whose records other writers share say so here. */
  protected newIndex(): OutboxIndex<RepositoryEntity> {
    return new OutboxIndex();
  }

  /** @internal the listeners of a type's changes. */
  changeFeed(entityType: string): LocalChangeFeed {
    let feed = this.#feeds.get(entityType);
    if (!feed) {
      feed = new LocalChangeFeed();
      this.#feeds.set(entityType, feed);
    }
    return feed;
  }

  abstract mutate<P, R>(
    entityType: string,
    prepare: () => PlannedChange<P>,
    apply: (plan: P) => R,
  ): Promise<R>;
}

/** The `LocalDataSource` of one entity type of a persistent store: every rule is the index's; the host persists. */
export class StoreCollection<T extends RepositoryEntity> implements LocalDataSource<T> {
  readonly #host: CollectionHost;
  readonly #type: string;

  constructor(host: CollectionHost, entityType: string) {
    this.#host = host;
    this.#type = entityType;
  }

  /** The host's `mutate`, telling the type's listeners what was written once it is applied. */
  #mutate<P, R>(prepare: () => PlannedChange<P>, apply: (plan: P) => R): Promise<R> {
    let written: StoreChange | undefined;
    return this.#host.mutate(
      this.#type,
      () => {
        const planned = prepare();
        written = planned.change;
        return planned;
      },
      (plan) => {
        const result = apply(plan);
        if (written) {
          const change = localChangeOf(this.#type, written);
          if (change.ids.length > 0) this.#host.changeFeed(this.#type).emit(change);
        }
        return result;
      },
    );
  }

  subscribe(listener: LocalChangeListener): Subscription {
    return this.#host.changeFeed(this.#type).subscribe(listener);
  }

  get #index(): OutboxIndex<T> {
    return this.#host.index(this.#type) as unknown as OutboxIndex<T>;
  }

  async get(id: string, options?: ReadOptions): Promise<T | undefined> {
    return this.#index.get(id, options);
  }

  async getAll(options?: ReadOptions): Promise<T[]> {
    return this.#index.getAll(options);
  }

  async save(entity: T): Promise<void> {
    await this.saveMany([entity]);
  }

  async saveMany(entities: readonly T[]): Promise<readonly T[]> {
    // Validated before it is queued: a bad entity rejects the call and nothing is written.
    const prepared = this.#index.prepare(entities);
    return this.#mutate(
      () => {
        const plan = this.#index.planSave(prepared);
        // One write: the removals (tombstones of records no push saw) and the writes land together or not at all.
        const empty = plan.put.length === 0 && plan.removed.length === 0;
        return { change: empty ? undefined : { kind: 'save', plan }, plan };
      },
      (plan) => {
        this.#index.applySave(plan);
        return plan.put;
      },
    );
  }

  delete(id: string): Promise<boolean> {
    return this.#mutate(
      () => {
        const exists = this.#index.get(id, { includeDeleted: true }) !== undefined;
        return { change: exists ? { kind: 'delete', id } : undefined, plan: exists };
      },
      (exists) => exists && this.#index.delete(id),
    );
  }

  async outbox(now: number): Promise<OutboxSnapshot> {
    return this.#index.outbox(now);
  }

  async pending(query: PendingQuery): Promise<PendingPage<T>> {
    return this.#index.pending(query);
  }

  commit(commit: OutboxCommit<T>): Promise<OutboxCommitResult> {
    return this.#mutate(
      () => {
        const delta = this.#index.planCommit(commit);
        const changes =
          delta.synced.length + (delta.rebased?.length ?? 0) + delta.replaced.length + delta.failures.length;
        return { change: changes ? { kind: 'commit', delta } : undefined, plan: delta };
      },
      (delta) => {
        this.#index.applyDelta(delta);
        return commitResult(delta);
      },
    );
  }

  async failures(): Promise<FailureRecord[]> {
    return this.#index.failures();
  }

  async checkpoint(): Promise<string | undefined> {
    return this.#index.pullState().checkpoint;
  }

  async applyPulledPage(page: PulledPage, options: PulledPageOptions<T>): Promise<PulledPageResult> {
    await this.#host.beforePulledPage?.();
    return this.#mutate(
      () => {
        // Planned in the write queue, against the records the page will apply to.
        const planned = this.#index.planPage(page, options);
        // Always written, even with no change: the checkpoint (or the reset's progress) moves.
        return { change: { kind: 'page', delta: planned.delta }, plan: planned };
      },
      (planned) => this.#index.applyPlannedPage(planned),
    );
  }

  requeueFailures(ids?: readonly string[]): Promise<number> {
    return this.#mutate(
      () => {
        const requeued = this.#index.planRequeue(ids);
        return { change: requeued.length ? { kind: 'requeue', ids: requeued } : undefined, plan: requeued };
      },
      (requeued) => {
        this.#index.applyRequeue(requeued);
        return requeued.length;
      },
    );
  }
}
