import { describe, expect, it } from 'vitest';
import { createProgressView, describeStatus } from '../../src/cli/progress-view.js';
import { ProgressStream } from '../../src/core/progress-stream.js';
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

describe('createProgressView with several clients', () => {
  const run = (overrides: Partial<SyncProgress>): SyncProgress => ({
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
    ...overrides,
  });

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
    phone.publish(run({ totalItems: 2, syncedItems: 2, percent: 100 }));
    phone.publish(
      run({ state: 'synced', totalItems: 2, syncedItems: 2, percent: 100, pulledItems: 5, isComplete: true }),
    );
    // A run with nothing to push that pulled something is shown; one that did nothing is not.
    laptop.publish(run({ state: 'synced', percent: 100, pulledItems: 2, deletedItems: 1, conflicts: 1 }));
    laptop.publish(run({ runId: 2, state: 'synced', percent: 100, isComplete: true }));
    view.stop();
    phone.publish(run({ runId: 2, totalItems: 1 }));
    expect(lines).toEqual([
      '  phone  note           run 1  2/2 (100%)  synced 2, failed 0',
      '  phone  note           run 1  2/2 (100%)  ✔ synced, retries 0, pulled 5',
      '  laptop note           run 1  0/0 (100%)  ✔ synced, retries 0, pulled 2, removed 1, 1 conflict',
    ]);
  });
});
