/**
 * Shared set-up of the end-to-end tests: a real reference server on 127.0.0.1, a real `HttpRemoteDataSource` and a
 * real `LowdbLocalStore` file in a temp dir. Nothing of ours is mocked; `Harness.dispose()` undoes everything.
 */
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
import { createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server.js';

export { until } from '../helpers/until.js';

export interface Note extends RepositoryEntity {
  text: string;
}

export const ENTITY = 'note';
export const SERVER_TOKEN = 'e2e-server-token-7f3a9c1d';

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

  async server(options: SyncServerOptions = {}): Promise<SyncServer> {
    const server = await createSyncServer({ token: SERVER_TOKEN, ...options });
    this.defer(() => server.close());
    return server;
  }

  async store(file: string, options: LowdbLocalStoreOptions = STORE_OPTIONS): Promise<LowdbLocalStore> {
    const store = await LowdbLocalStore.open(file, options);
    this.defer(() => store.close());
    return store;
  }

  remote(server: SyncServer, options: Partial<HttpRemoteOptions> = {}): HttpRemoteDataSource<Note> {
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
      server?: SyncServerOptions;
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

/** Every stored copy of `ids` on the server, with a clear failure if one is missing. */
export function serverItems(server: SyncServer, ids: readonly string[]) {
  return ids.map((id) => {
    const stored = server.state.get(ENTITY, id);
    if (!stored) throw new Error(`${id} is not on the server`);
    return stored;
  });
}
