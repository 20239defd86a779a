// actorsync/react: React hooks for sync progress and for records that follow local and pulled changes. The
// coordinator is created outside React and passed in; the hooks only subscribe (docs/react.md).
export type { SyncProgressSource } from './core/progress-source.js';
export { type EntitySyncSnapshot, useEntitySnapshot } from './react/actors.js';
export { useSyncProgress, useSyncState } from './react/progress.js';
export {
  type LiveRepository,
  type PendingCountView,
  type RecordsView,
  type RecordView,
  usePendingCount,
  useRecord,
  useRecords,
} from './react/records.js';
