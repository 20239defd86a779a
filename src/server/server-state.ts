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
   * Applies a batch all or nothing: every result and every write is computed first and the state changes only
   * once all of them are known, so an error while applying (a bug, a throwing `reject`) leaves it as it was.
   */
  apply<T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject?: (item: T) => { error: string; retryable: boolean } | undefined,
    digest = '',
  ): ItemResult<T>[] {
    const key = `${entityType}\u0000${batchId}`;
    const previous = this.#replies.get(key);
    if (previous) {
      this.#duplicateBatches += 1;
      return structuredClone(previous.reply) as ItemResult<T>[];
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
    const answer = structuredClone(reply);
    // Nothing above changed the state; from here on nothing can fail.
    const target = this.#table(entityType);
    for (const [id, write] of writes) target.set(id, write);
    this.#replies.set(key, { digest, reply });
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

  toJSON(): SyncServerSnapshot {
    const items: SyncServerSnapshot['items'] = {};
    for (const [type, table] of this.#items) items[type] = Object.fromEntries(table);
    return { format: 'actorsync-server', items, replies: Object.fromEntries(this.#replies) };
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
