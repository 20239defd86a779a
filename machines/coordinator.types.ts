import type { ConflictPolicy, RetryPolicy } from '../src/domain/types.js';
import type { EntityToParentEvent, RunReport, RunSnapshot } from './entity-sync.types.js';

export interface CoordinatorInput {
  batchSize: number;
  /** Entity types that may sync at once; runs beyond it wait in request order. */
  concurrency: number;
  enableAutoSync: boolean;
  autoSyncIntervalMs: number;
  retry: RetryPolicy;
  conflicts: ConflictPolicy;
  /** Pushes of one run in flight at once, a positive integer; 2 by default. See `SyncCoordinatorOptions.maxBatchesInFlight`. */
  maxBatchesInFlight?: number;
  /** Jitter source for backoff; `Math.random` by default. */
  random?: () => number;
  /** Epoch ms, from `SyncDeps` (`runSources(deps)`): the batch machine reads time only through it. */
  now: () => number;
  /** The batch-id source of `SyncDeps` (`runSources(deps)`): a fresh unique key per run. */
  newBatchKey: () => string;
}

/** A run waiting for its turn, with the requests it will answer. */
export interface QueuedRun {
  entityType: string;
  requestIds: string[];
}

export interface CoordinatorContext {
  config: CoordinatorInput;
  entityTypes: string[];
  queue: QueuedRun[];
  /** Runs in progress by entity type, with the requests they answer. */
  active: Record<string, { requestIds: string[] }>;
}

/** Events apps send the coordinator. `requestId` ties a `SYNC` to the `runFinished` that answers it. */
export type CoordinatorCommand =
  | { type: 'REGISTER'; entityType: string }
  | { type: 'SYNC'; entityType: string; requestId?: string }
  | { type: 'SYNC_ALL' }
  | { type: 'CANCEL'; entityType: string };

export type CoordinatorEvent = CoordinatorCommand | EntityToParentEvent;

/** What the coordinator emits; listen with `actor.on(type, …)`. */
export type CoordinatorEmitted =
  | { type: 'progress'; snapshot: RunSnapshot }
  | { type: 'runFinished'; report: RunReport; requestIds: string[] }
  | { type: 'requestsCancelled'; entityType: string; requestIds: string[] }
  | { type: 'rejected'; entityType: string; requestId: string | undefined; code: string; message: string };
