export {
  batchPushMachine,
  DEFAULT_MAX_BATCHES_IN_FLIGHT,
  MAX_LISTED_FAILURES,
} from './batch-push.machine.js';
export type {
  BatchInFlight,
  BatchPushContext,
  BatchPushInput,
  BatchPushOutput,
  BatchToParentEvent,
  RunCounts,
} from './batch-push.types.js';
export { coordinatorMachine, entityActorId } from './coordinator.machine.js';
export type {
  CoordinatorCommand,
  CoordinatorContext,
  CoordinatorEmitted,
  CoordinatorEvent,
  CoordinatorInput,
  QueuedRun,
} from './coordinator.types.js';
export type { SyncDeps, SyncTarget } from './deps.js';
export { createSyncMachine, makeSyncActors, runSources } from './deps.js';
export { entitySyncMachine, syncStateOf } from './entity-sync.machine.js';
export type {
  EntitySyncContext,
  EntitySyncEvent,
  EntitySyncInput,
  EntityToParentEvent,
  RunEnd,
  RunError,
  RunErrorOutcome,
  RunReport,
  RunSnapshot,
} from './entity-sync.types.js';
export { pullMachine } from './pull.machine.js';
export type { PullCounts, PullInput, PullOutput, PullToParentEvent } from './pull.types.js';
export type { PullPolicy, RunPolicy, RunSources } from './run-policy.js';
export { DEFAULT_PULL_POLICY } from './run-policy.js';
