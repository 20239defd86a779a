import type {
  FailureRecord,
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
import { OutboxIndex } from './outbox-index.js';

/** A complete `LocalDataSource` held in memory: for apps that persist elsewhere, and for tests. */
export class MemoryLocalDataSource<T extends RepositoryEntity> implements LocalDataSource<T> {
  readonly #index = new OutboxIndex<T>();

  constructor(initial: readonly T[] = []) {
    this.#index.put(this.#index.prepare(initial));
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

  async saveMany(entities: readonly T[]): Promise<void> {
    this.#index.applySave(this.#index.planSave(this.#index.prepare(entities)));
  }

  async delete(id: string): Promise<boolean> {
    return this.#index.delete(id);
  }

  async outbox(now: number): Promise<OutboxSnapshot> {
    return this.#index.outbox(now);
  }

  async pending(query: PendingQuery): Promise<PendingPage<T>> {
    return this.#index.pending(query);
  }

  async commit(commit: OutboxCommit<T>): Promise<OutboxCommitResult> {
    return this.#index.commit(commit);
  }

  async failures(): Promise<FailureRecord[]> {
    return this.#index.failures();
  }

  async requeueFailures(ids?: readonly string[]): Promise<number> {
    return this.#index.requeueFailures(ids);
  }

  async checkpoint(): Promise<string | undefined> {
    return this.#index.pullState().checkpoint;
  }

  /** Planned and applied in one synchronous step: nothing else runs between the two. */
  async applyPulledPage(page: PulledPage, options: PulledPageOptions<T>): Promise<PulledPageResult> {
    return this.#index.applyPlannedPage(this.#index.planPage(page, options));
  }
}
