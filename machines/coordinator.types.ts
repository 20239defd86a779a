import type { SyncDirection } from '../src/domain/types.js';
import type { EntityToParentEvent, RunReport, RunSnapshot } from './entity-sync.types.js';
import type { RunPolicy, RunSources } from './run-policy.js';

export interface CoordinatorInput {
  /** Entity types that may sync at once; runs beyond it wait in request order. */
  concurrency: number;
  enableAutoSync: boolean;
  autoSyncIntervalMs: number;
  /** How every run goes: handed to each entity actor, and by it to each batch actor, unchanged. */
  policy: RunPolicy;
  /** The clock, batch-key and jitter sources of `SyncDeps` (`runSources(deps)`), handed down with the policy. */
  sources: RunSources;
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
  /** `direction` defaults to `'push'`, `live` to false (the facade works out both from the repository). */
  | { type: 'REGISTER'; entityType: string; direction?: SyncDirection; live?: boolean }
  | { type: 'SYNC'; entityType: string; requestId?: string }
  | { type: 'SYNC_ALL' }
  | { type: 'CANCEL'; entityType: string };

export type CoordinatorEvent = CoordinatorCommand | EntityToParentEvent;

/** What the coordinator emits; listen with `actor.on(type, …)`. */
export type CoordinatorEmitted =
  | { type: 'progress'; snapshot: RunSnapshot }
  | { type: 'runFinished'; report: RunReport; requestIds: string[] }
  | { type: 'requestsCancelled'; entityType: string; requestIds: string[] }
  | {
      type: 'rejected';
      /** `UNKNOWN_ENTITY_TYPE`: the facade turns it into an `UnknownEntityTypeError` and its message. */
      code: 'UNKNOWN_ENTITY_TYPE';
      entityType: string;
      requestId: string | undefined;
      /** The types registered at the time, for the message. */
      registered: string[];
    };
