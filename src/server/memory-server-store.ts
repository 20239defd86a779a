import { StoreCorruptError } from '../domain/errors.js';
import type { RepositoryEntity } from '../domain/types.js';
import { DurableJSONFile } from '../store/durable-json-file.js';
import {
  type ChangesRead,
  type StoredItem,
  type SyncServerSnapshot,
  SyncServerState,
  type SyncServerStateOptions,
} from './server-state.js';
import type { Scope, ServerBatch, ServerBatchOutcome, ServerStore } from './server-store.js';

export interface MemoryServerStoreOptions extends SyncServerStateOptions {
  /** Persist to this JSON file, rewritten (durably) before each applied batch is committed. Default: memory only. */
  file?: string;
}

/** The partition of the default principal (one `token`): its types are the state's plain type names. */
export const DEFAULT_PARTITION = 'default';

/** The state file could not be written: the batch was not applied, and the client may send it again. */
export class PersistError extends Error {
  constructor(override readonly cause: unknown) {
    super('The server could not save its state; the batch was not applied');
  }
}

/**
 * The zero-setup server store: one process's memory (`SyncServerState`), optionally persisted to one JSON file.
 * Batches are applied one at a time, each written to the file as the state will be before it is committed in
 * memory, so a failed write leaves nothing of the batch applied. One process only: a second process on the same
 * file would not see the first one's writes (use the PostgreSQL store for that).
 */
export class MemoryServerStore implements ServerStore {
  readonly state: SyncServerState;
  readonly #persistence: DurableJSONFile<SyncServerSnapshot> | undefined;
  /** Batches applied so far, one at a time; never left rejected, so one failed write does not fail the next. */
  #writes: Promise<unknown> = Promise.resolve();

  private constructor(state: SyncServerState, persistence: DurableJSONFile<SyncServerSnapshot> | undefined) {
    this.state = state;
    this.#persistence = persistence;
  }

  static async open(options: MemoryServerStoreOptions = {}): Promise<MemoryServerStore> {
    const { file, ...stateOptions } = options;
    const persistence = file ? openPersistence(file) : undefined;
    const saved = await persistence?.read();
    const state = saved ? SyncServerState.fromJSON(saved, stateOptions) : new SyncServerState(stateOptions);
    // A file without an epoch (new, or written before the change feed) gets one on disk before any checkpoint is
    // handed out, so checkpoints stay valid across a restart.
    if (persistence && saved?.epoch !== state.epoch) await persistence.write(state.toJSON());
    return new MemoryServerStore(state, persistence);
  }

  applyBatch<T extends RepositoryEntity>(batch: ServerBatch<T>): Promise<ServerBatchOutcome<T>> {
    const key = stateKey(batch.scope);
    const run = this.#writes.then(async (): Promise<ServerBatchOutcome<T>> => {
      if (this.state.isKeyReused(key, batch.batchId, batch.digest)) return { status: 'keyReused' };
      const plan = this.state.plan(key, batch.batchId, batch.items, batch.reject, batch.digest);
      if (this.#persistence && !plan.duplicate) {
        try {
          await this.#persistence.write(this.state.toJSON(plan));
        } catch (error) {
          throw new PersistError(error);
        }
      }
      const reply = this.state.commit(plan);
      return { status: plan.duplicate ? 'duplicate' : 'applied', reply };
    });
    this.#writes = run.catch(() => {});
    return run;
  }

  async changes(scope: Scope, since: string | undefined, limit: number): Promise<ChangesRead> {
    return this.state.changes(stateKey(scope), since, limit);
  }

  async list(scope: Scope): Promise<StoredItem[]> {
    return this.state.list(stateKey(scope));
  }

  watch(listener: (scope: Scope) => void): () => void {
    return this.state.watch((key) => listener(scopeOf(key)));
  }

  async check(): Promise<void> {}

  async close(): Promise<void> {
    await this.#writes.catch(() => {});
  }
}

/**
 * The state's name for a scope. The default principal's types keep their plain names (files written before
 * partitions hold them); any other partition is a prefix no type name can hold (type names have no NUL).
 */
export function stateKey({ partition, entityType }: Scope): string {
  return partition === DEFAULT_PARTITION ? entityType : `${partition}\u0000${entityType}`;
}

function scopeOf(key: string): Scope {
  const cut = key.lastIndexOf('\u0000');
  return cut < 0
    ? { partition: DEFAULT_PARTITION, entityType: key }
    : { partition: key.slice(0, cut), entityType: key.slice(cut + 1) };
}

function openPersistence(file: string): DurableJSONFile<SyncServerSnapshot> {
  return new DurableJSONFile<SyncServerSnapshot>(file, (data) => {
    const snapshot = data as Partial<SyncServerSnapshot> | null;
    const isMap = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
    if (snapshot?.format !== 'actorsync-server' || !isMap(snapshot.items) || !isMap(snapshot.replies)) {
      throw new StoreCorruptError(file, 'it is not an actorsync server file');
    }
    return snapshot as SyncServerSnapshot;
  });
}
