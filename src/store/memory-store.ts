import type { Subscription } from '../core/progress-stream.js';
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
import { commitResult, OutboxIndex } from './outbox-index.js';
import type { StoreChange } from './store-collection.js';

/** A complete `LocalDataSource` held in memory: for apps that persist elsewhere, and for tests. */
export class MemoryLocalDataSource<T extends RepositoryEntity> implements LocalDataSource<T> {
  readonly #index = new OutboxIndex<T>();
  readonly #changes = new LocalChangeFeed();
  /** The entity type its changes are reported under; a memory store is not told its type, so this is a label. */
  readonly #label: string;

  constructor(initial: readonly T[] = [], options: { entityType?: string } = {}) {
    this.#index.put(this.#index.prepare(initial));
    this.#label = options.entityType ?? '';
  }

  subscribe(listener: LocalChangeListener): Subscription {
    return this.#changes.subscribe(listener);
  }

  #emit(change: StoreChange): void {
    if (this.#changes.listenerCount === 0) return;
    const local = localChangeOf(this.#label, change);
    if (local.ids.length > 0) this.#changes.emit(local);
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
    const plan = this.#index.planSave(this.#index.prepare(entities));
    this.#index.applySave(plan);
    this.#emit({ kind: 'save', plan });
    return plan.put;
  }

  async delete(id: string): Promise<boolean> {
    const deleted = this.#index.delete(id);
    if (deleted) this.#emit({ kind: 'delete', id });
    return deleted;
  }

  async outbox(now: number): Promise<OutboxSnapshot> {
    return this.#index.outbox(now);
  }

  async pending(query: PendingQuery): Promise<PendingPage<T>> {
    return this.#index.pending(query);
  }

  async commit(commit: OutboxCommit<T>): Promise<OutboxCommitResult> {
    const delta = this.#index.planCommit(commit);
    this.#index.applyDelta(delta);
    this.#emit({ kind: 'commit', delta });
    return commitResult(delta);
  }

  async failures(): Promise<FailureRecord[]> {
    return this.#index.failures();
  }

  async requeueFailures(ids?: readonly string[]): Promise<number> {
    const requeued = this.#index.planRequeue(ids);
    this.#index.applyRequeue(requeued);
    this.#emit({ kind: 'requeue', ids: requeued });
    return requeued.length;
  }

  async checkpoint(): Promise<string | undefined> {
    return this.#index.pullState().checkpoint;
  }

  /** Planned and applied in one synchronous step: nothing else runs between the two. */
  async applyPulledPage(page: PulledPage, options: PulledPageOptions<T>): Promise<PulledPageResult> {
    const planned = this.#index.planPage(page, options);
    const result = this.#index.applyPlannedPage(planned);
    this.#emit({ kind: 'page', delta: planned.delta });
    return result;
  }
}
