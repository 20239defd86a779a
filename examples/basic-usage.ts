/**
 * The README's usage, runnable: `npm run example`. A repository over an in-memory store syncs to a remote; the
 * remote here is an in-process stand-in for your API client (the HTTP client and server come with `actorsync serve`).
 */
import {
  MemoryLocalDataSource,
  type RemoteDataSource,
  Repository,
  type RepositoryEntity,
  type SyncBatchContext,
  SyncCoordinator,
} from '../src/index.js';
import { SyncServerState } from '../src/server.js';

interface TelemetryEvent extends RepositoryEntity {
  name: string;
  value: number;
}

/** Stands in for an HTTP client: answers each batch the way the reference server does. */
class InProcessRemote implements RemoteDataSource<TelemetryEvent> {
  readonly server = new SyncServerState();
  async syncBatch(items: readonly TelemetryEvent[], { batchId, entityType, signal }: SyncBatchContext) {
    signal.throwIfAborted();
    // Reject one record so the example shows a failure being reported, not hidden.
    return this.server.apply(entityType, batchId, items, (item) =>
      item.value < 0 ? { error: 'value must not be negative', retryable: false } : undefined,
    );
  }
}

const remote = new InProcessRemote();
const telemetry = new Repository<TelemetryEvent>({
  entityType: 'telemetry',
  local: new MemoryLocalDataSource<TelemetryEvent>(),
  remote,
});

await telemetry.saveMany(
  Array.from({ length: 250 }, (_, i) => ({ id: `evt-${i}`, name: 'cpu', value: i === 42 ? -1 : i })),
);

const coordinator = new SyncCoordinator({ batchSize: 100, retry: { baseDelayMs: 50, maxAttempts: 3 } });
const subscription = coordinator.progress.subscribe((p) => {
  console.log(
    `[${p.entityType}] ${p.state} ${p.percent}% (${p.syncedItems} synced, ${p.failedItems} failed)`,
  );
});

const result = await coordinator.sync(telemetry);
console.log(
  `result: ${result.state}, ${result.syncedItems}/${result.totalItems} synced in ${result.durationMs} ms`,
);
if (result.errorMessage) console.log(`error: ${result.errorMessage}`);
for (const failure of await coordinator.failures('telemetry')) {
  console.log(`dead letter: ${failure.id} (${failure.lastError})`);
}
console.log(
  `pending: ${await telemetry.pendingCount()}, on server: ${remote.server.list('telemetry').length}`,
);

subscription.unsubscribe();
await coordinator.stop();
