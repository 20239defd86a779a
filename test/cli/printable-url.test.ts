import { describe, expect, it } from 'vitest';
import { printableUrl } from '../../src/cli/printable-url.js';
import { describeStatus } from '../../src/cli/progress-view.js';
import type { SyncProgress } from '../../src/domain/types.js';

describe('printableUrl (issue 11: printed URLs never carry credentials)', () => {
  it('removes the userinfo and nothing else', () => {
    expect(printableUrl('http://user:secret@host:8787/x?token=1#f')).toBe('http://host:8787/x?token=1#f');
    expect(printableUrl('https://user@example.com')).toBe('https://example.com');
    expect(printableUrl('http://:pw@127.0.0.1:1/')).toBe('http://127.0.0.1:1/');
    expect(printableUrl('http://u:p@ss@host/a@b')).toBe('http://host/a@b');
  });

  it('leaves a URL without credentials exactly as it was, query and all', () => {
    for (const url of ['http://127.0.0.1:8787', 'http://127.0.0.1:9/?token=abc', 'https://h/a@b'])
      expect(printableUrl(url)).toBe(url);
  });

  it('strips what looks like credentials from a value that is not a URL', () => {
    expect(printableUrl('http://user:secret@[oops')).toBe('http://[oops');
  });
});

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
    };
    expect(describeStatus(waiting, 10_000, 90, false)).toBe('retry in 1.0 s after: 503');
  });
});
