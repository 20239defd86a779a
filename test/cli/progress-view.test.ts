import { describe, expect, it } from 'vitest';
import { createProgressView, describeStatus } from '../../src/cli/progress-view.js';
import { ProgressStream } from '../../src/core/progress-stream.js';
import type { SyncProgress } from '../../src/domain/types.js';
import { syncProgress } from '../helpers/sync-progress.js';

describe('describeStatus', () => {
  const failed = syncProgress({
    state: 'error',
    totalItems: 1,
    errorMessage: 'Sync run stopped after 0 of 1 items: Authentication failed',
    nextRetryAt: 11_000,
    isComplete: true,
  });

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

describe('createProgressView with several clients', () => {
  it("leads each line with its client's name and ends a run with what its pull did", () => {
    const phone = new ProgressStream();
    const laptop = new ProgressStream();
    const lines: string[] = [];
    const view = createProgressView(
      [
        { label: 'phone', progress: phone },
        { label: 'laptop', progress: laptop },
      ],
      ['note'],
      { tty: false, write: (line) => lines.push(line) },
    );
    phone.publish(syncProgress({ totalItems: 2, syncedItems: 2, percent: 100 }));
    phone.publish(
      syncProgress({
        state: 'synced',
        totalItems: 2,
        syncedItems: 2,
        percent: 100,
        pulledItems: 5,
        isComplete: true,
      }),
    );
    // A run with nothing to push that pulled something is shown; one that did nothing is not.
    laptop.publish(
      syncProgress({ state: 'synced', percent: 100, pulledItems: 2, deletedItems: 1, conflicts: 1 }),
    );
    laptop.publish(syncProgress({ runId: 2, state: 'synced', percent: 100, isComplete: true }));
    view.stop();
    phone.publish(syncProgress({ runId: 2, totalItems: 1 }));
    expect(lines).toEqual([
      '  phone  note           run 1  2/2 (100%)  synced 2, failed 0',
      '  phone  note           run 1  2/2 (100%)  ✔ synced, retries 0, pulled 5',
      '  laptop note           run 1  0/0 (100%)  ✔ synced, retries 0, pulled 2, removed 1, 1 conflict',
    ]);
  });
});
