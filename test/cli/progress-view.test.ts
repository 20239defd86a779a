import { describe, expect, it } from 'vitest';
import { describeStatus } from '../../src/cli/progress-view.js';
import type { SyncProgress } from '../../src/domain/types.js';

describe('describeStatus', () => {
  const failed: SyncProgress = {
    entityType: 'note',
    state: 'error',
    runId: 1,
    totalItems: 1,
    syncedItems: 0,
    failedItems: 0,
    conflicts: 0,
    retries: 0,
    pulledItems: 0,
    deletedItems: 0,
    refusedItems: 0,
    resets: 0,
    errorMessage: 'Sync run stopped after 0 of 1 items: Authentication failed',
    nextRetryAt: 11_000,
    percent: 0,
    isComplete: true,
    cancelled: false,
  };

  it('shows the retry the actors scheduled, unless the process ends before it (issue 11)', () => {
    expect(describeStatus(failed, 10_000)).toBe(
      'error: Sync run stopped after 0 of 1 items: Authentication failed, retry in 1.0 s',
    );
    expect(describeStatus(failed, 10_000, 90, false)).toBe(
      'error: Sync run stopped after 0 of 1 items: Authentication failed',
    );
  });

  it('keeps a retry wait inside a running run either way', () => {
    const waiting: SyncProgress = {
      ...failed,
      state: 'syncing',
      isComplete: false,
      errorMessage: 'Retrying after: 503',
      errorCode: 'TRANSIENT',
      lastError: '503',
    };
    expect(describeStatus(waiting, 10_000, 90, false)).toBe('retry in 1.0 s after: 503');
  });
});
