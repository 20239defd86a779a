import type { ItemResult, RepositoryEntity } from '../domain/types.js';

/** One record as the server holds it. */
export interface StoredItem {
  item: RepositoryEntity;
  /** How many times a version of this record was applied; proves nothing was applied twice. */
  appliedCount: number;
  /** Every version applied, in order. */
  appliedVersions: number[];
}

/**
 * The server side of the sync protocol, without transport: applies each item once, checks versions, and
 * remembers every batch's reply by its id so a retried batch is answered without being applied again.
 */
/** The state as persisted. */
export interface SyncServerSnapshot {
  format: 'actorsync-server';
  items: Record<string, Record<string, StoredItem>>;
  replies: Record<string, { digest: string; reply: ItemResult[] }>;
}

/** What applying one batch will do (see `SyncServerState.plan`). */
export interface BatchPlan<T extends RepositoryEntity = RepositoryEntity> {
  readonly key: string;
  readonly entityType: string;
  readonly digest: string;
  /** The batch was applied before: `reply` is the stored one and nothing is written. */
  readonly duplicate: boolean;
  readonly writes: ReadonlyMap<string, StoredItem>;
  readonly reply: ItemResult<T>[];
}

export class SyncServerState {
  readonly #items = new Map<string, Map<string, StoredItem>>();
  readonly #replies = new Map<string, { digest: string; reply: ItemResult[] }>();
  #batchesApplied = 0;
  #duplicateBatches = 0;

  get batchesApplied(): number {
    return this.#batchesApplied;
  }

  /** Batches answered from the idempotency store instead of being applied. */
  get duplicateBatches(): number {
    return this.#duplicateBatches;
  }

  /** The reply a batch got, if it was applied. */
  replyFor(entityType: string, batchId: string): ItemResult[] | undefined {
    return this.#replies.get(`${entityType}\u0000${batchId}`)?.reply;
  }

  /** Whether `batchId` was applied with a different batch (`digest` of its items): a reused key. */
  isKeyReused(entityType: string, batchId: string, digest: string): boolean {
    const previous = this.#replies.get(`${entityType}\u0000${batchId}`);
    return previous !== undefined && previous.digest !== digest;
  }

  /**
   * Applies a batch all or nothing: `plan` then `commit`. An error while planning (a bug, a throwing `reject`)
   * leaves the state as it was.
   */
  apply<T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject?: (item: T) => { error: string; retryable: boolean } | undefined,
    digest = '',
  ): ItemResult<T>[] {
    return this.commit(this.plan(entityType, batchId, items, reject, digest));
  }

  /**
   * Everything applying a batch would do, computed without changing the state: its reply and its writes, or the
   * stored reply of a batch already applied. Persist `toJSON(plan)` first, then `commit(plan)`, so a write that
   * fails leaves nothing of the batch applied.
   */
  plan<T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject?: (item: T) => { error: string; retryable: boolean } | undefined,
    digest = '',
  ): BatchPlan<T> {
    const key = `${entityType}\u0000${batchId}`;
    const previous = this.#replies.get(key);
    if (previous) {
      return {
        key,
        entityType,
        digest,
        duplicate: true,
        writes: new Map(),
        reply: previous.reply as ItemResult<T>[],
      };
    }
    const table = this.#items.get(entityType);
    const writes = new Map<string, StoredItem>();
    const reply: ItemResult<T>[] = items.map((item): ItemResult<T> => {
      const stored = writes.get(item.id) ?? table?.get(item.id);
      // The same version again (a lost reply, then a new batch) is already applied: acknowledge it, never reject.
      if (stored && stored.item.version === item.version && sameContent(stored.item, item)) {
        return { id: item.id, status: 'ok' };
      }
      const rejection = reject?.(item);
      if (rejection) return { id: item.id, status: 'failed', ...rejection };
      if (stored && stored.item.version >= item.version) {
        return { id: item.id, status: 'conflict', remote: structuredClone(stored.item) as T };
      }
      writes.set(item.id, {
        item: { ...structuredClone(item), syncPending: false },
        appliedCount: (stored?.appliedCount ?? 0) + 1,
        appliedVersions: [...(stored?.appliedVersions ?? []), item.version],
      });
      return { id: item.id, status: 'ok' };
    });
    return { key, entityType, digest, duplicate: false, writes, reply };
  }

  /**
   * Makes a plan the state, and returns the batch's reply (a copy). Only for a plan made against the current
   * state: nothing may be applied between `plan` and `commit`.
   */
  commit<T extends RepositoryEntity>(plan: BatchPlan<T>): ItemResult<T>[] {
    if (plan.duplicate) {
      this.#duplicateBatches += 1;
      return structuredClone(plan.reply);
    }
    const answer = structuredClone(plan.reply);
    // Everything was computed by `plan`; from here on nothing can fail.
    const target = this.#table(plan.entityType);
    for (const [id, write] of plan.writes) target.set(id, write);
    this.#replies.set(plan.key, { digest: plan.digest, reply: plan.reply });
    this.#batchesApplied += 1;
    return answer;
  }

  /** Writes a record as another client would (tests use it to cause conflicts). */
  put(entityType: string, item: RepositoryEntity): void {
    const table = this.#table(entityType);
    const stored = table.get(item.id);
    table.set(item.id, {
      item: { ...structuredClone(item), syncPending: false },
      appliedCount: (stored?.appliedCount ?? 0) + 1,
      appliedVersions: [...(stored?.appliedVersions ?? []), item.version],
    });
  }

  get(entityType: string, id: string): StoredItem | undefined {
    const stored = this.#items.get(entityType)?.get(id);
    return stored ? structuredClone(stored) : undefined;
  }

  list(entityType: string): StoredItem[] {
    return [...(this.#items.get(entityType)?.values() ?? [])].map((stored) => structuredClone(stored));
  }

  /** The state as persisted; with a plan, the state as it will be once the plan is committed. */
  toJSON(pending?: BatchPlan<RepositoryEntity>): SyncServerSnapshot {
    const items: SyncServerSnapshot['items'] = {};
    for (const [type, table] of this.#items) items[type] = Object.fromEntries(table);
    const replies = Object.fromEntries(this.#replies);
    if (pending && !pending.duplicate) {
      items[pending.entityType] = { ...items[pending.entityType], ...Object.fromEntries(pending.writes) };
      replies[pending.key] = { digest: pending.digest, reply: pending.reply };
    }
    return { format: 'actorsync-server', items, replies };
  }

  static fromJSON(snapshot: SyncServerSnapshot): SyncServerState {
    const state = new SyncServerState();
    for (const [type, table] of Object.entries(snapshot.items))
      state.#items.set(type, new Map(Object.entries(table)));
    for (const [key, entry] of Object.entries(snapshot.replies)) state.#replies.set(key, entry);
    return state;
  }

  #table(entityType: string): Map<string, StoredItem> {
    let table = this.#items.get(entityType);
    if (!table) {
      table = new Map();
      this.#items.set(entityType, table);
    }
    return table;
  }
}

function sameContent(a: RepositoryEntity, b: RepositoryEntity): boolean {
  const strip = ({ syncPending: _, ...rest }: RepositoryEntity) => rest;
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}
