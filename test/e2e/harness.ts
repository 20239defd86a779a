/**
 * Shared set-up of the end-to-end tests: a real sync server on 127.0.0.1, a real `HttpRemoteDataSource` and a
 * real `LowdbLocalStore` file in a temp dir. Nothing of ours is mocked; `Harness.dispose()` undoes everything.
 *
 * The server's store is the run's (`SERVER_STORE`): the protocol suites run once on the memory store and once on
 * PostgreSQL (vitest.config.ts), and read and seed the server through the store-neutral helpers below.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpRemoteDataSource, type HttpRemoteOptions } from '../../src/http.js';
import {
  Repository,
  type RepositoryEntity,
  type SyncBatchContext,
  SyncCoordinator,
  type SyncCoordinatorOptions,
  type SyncDirection,
  type SyncLogger,
  type SyncProgress,
} from '../../src/index.js';
import { LowdbLocalStore, type LowdbLocalStoreOptions } from '../../src/lowdb.js';
import { checkBatch } from '../../src/server/batch-checks.js';
import { DEFAULT_PARTITION, type MemoryServerStore } from '../../src/server/memory-server-store.js';
import type { StoredItem } from '../../src/server/server-state.js';
import type { Scope, ServerStore } from '../../src/server/server-store.js';
import { createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server.js';
import { PostgresServerStore } from '../../src/server-postgres.js';
import { freshDatabase, type TestDatabase } from '../helpers/postgres.js';
import { byId, recordReaderOf, type ServerRecordReader } from '../helpers/server-records.js';

export { until } from '../helpers/until.js';

export interface Note extends RepositoryEntity {
  text: string;
}

export const ENTITY = 'note';
export const SERVER_TOKEN = 'e2e-server-token-7f3a9c1d';

/** The server stores the protocol suites run against. */
export type ServerStoreKind = 'memory' | 'postgres';

/** The store `Harness.server()` opens: `ACTORSYNC_SERVER_STORE` (the postgres project sets it), memory by default. */
export const SERVER_STORE: ServerStoreKind = serverStoreKind(process.env.ACTORSYNC_SERVER_STORE);

function serverStoreKind(value: string | undefined): ServerStoreKind {
  if (value === undefined || value === '' || value === 'memory') return 'memory';
  if (value === 'postgres') return 'postgres';
  throw new Error(`ACTORSYNC_SERVER_STORE must be memory or postgres, got ${JSON.stringify(value)}`);
}

/** A server on the run's store. Its memory `state` is there on the memory store only: read through the helpers. */
export type TestServer = SyncServer<MemoryServerStore> | SyncServer<PostgresServerStore>;

/**
 * Where a server's records outlive it, so that a server started again on it finds them (and its checkpoints stay
 * valid): a JSON file for the memory store, a database for PostgreSQL. Made by `Harness.storage()`.
 */
export type ServerStorage =
  | { readonly kind: 'memory'; readonly file: string }
  | { readonly kind: 'postgres'; readonly database: TestDatabase };

export interface TestServerOptions extends Omit<SyncServerOptions, 'store' | 'file'> {
  /** Start on this storage, where an earlier server may have left records. Default: a new, empty store. */
  storage?: ServerStorage;
}

/** Fast retries for real timers: a failed batch goes out again within milliseconds. */
export const FAST_RETRY = { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4, maxItemAttempts: 3 } as const;

/** The store as apps open it (fsync on). */
export const STORE_OPTIONS: LowdbLocalStoreOptions = {};

/** One request as the client sent it, seen by a pass-through `fetch` (no token is recorded). */
export interface SentRequest {
  method: string;
  path: string;
  idempotencyKey: string | null;
  hasAuthorization: boolean;
  status: number | undefined;
  at: number;
}

/** A `fetch` that records what the remote sends and then calls the real global fetch. */
export function recordingFetch(sent: SentRequest[]): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    const entry: SentRequest = {
      method: request.method,
      path: new URL(request.url).pathname,
      idempotencyKey: request.headers.get('idempotency-key'),
      hasAuthorization: request.headers.has('authorization'),
      status: undefined,
      at: Date.now(),
    };
    sent.push(entry);
    const response = await globalThis.fetch(input, init);
    entry.status = response.status;
    return response;
  };
}

/** Resolves with the first progress event that matches. */
export function nextProgress(
  coordinator: SyncCoordinator,
  matches: (progress: SyncProgress) => boolean,
): Promise<SyncProgress> {
  return new Promise((resolve) => {
    const subscription = coordinator.progress.subscribe((progress) => {
      if (!matches(progress)) return;
      resolve(progress);
      queueMicrotask(() => subscription.unsubscribe());
    });
  });
}

/** A logger that keeps every message and its details, to check that no token is ever logged. */
export function memoryLogger(): SyncLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (message: string, details?: Record<string, unknown>) =>
    lines.push(`${level} ${message} ${JSON.stringify(details ?? {})}`);
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const noteId = (n: number) => `n${String(n).padStart(4, '0')}`;

/** A note as a client sends it: at `version`, its times 1, pending, its text its id. */
export const note = (id: string, version = 1): Note => ({
  id,
  createdAt: 1,
  updatedAt: 1,
  syncPending: true,
  version,
  text: id,
});

/** What a direct `syncBatch` call of a note batch gets: a fresh signal and `batchId`. */
export const context = (batchId: string): SyncBatchContext => ({
  signal: new AbortController().signal,
  batchId,
  entityType: ENTITY,
});

/** Owns everything a test starts and undoes it in reverse order. */
export class Harness {
  readonly #cleanups: (() => unknown)[] = [];

  defer(cleanup: () => unknown): void {
    this.#cleanups.push(cleanup);
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }

  async tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-e2e-'));
    this.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  /**
   * A server on the run's store (`SERVER_STORE`), closed by `dispose()`. On PostgreSQL, a store of its own on a new
   * database (or the `storage` given), opened with the options that configure a store (`now`,
   * `tombstoneRetentionMs`); without a PostgreSQL for the run, this fails with the reason, never skips.
   */
  async server(options: TestServerOptions = {}): Promise<TestServer> {
    const { storage, now, tombstoneRetentionMs, ...serverOptions } = options;
    if (storage && storage.kind !== SERVER_STORE) {
      throw new Error(`Storage for the ${storage.kind} store given to a server on the ${SERVER_STORE} store`);
    }
    if (SERVER_STORE === 'memory') {
      return this.memoryServer({
        ...serverOptions,
        ...(storage?.kind === 'memory' ? { file: storage.file } : {}),
        ...(now ? { now } : {}),
        ...(tombstoneRetentionMs !== undefined ? { tombstoneRetentionMs } : {}),
      });
    }
    const database = storage?.kind === 'postgres' ? storage.database : await this.#database();
    const store = await PostgresServerStore.open({
      connectionString: database.url,
      // One server of a test at a time: a few connections are plenty, and the run's PostgreSQL serves many tests.
      maxConnections: 4,
      ...(now ? { now } : {}),
      ...(tombstoneRetentionMs !== undefined ? { tombstoneRetentionMs } : {}),
    });
    this.defer(() => store.close());
    const reader = recordReaderOf(store, database.url);
    readers.set(store, reader);
    this.defer(() => reader.close());
    const server = await createSyncServer({ token: SERVER_TOKEN, ...serverOptions, store });
    this.defer(() => server.close());
    return server;
  }

  /** A server on the memory store whatever the run's store: for suites that read its state or its file. */
  async memoryServer(options: SyncServerOptions = {}): Promise<SyncServer> {
    const server = await createSyncServer({ token: SERVER_TOKEN, ...options });
    this.defer(() => server.close());
    return server;
  }

  /** New, empty storage for `server({ storage })`, removed by `dispose()`. */
  async storage(): Promise<ServerStorage> {
    if (SERVER_STORE === 'memory') return { kind: 'memory', file: join(await this.tempDir(), 'server.json') };
    return { kind: 'postgres', database: await this.#database() };
  }

  async #database(): Promise<TestDatabase> {
    const database = await freshDatabase();
    this.defer(() => database.drop());
    return database;
  }

  async store(file: string, options: LowdbLocalStoreOptions = STORE_OPTIONS): Promise<LowdbLocalStore> {
    const store = await LowdbLocalStore.open(file, options);
    this.defer(() => store.close());
    return store;
  }

  remote(server: TestServer, options: Partial<HttpRemoteOptions> = {}): HttpRemoteDataSource<Note> {
    return new HttpRemoteDataSource<Note>({
      baseUrl: server.url,
      getToken: () => server.token,
      timeoutMs: 5_000,
      ...options,
    });
  }

  coordinator(options: SyncCoordinatorOptions = {}): SyncCoordinator {
    const coordinator = new SyncCoordinator({ retry: FAST_RETRY, ...options });
    this.defer(() => coordinator.stop());
    return coordinator;
  }

  /** A server, a store file with `count` notes and a repository that syncs them over HTTP. */
  async setup(
    options: {
      count?: number;
      server?: TestServerOptions;
      remote?: Partial<HttpRemoteOptions>;
      coordinator?: SyncCoordinatorOptions;
      /** Default `'push'`: the suites on this harness pin push behaviour request by request; pull suites opt in. */
      direction?: SyncDirection;
    } = {},
  ) {
    const server = await this.server(options.server);
    const dir = await this.tempDir();
    const file = join(dir, 'store.json');
    const store = await this.store(file);
    const local = store.collection<Note>(ENTITY);
    const remote = this.remote(server, options.remote);
    const repository = new Repository<Note>({
      entityType: ENTITY,
      local,
      remote,
      direction: options.direction ?? 'push',
    });
    const count = options.count ?? 0;
    if (count > 0) {
      await repository.saveMany(
        Array.from({ length: count }, (_, i) => ({ id: noteId(i), text: `note ${i}` })),
      );
    }
    const coordinator = this.coordinator(options.coordinator);
    return { server, dir, file, store, local, remote, repository, coordinator };
  }
}

/** Readers of the PostgreSQL stores the harness opened (a memory store is read from its state). */
const readers = new WeakMap<ServerStore, ServerRecordReader>();

function readerOf(server: TestServer): ServerRecordReader {
  const known = readers.get(server.store);
  if (known) return known;
  const reader = recordReaderOf(server.store);
  readers.set(server.store, reader);
  return reader;
}

/** The default principal's records of `entityType`: where the harness's token reads and writes. */
const scopeOf = (entityType: string): Scope => ({ partition: DEFAULT_PARTITION, entityType });

/** The record or tombstone stored under `id` (with `appliedCount` and `appliedVersions`), if any. */
export function serverRecord(
  server: TestServer,
  id: string,
  entityType = ENTITY,
): Promise<StoredItem | undefined> {
  return readerOf(server).get(scopeOf(entityType), id);
}

/** The live records of `entityType` (no tombstones), by id: stores list them in no order the protocol names. */
export async function serverRecords(server: TestServer, entityType = ENTITY): Promise<StoredItem[]> {
  return byId(await server.store.list(scopeOf(entityType)));
}

/** The tombstones of `entityType` the store still keeps, by id. */
export function serverTombstones(server: TestServer, entityType = ENTITY): Promise<StoredItem[]> {
  return readerOf(server).tombstones(scopeOf(entityType));
}

/**
 * Writes `items` as another client would: one batch with a fresh id, applied by the store under the version rules
 * (`deleted: true` stores a tombstone). Throws unless every item was written: a test that needs a version the rules
 * refuse is asking for something no client could do.
 */
export async function seedServer(
  server: TestServer,
  items: readonly (RepositoryEntity & { deleted?: boolean })[],
  entityType = ENTITY,
): Promise<void> {
  const batchId = `seed-${randomBytes(9).toString('base64url')}`;
  const checked = checkBatch(JSON.stringify({ batchId, items }));
  if (!checked.ok) throw new Error(`Cannot seed the server: ${checked.error}`);
  const outcome = await server.store.applyBatch({
    scope: scopeOf(entityType),
    batchId,
    digest: checked.digest,
    items: checked.valid,
  });
  const refused =
    outcome.status === 'applied' ? outcome.reply.filter((result) => result.status !== 'ok') : [];
  if (outcome.status !== 'applied' || refused.length > 0) {
    throw new Error(
      `Cannot seed the server: ${JSON.stringify(outcome.status === 'applied' ? refused : outcome)}`,
    );
  }
}

/** Every stored copy of `ids` on the server, with a clear failure if one is missing. */
export async function serverItems(server: TestServer, ids: readonly string[]): Promise<StoredItem[]> {
  const reader = readerOf(server);
  const found: StoredItem[] = [];
  // One at a time: the PostgreSQL reader has one connection.
  for (const id of ids) {
    const stored = await reader.get(scopeOf(ENTITY), id);
    if (!stored) throw new Error(`${id} is not on the server`);
    found.push(stored);
  }
  return found;
}
