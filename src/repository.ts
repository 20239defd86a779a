import type { Subscription } from './core/progress-stream.js';
import { isTombstone, markDeleted, markUpdated } from './domain/entity.js';
import { InvalidEntityError, InvalidOptionsError } from './domain/errors.js';
import { assertEntityTypeName } from './domain/names.js';
import type {
  EntityFields,
  LocalChangeListener,
  LocalDataSource,
  RemoteDataSource,
  RepositoryEntity,
  SyncDirection,
} from './domain/types.js';

export interface RepositoryOptions<T extends RepositoryEntity> {
  /** The name the coordinator, the remote and progress events know this type by. */
  entityType: string;
  local: LocalDataSource<T>;
  /** Without one the repository stores locally but cannot be synced. */
  remote?: RemoteDataSource<T>;
  /**
   * What a sync of this type does: `'push'` its local changes, `'pull'` the server's, or `'both'` (push, then
   * pull). Default: `'both'` when the store and the remote can pull, else `'push'`.
   */
  direction?: SyncDirection;
  /** Keep the type up to date between syncs with one held request for the server's changes (pulling types). */
  live?: boolean;
  /** Epoch ms; replace in tests. */
  now?: () => number;
  /** Ids for records saved without one. Default `crypto.randomUUID()` (Node 20 and browsers, in secure contexts). */
  newId?: () => string;
}

/**
 * The stock repository: app code saves records through it, which marks them pending; the coordinator syncs them.
 * Users may write their own; the coordinator only needs `entityType`, `local` and `remote`.
 */
export class Repository<T extends RepositoryEntity> {
  readonly entityType: string;
  readonly local: LocalDataSource<T>;
  readonly remote: RemoteDataSource<T> | undefined;
  readonly direction: SyncDirection | undefined;
  readonly live: boolean | undefined;
  readonly #now: () => number;
  readonly #newId: () => string;
  #saves: Promise<unknown> = Promise.resolve();

  constructor(options: RepositoryOptions<T>) {
    assertEntityTypeName(options.entityType);
    this.entityType = options.entityType;
    this.local = options.local;
    this.remote = options.remote;
    this.direction = options.direction;
    this.live = options.live;
    this.#now = options.now ?? Date.now;
    this.#newId = options.newId ?? (() => globalThis.crypto.randomUUID());
  }

  /** Stores the record and marks it pending: a new version, `updatedAt` now, `createdAt` on first save. */
  async save(fields: EntityFields<T> | T): Promise<T> {
    const [entity] = await this.saveMany([fields]);
    return entity as T;
  }

  /** Like `save` for many records, in one store write. */
  saveMany(records: readonly (EntityFields<T> | T)[]): Promise<T[]> {
    // Saves run one at a time: each reads the stored version and writes the next, and two saves of one record
    // that interleaved would both claim the same version (an ack of one would then mark the other synced).
    const run = this.#saves.then(() => this.#saveMany(records));
    this.#saves = run.catch(() => {});
    return run;
  }

  async #saveMany(records: readonly (EntityFields<T> | T)[]): Promise<T[]> {
    const now = this.#now();
    const entities: T[] = [];
    for (const fields of records) {
      if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
        throw new InvalidEntityError(
          `save() takes a plain object, got ${fields === null ? 'null' : typeof fields}`,
        );
      }
      const id = fields.id ?? this.#newId();
      if (typeof id !== 'string' || id.length === 0) {
        throw new InvalidEntityError(`save() needs a non-empty string id, got ${JSON.stringify(id)}`);
      }
      // A tombstone's version too: a record saved again after a delete counts on from it, above the server's.
      const existing = await this.local.get(id, { includeDeleted: true });
      // `deleted` and `baseVersion` are bookkeeping: a record saved is live (deleting is `delete`'s job), and the
      // server version a change is built on is the store's to know, never the app's.
      const {
        deleted: _deleted,
        baseVersion: _baseVersion,
        ownVersions: _ownVersions,
        ...live
      } = fields as EntityFields<T> & { deleted?: unknown; baseVersion?: unknown; ownVersions?: unknown };
      // The app's fields on the stored bookkeeping (a new record's version counts from 0), then marked changed.
      const current = {
        ...live,
        id,
        createdAt: existing?.createdAt ?? now,
        updatedAt: existing?.updatedAt ?? now,
        version: existing?.version ?? 0,
        syncPending: existing?.syncPending ?? false,
        ...(existing?.baseVersion === undefined ? {} : { baseVersion: existing.baseVersion }),
      } as T;
      entities.push(markUpdated(current, now));
    }
    const stored = await this.local.saveMany(entities);
    return stored ? withStoredVersions(entities, stored) : entities;
  }

  /** The record, or `undefined`; deleted records (tombstones) are never returned. */
  async get(id: string): Promise<T | undefined> {
    const record = await this.local.get(id);
    // A store of an app's own may not know about tombstones: hidden here too.
    return record && !isTombstone(record) ? record : undefined;
  }

  /** Every live record; deleted records (tombstones) are left out. */
  async getAll(): Promise<T[]> {
    return (await this.local.getAll()).filter((record) => !isTombstone(record));
  }

  /**
   * Deletes the record: writes its tombstone (the next version, `deleted: true`, the user's fields dropped) as a
   * pending change, which the next sync pushes like any change; the store removes it once the remote acknowledged
   * it. A record no push has seen yet is removed at once (the stores know which; see `LocalDataSource`). Resolves
   * `false` when there is no live record `id`. Runs in turn with saves, so it never races one for a version.
   */
  delete(id: string): Promise<boolean> {
    const run = this.#saves.then(async () => {
      const existing = await this.local.get(id, { includeDeleted: true });
      if (!existing || isTombstone(existing)) return false;
      await this.local.saveMany([markDeleted(existing, this.#now())]);
      return true;
    });
    this.#saves = run.catch(() => {});
    return run;
  }

  /**
   * Calls `listener` after every write to this type's local records: the app's saves and deletes, a sync's
   * acknowledgements and conflict resolutions, pulled pages, and (IndexedDB) other tabs' writes. Views re-read on
   * it. Throws `InvalidOptionsError` if the store cannot report changes (a custom `LocalDataSource` without
   * `subscribe`): every store actorsync ships can.
   */
  subscribe(listener: LocalChangeListener): Subscription {
    if (typeof this.local.subscribe !== 'function') {
      throw new InvalidOptionsError(
        `The local store of ${JSON.stringify(this.entityType)} cannot report changes (it has no subscribe method)`,
      );
    }
    const entityType = this.entityType;
    return this.local.subscribe((change) =>
      listener(change.entityType === entityType ? change : { ...change, entityType }),
    );
  }

  /** Records not yet acknowledged by the remote, including those waiting for a retry and dead letters. */
  async pendingCount(): Promise<number> {
    return (await this.local.outbox(this.#now())).pending;
  }
}

/**
 * The saved records with the version the store gave each: a store shared with other writers (tabs) puts a save
 * planned from a stale read on top of the stored version, so the caller's number may be behind.
 */
function withStoredVersions<T extends RepositoryEntity>(saved: T[], stored: readonly T[]): T[] {
  const versions = new Map(stored.map((record) => [record.id, record]));
  return saved.map((entity) => {
    const record = versions.get(entity.id);
    if (!record || record.version === entity.version) return entity;
    const { baseVersion: _baseVersion, ...rest } = entity;
    return {
      ...rest,
      version: record.version,
      ...(record.baseVersion === undefined ? {} : { baseVersion: record.baseVersion }),
    } as T;
  });
}
