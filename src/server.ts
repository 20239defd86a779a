// `actorsync/server`: the reference sync server, for development, tests and demos (Node only).
export { FAULT_KINDS, type FaultKind, type FaultOptions, FaultPlan } from './server/faults.js';
export { type StoredItem, type SyncServerSnapshot, SyncServerState } from './server/server-state.js';
export {
  createSyncServer,
  type SyncServer,
  type SyncServerOptions,
  type SyncServerStats,
} from './server/sync-server.js';
