export type { SyncableRepository, SyncCoordinatorOptions } from './coordinator/sync-coordinator.js';
export { SyncCoordinator } from './coordinator/sync-coordinator.js';
export { toSyncProgress, toSyncResult } from './coordinator/to-domain.js';
export type { ProgressListener, Subscription } from './core/progress-stream.js';
export { ProgressStream } from './core/progress-stream.js';
export { assertEntity, markSynced, markUpdated } from './domain/entity.js';
export {
  ActorSyncError,
  CoordinatorStoppedError,
  errorMessage,
  type FailureKind,
  FatalSyncError,
  failureKind,
  InvalidEntityError,
  InvalidOptionsError,
  MalformedReplyError,
  MissingRemoteError,
  PermanentSyncError,
  StoreCorruptError,
  StoreLockedError,
  StoreReadOnlyError,
  StoreWriteError,
  TransientSyncError,
  UnknownEntityTypeError,
} from './domain/errors.js';
export { assertEntityTypeName, isEntityTypeName } from './domain/names.js';
export type {
  ConditionalWrite,
  ConflictPolicy,
  ConflictResolver,
  EntityFields,
  FailedItem,
  FailurePolicy,
  FailureRecord,
  ItemFailure,
  ItemResult,
  LocalDataSource,
  OutboxCommit,
  OutboxCommitResult,
  OutboxSnapshot,
  PendingPage,
  PendingQuery,
  RemoteDataSource,
  RepositoryEntity,
  RetryOptions,
  RetryPolicy,
  SyncAck,
  SyncBatchContext,
  SyncLogger,
  SyncProgress,
  SyncResult,
  SyncState,
} from './domain/types.js';
export {
  type ActorNode,
  ActorTree,
  contextSlice,
  type InspectorRecord,
} from './inspect/inspector-model.js';
export {
  createInspector,
  type InspectorControlTarget,
  type LocalInspector,
  type LocalInspectorOptions,
} from './inspect/inspector-server.js';
export { type MachineGraph, machineGraph } from './inspect/machine-graph.js';
export { createSanitizer, REDACTED, type SanitizeOptions, type Sanitizer } from './inspect/sanitize.js';
export {
  createStatelyWebSocketInspector,
  type StatelyInspectorHandle,
  type StatelyWebSocketInspectorOptions,
  statelySanitizers,
} from './inspect/stately.js';
export {
  createTraceInspector,
  readTrace,
  type Trace,
  TraceFileError,
  TraceFormatError,
  type TraceHeader,
  type TraceInspector,
  type TraceInspectorOptions,
} from './inspect/trace.js';
export { backoffDelay, DEFAULT_RETRY, resolveRetryPolicy } from './protocol/backoff.js';
export { validateReply } from './protocol/reply.js';
export { HttpRemoteDataSource, type HttpRemoteOptions } from './remote/http-remote.js';
export type { SyncRequestBody, SyncResponseBody, WireResult } from './remote/wire.js';
export { Repository, type RepositoryOptions } from './repository.js';
export { FAULT_KINDS, type FaultKind, type FaultOptions, FaultPlan } from './server/faults.js';
export { type StoredItem, SyncServerState } from './server/server-state.js';
export {
  createSyncServer,
  type SyncServer,
  type SyncServerOptions,
  type SyncServerStats,
} from './server/sync-server.js';
export {
  LowdbLocalStore,
  type LowdbLocalStoreOptions,
  type StoreDocument,
  type StoreStats,
} from './store/lowdb-store.js';
export { MemoryLocalDataSource } from './store/memory-store.js';
export { OutboxIndex } from './store/outbox-index.js';
