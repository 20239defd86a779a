import type { SyncProgress } from '../../src/index.js';

/**
 * A `SyncProgress` as a run of `note` emits it at its start (every counter zero, syncing), with `fields` over it:
 * a test names only what it is about.
 */
export const syncProgress = (fields: Partial<SyncProgress> = {}): SyncProgress => ({
  entityType: 'note',
  state: 'syncing',
  runId: 1,
  totalItems: 0,
  syncedItems: 0,
  failedItems: 0,
  conflicts: 0,
  retries: 0,
  pulledItems: 0,
  deletedItems: 0,
  refusedItems: 0,
  resets: 0,
  percent: 0,
  isComplete: false,
  cancelled: false,
  ...fields,
});
