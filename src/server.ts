// `actorsync/server`: the server side of the sync protocol (Node only): a Web-standard handler over a server store,
// `createSyncServer` on node:http, and the memory store (the zero-setup default). PostgreSQL: `actorsync/server/postgres`.
export { FAULT_KINDS, type FaultKind, type FaultOptions, FaultPlan } from './server/faults.js';
export {
  DEFAULT_PARTITION,
  MemoryServerStore,
  type MemoryServerStoreOptions,
} from './server/memory-server-store.js';
export { type StoredItem, type SyncServerSnapshot, SyncServerState } from './server/server-state.js';
export {
  type Scope,
  type ServerBatch,
  type ServerBatchOutcome,
  type ServerStore,
  SHARED_PARTITION,
  StoreUnavailableError,
} from './server/server-store.js';
export {
  type Authenticate,
  type CorsOptions,
  createSyncHandler,
  type Principal,
  type SyncHandler,
  type SyncHandlerOptions,
  type SyncHandlerStats,
} from './server/sync-handler.js';
export {
  createSyncServer,
  type SyncServer,
  type SyncServerOptions,
  type SyncServerStats,
} from './server/sync-server.js';
