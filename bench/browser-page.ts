/**
 * The page of bench/browser.ts: each operation, actorsync's way and a plain baseline's way, timed in the page
 * (`performance.now()`), each run on a fresh database. See bench/browser.ts for what is compared.
 */
import { type DBSchema, deleteDB, type IDBPDatabase, openDB } from 'idb';
import { HttpRemoteDataSource } from '../src/http.js';
import { Repository, SyncCoordinator, type SyncDirection } from '../src/index.js';
import { IndexedDbLocalStore } from '../src/indexeddb.js';
// A type only: bench/shared.ts imports Node modules, and esbuild drops a type import from the page's bundle.
import type { TelemetryRecord } from './shared.js';

export type Operation = 'save' | 'push' | 'pull';
export type BrowserVariant = 'actorsync' | 'baseline';

export interface RunRequest {
  operation: Operation;
  variant: BrowserVariant;
  /** Records saved or pushed (save, push); the pull reads what the server holds. */
  count: number;
  /** Records per saveMany call and per pushed batch; changes per pulled page. */
  batchSize: number;
  /** The entity type: its own per push run, so every run pushes records new to the server. */
  entityType: string;
  url: string;
  token: string;
  /** Both variants' transactions: `'strict'` (the store's default) or `'relaxed'` (no flush per commit). */
  durability: 'strict' | 'relaxed';
}

export interface RunResult {
  ms: number;
  /** Records the run stored (save, pull) or the server acknowledged (push), counted in the database after it. */
  records: number;
}

/** The baseline's schema: the same object stores and index as the IndexedDB store's, so each write costs the same. */
interface BaselineSchema extends DBSchema {
  records: {
    key: [string, string];
    value: { type: string; id: string; order: number; entity: object };
    indexes: { order: number };
  };
  failures: { key: [string, string]; value: object };
  pull: { key: string; value: { type: string; checkpoint?: string; resetting: boolean } };
}

/** The fields an app gives `save` (bench/shared.ts `makeRecords`' shape, made here, deterministic). */
function payload(i: number): Omit<TelemetryRecord, 'createdAt' | 'updatedAt' | 'syncPending' | 'version'> {
  return {
    id: `rec-${String(i).padStart(7, '0')}`,
    event: ['screen_view', 'tap', 'purchase', 'error'][i % 4] ?? 'tap',
    sessionId: `session-${i % 97}`,
    timestamp: 1_700_000_000_000 + i * 1_000,
    value: (i * 7919) % 1_000,
    platform: (['ios', 'android', 'web'] as const)[i % 3] ?? 'web',
    sdkVersion: '3.2.1',
    appVersion: `1.${i % 10}.0`,
    attributes: {
      screen: `screen-${i % 13}`,
      network: i % 2 ? 'wifi' : 'cellular',
      durationMs: i % 5_000,
      retry: false,
    },
  };
}

const databases = { count: 0 };
const freshName = (what: string) => `bench-${what}-${Date.now()}-${++databases.count}`;

async function openBaseline(name: string): Promise<IDBPDatabase<BaselineSchema>> {
  return openDB<BaselineSchema>(name, 1, {
    upgrade(db) {
      db.createObjectStore('records', { keyPath: ['type', 'id'] }).createIndex('order', 'order');
      db.createObjectStore('failures', { keyPath: ['type', 'id'] });
      db.createObjectStore('pull', { keyPath: 'type' });
    },
  });
}

async function countRows(name: string, synced: boolean | undefined): Promise<number> {
  const db = await openDB(name);
  try {
    if (synced === undefined) return await db.count('records');
    const rows = (await db.getAll('records')) as { entity: { syncPending: boolean } }[];
    return rows.filter((row) => row.entity.syncPending === !synced).length;
  } finally {
    db.close();
  }
}

function repositoryOn(store: IndexedDbLocalStore, request: RunRequest, direction: SyncDirection) {
  return new Repository<TelemetryRecord>({
    entityType: request.entityType,
    local: store.collection<TelemetryRecord>(request.entityType),
    remote: new HttpRemoteDataSource<TelemetryRecord>({
      baseUrl: request.url,
      getToken: () => request.token,
    }),
    direction,
  });
}

async function actorsyncRun(request: RunRequest, name: string): Promise<number> {
  const store = await IndexedDbLocalStore.open({ name, durability: request.durability });
  const batches = (count: number) =>
    Array.from({ length: Math.ceil(count / request.batchSize) }, (_, b) =>
      Array.from({ length: Math.min(request.batchSize, count - b * request.batchSize) }, (_, i) =>
        payload(b * request.batchSize + i),
      ),
    );
  try {
    if (request.operation === 'save') {
      const repository = repositoryOn(store, request, 'push');
      const work = batches(request.count);
      const started = performance.now();
      for (const batch of work) await repository.saveMany(batch);
      return performance.now() - started;
    }
    const direction = request.operation === 'push' ? 'push' : 'pull';
    const repository = repositoryOn(store, request, direction);
    if (request.operation === 'push')
      for (const batch of batches(request.count)) await repository.saveMany(batch);
    const coordinator = new SyncCoordinator({
      batchSize: request.batchSize,
      pull: { pageSize: request.batchSize },
    });
    try {
      const started = performance.now();
      const result = await coordinator.sync(repository);
      const ms = performance.now() - started;
      if (result.state !== 'synced')
        throw new Error(
          `the ${request.operation} ended ${result.state}: ${JSON.stringify(result.failures.slice(0, 3))}`,
        );
      return ms;
    } finally {
      await coordinator.stop();
    }
  } finally {
    await store.close();
  }
}

async function baselineRun(request: RunRequest, name: string): Promise<number> {
  const db = await openBaseline(name);
  const { entityType: type } = request;
  const stamp = (i: number) => ({ ...payload(i), version: 1, createdAt: 1, updatedAt: 1, syncPending: true });
  try {
    if (request.operation === 'save') {
      let order = 0;
      const started = performance.now();
      for (let from = 0; from < request.count; from += request.batchSize) {
        const tx = db.transaction('records', 'readwrite', { durability: request.durability });
        for (let i = from; i < Math.min(from + request.batchSize, request.count); i++) {
          const entity = stamp(i);
          void tx.store.put({ type, id: entity.id, order: ++order, entity });
        }
        await tx.done;
      }
      return performance.now() - started;
    }
    if (request.operation === 'push') {
      const entities = Array.from({ length: request.count }, (_, i) => stamp(i));
      const tx = db.transaction('records', 'readwrite');
      entities.forEach((entity, i) => void tx.store.put({ type, id: entity.id, order: i + 1, entity }));
      await tx.done;
      const started = performance.now();
      // Two batches in flight, as actorsync's default; each batch's acks written in batch order, one transaction each.
      const post = (from: number) => {
        const items = entities.slice(from, from + request.batchSize);
        const batchId = crypto.randomUUID();
        return fetch(`${request.url}/v1/sync/${encodeURIComponent(type)}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${request.token}`,
            'idempotency-key': batchId,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ batchId, items }),
        }).then(async (response) => {
          if (response.status !== 200) throw new Error(`the server answered ${response.status}`);
          return {
            from,
            items,
            results: ((await response.json()) as { results: { id: string; status: string }[] }).results,
          };
        });
      };
      const inFlight: ReturnType<typeof post>[] = [];
      let next = 0;
      while (next < entities.length || inFlight.length > 0) {
        while (inFlight.length < 2 && next < entities.length) {
          inFlight.push(post(next));
          next += request.batchSize;
        }
        const { from, items, results } = await (inFlight.shift() as ReturnType<typeof post>);
        const acked = new Set(results.filter((r) => r.status === 'ok').map((r) => r.id));
        const ackTx = db.transaction('records', 'readwrite', { durability: request.durability });
        items.forEach((entity, i) => {
          if (acked.has(entity.id))
            void ackTx.store.put({
              type,
              id: entity.id,
              order: from + i + 1,
              entity: { ...entity, syncPending: false },
            });
        });
        await ackTx.done;
      }
      return performance.now() - started;
    }
    // pull: pages of the change feed, each page's records and the checkpoint in one transaction.
    let since: string | undefined;
    let order = 0;
    const started = performance.now();
    for (;;) {
      const query = new URLSearchParams({ limit: String(request.batchSize) });
      if (since !== undefined) query.set('since', since);
      const response = await fetch(`${request.url}/v1/changes/${encodeURIComponent(type)}?${query}`, {
        headers: { authorization: `Bearer ${request.token}` },
      });
      if (response.status !== 200) throw new Error(`the server answered ${response.status}`);
      const page = (await response.json()) as {
        changes: { id: string; item: Record<string, unknown> }[];
        checkpoint: string;
        hasMore: boolean;
      };
      const tx = db.transaction(['records', 'pull'], 'readwrite', { durability: request.durability });
      const records = tx.objectStore('records');
      for (const change of page.changes) {
        void records.put({
          type,
          id: change.id,
          order: ++order,
          entity: { ...change.item, syncPending: false },
        });
      }
      void tx.objectStore('pull').put({ type, checkpoint: page.checkpoint, resetting: false });
      await tx.done;
      since = page.checkpoint;
      if (!page.hasMore) break;
    }
    return performance.now() - started;
  } finally {
    db.close();
  }
}

async function run(request: RunRequest): Promise<RunResult> {
  const name = freshName(`${request.operation}-${request.variant}`);
  try {
    const ms = await (request.variant === 'actorsync'
      ? actorsyncRun(request, name)
      : baselineRun(request, name));
    const records = await countRows(name, request.operation === 'save' ? undefined : true);
    return { ms, records };
  } finally {
    await deleteDB(name);
  }
}

declare global {
  interface Window {
    bench?: { run: typeof run };
  }
}
window.bench = { run };
