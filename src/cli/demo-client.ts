/**
 * One device of the demo (the phone, the laptop): its own lowdb store file, one repository per demo type over its
 * own HTTP remote, and the coordinator that syncs them both ways. Its network can drop: while it is offline every
 * request fails before it leaves, as `fetch` does without a network.
 */
import type { InspectionEvent } from 'xstate';
import { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import type { ConflictPolicy, RepositoryEntity, SyncResult } from '../domain/types.js';
import { HttpRemoteDataSource } from '../remote/http-remote.js';
import { Repository } from '../repository.js';

import { LowdbLocalStore } from '../store/lowdb-store.js';
import type { ClientRecords } from './agreement.js';
import { DEMO_TYPES, type DemoType, seededRandom } from './demo-data.js';
import { RunTracker, sumRunStats, type TypeRunStats } from './run-stats.js';
import type { TypeSummary } from './summary.js';

export type Repo = Repository<RepositoryEntity>;

/** A `timeout` fault holds the request this long, then drops it; the client waits longer, so it sees the drop. */
export const CLIENT_TIMEOUT_MS = 5_000;
export const BATCH_SIZE = 100;
/** Pulled changes per page: small enough that a client pulls the other's records in several pages. */
export const PAGE_SIZE = 250;

export interface DemoClientOptions {
  name: string;
  /** The store file (created). */
  file: string;
  /** The server to sync with: its URL and bearer token. */
  server: { readonly url: string; readonly token: string };
  conflicts: ConflictPolicy;
  /** Seeds the coordinators' backoff jitter. */
  seed: number;
  /** An inspection observer for this client's coordinators. */
  inspect?: (event: InspectionEvent) => void;
}

export class DemoClient {
  readonly name: string;
  readonly store: LowdbLocalStore;
  readonly repos: ReadonlyMap<DemoType, Repo>;
  readonly #options: DemoClientOptions;
  /** One per coordinator this client has run: an app stops its coordinator while offline and starts a new one. */
  readonly #trackers: RunTracker[] = [];
  #coordinator: SyncCoordinator;
  #online = true;

  private constructor(options: DemoClientOptions, store: LowdbLocalStore) {
    this.name = options.name;
    this.#options = options;
    this.store = store;
    const { server } = options;
    const remote = new HttpRemoteDataSource({
      baseUrl: server.url,
      getToken: () => server.token,
      timeoutMs: CLIENT_TIMEOUT_MS,
      fetch: (input, init) => (this.#online ? globalThis.fetch(input, init) : Promise.reject(offlineError())),
    });
    // `direction` is left to its default, 'both': a lowdb store and an HTTP remote can push and pull.
    this.repos = new Map(
      DEMO_TYPES.map((entityType) => [
        entityType,
        new Repository<RepositoryEntity>({ entityType, local: store.collection(entityType), remote }),
      ]),
    );
    this.#coordinator = this.#startCoordinator();
  }

  static async open(options: DemoClientOptions): Promise<DemoClient> {
    return new DemoClient(options, await LowdbLocalStore.open(options.file));
  }

  get coordinator(): SyncCoordinator {
    return this.#coordinator;
  }

  repo(type: DemoType): Repo {
    return this.repos.get(type) as Repo;
  }

  get online(): boolean {
    return this.#online;
  }

  /** Drops or restores the network: offline, every request this client's remote makes fails with a network error. */
  setOnline(online: boolean): void {
    this.#online = online;
  }

  /** Syncs every type once: push, then pull. */
  syncAll(): Promise<SyncResult[]> {
    return this.#coordinator.syncAll();
  }

  /**
   * Stops syncing, as an app does when it learns the network is gone: a coordinator left running would retry the
   * failed items on its own, and each failed run counts towards dead-lettering them. The store stays open.
   */
  async pause(): Promise<void> {
    await this.#coordinator.stop();
  }

  /** Syncs again with a new coordinator over the same repositories (the store remembers everything pending). */
  resume(): void {
    this.#coordinator = this.#startCoordinator();
  }

  /** What this client's runs of `type` did, over every coordinator it has had. */
  stats(type: DemoType): TypeRunStats {
    return sumRunStats(
      type,
      this.#trackers.map((tracker) => tracker.stats(type)),
    );
  }

  async summary(type: DemoType): Promise<TypeSummary> {
    const repo = this.repo(type);
    const [records, failures, outbox] = await Promise.all([
      repo.getAll(),
      repo.local.failures(),
      repo.local.outbox(Date.now()),
    ]);
    const deadLettered = failures.filter((f) => f.deadLettered).length;
    return {
      ...this.stats(type),
      records: records.length,
      syncedItems: records.length - outbox.pending,
      deadLettered,
      waiting: outbox.pending - deadLettered,
    };
  }

  /** This client's side of the agreement check: every stored record, tombstones included, and its failures. */
  async records(type: DemoType): Promise<ClientRecords> {
    const { local } = this.repo(type);
    return {
      client: this.name,
      local: await local.getAll({ includeDeleted: true }),
      failures: await local.failures(),
    };
  }

  async close(): Promise<void> {
    await this.#coordinator.stop();
    for (const tracker of this.#trackers) tracker.stop();
    await this.store.close();
  }

  #startCoordinator(): SyncCoordinator {
    const { conflicts, seed, inspect } = this.#options;
    const coordinator = new SyncCoordinator({
      batchSize: BATCH_SIZE,
      concurrency: DEMO_TYPES.length,
      conflicts,
      retry: { baseDelayMs: 50, maxDelayMs: 400, maxAttempts: 4, maxItemAttempts: 5 },
      pull: { pageSize: PAGE_SIZE },
      random: seededRandom(seed + this.#trackers.length),
      ...(inspect ? { inspect } : {}),
    });
    for (const repo of this.repos.values()) coordinator.register(repo);
    this.#trackers.push(new RunTracker(coordinator.progress));
    return coordinator;
  }
}

/** What `fetch` throws without a network: a `TypeError` whose cause names the socket error. */
function offlineError(): TypeError {
  return new TypeError('fetch failed', { cause: { code: 'ENETUNREACH', message: 'network is unreachable' } });
}
