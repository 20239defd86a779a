// `actorsync`: the client core. It runs in Node 20 and in browsers alike, so nothing here may reach a `node:`
// module, the server, the inspectors or a store's internals; those have entries of their own (docs/architecture.md).
export type {
  PullOptions,
  SyncableRepository,
  SyncCommand,
  SyncCoordinatorOptions,
} from './coordinator/sync-coordinator.js';
export { SyncCoordinator } from './coordinator/sync-coordinator.js';
export type { ProgressListener, ProgressStream, Subscription } from './core/progress-stream.js';
export { assertEntity, markDeleted, markSynced, markUpdated } from './domain/entity.js';
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
  PullResetLimitError,
  StalePageError,
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
  PulledChange,
  PulledChanges,
  PulledPage,
  PulledPageOptions,
  PulledPageResult,
  PullReply,
  PullRequest,
  PullResetRequired,
  ReadOptions,
  RefusedChange,
  RemoteDataSource,
  RepositoryEntity,
  RetryOptions,
  RetryPolicy,
  SyncAck,
  SyncBatchContext,
  SyncDirection,
  SyncLogger,
  SyncPhase,
  SyncProgress,
  SyncResult,
  SyncState,
} from './domain/types.js';
export { Repository, type RepositoryOptions } from './repository.js';
export { MemoryLocalDataSource } from './store/memory-store.js';
