import { describe, expect, it } from 'vitest';
import { parseTabMessage, TAB_MESSAGE_VERSION } from '../../src/browser/tab-messages.js';
import type { SyncProgress, SyncResult } from '../../src/index.js';

const progress: SyncProgress = {
  entityType: 'notes',
  state: 'syncing',
  runId: 3,
  totalItems: 10,
  syncedItems: 4,
  failedItems: 0,
  conflicts: 0,
  retries: 1,
  pulledItems: 0,
  deletedItems: 0,
  refusedItems: 0,
  resets: 0,
  phase: 'push',
  lastError: 'HTTP 503',
  percent: 40,
  isComplete: false,
  cancelled: false,
};

const result: SyncResult = {
  entityType: 'notes',
  state: 'error',
  runId: 3,
  totalItems: 10,
  syncedItems: 9,
  failedItems: 1,
  conflicts: 0,
  retries: 1,
  pulledItems: 2,
  deletedItems: 0,
  refusedItems: 1,
  resets: 0,
  failures: [{ id: 'n1', error: 'rejected: too long', attempts: 1, deadLettered: false }],
  refused: [{ id: 'n9', error: 'not a record', kind: 'invalid' }],
  cancelled: false,
  errorMessage: '1 item failed',
  errorCode: 'ITEM_FAILED',
  durationMs: 12,
};

const from = 'tab-a';
const v = TAB_MESSAGE_VERSION;

describe('parseTabMessage', () => {
  it.each([
    { v, from, kind: 'heartbeat', syncing: ['notes'] },
    { v, from, kind: 'progress', progress },
    { v, from, kind: 'progress-request' },
    { v, from, kind: 'progress-snapshot', to: 'tab-b', progress: [progress], syncing: [] },
    { v, from, kind: 'sync-request', requestId: 'tab-b:1', entityType: 'notes' },
    { v, from, kind: 'sync-request', requestId: 'tab-b:2' },
    { v, from, kind: 'sync-accepted', to: 'tab-b', requestId: 'tab-b:1' },
    { v, from, kind: 'sync-reply', to: 'tab-b', requestId: 'tab-b:1', results: [result] },
    {
      v,
      from,
      kind: 'sync-failed',
      to: 'tab-b',
      requestId: 'tab-b:1',
      error: { code: 'UNKNOWN_ENTITY_TYPE', message: 'Unknown entity type "x"' },
    },
    { v, from, kind: 'local-change', entityType: 'notes' },
  ])('takes a valid $kind message as it is', (message) => {
    expect(parseTabMessage(structuredClone(message))).toEqual(message);
  });

  it.each([
    ['nothing', undefined],
    ['a string', 'heartbeat'],
    ['another version', { v: 2, from, kind: 'heartbeat', syncing: [] }],
    ['no version', { from, kind: 'heartbeat', syncing: [] }],
    ['no sender', { v, kind: 'heartbeat', syncing: [] }],
    ['an empty sender', { v, from: '', kind: 'heartbeat', syncing: [] }],
    ['an unknown kind', { v, from, kind: 'elect-me' }],
    ['a heartbeat without its list', { v, from, kind: 'heartbeat' }],
    [
      'a progress with a count as text',
      { v, from, kind: 'progress', progress: { ...progress, syncedItems: '4' } },
    ],
    [
      'a progress with a negative count',
      { v, from, kind: 'progress', progress: { ...progress, totalItems: -1 } },
    ],
    [
      'a progress in an unknown state',
      { v, from, kind: 'progress', progress: { ...progress, state: 'done' } },
    ],
    ['a progress over 100%', { v, from, kind: 'progress', progress: { ...progress, percent: 101 } }],
    // A structured clone carries NaN (valibot's number refused it; the follower would show an invalid retry time).
    [
      'a retry time of NaN',
      { v, from, kind: 'progress', progress: { ...progress, nextRetryAt: Number.NaN } },
    ],
    ['a reply without results', { v, from, kind: 'sync-reply', to: 'tab-b', requestId: 'r' }],
    [
      'a reply whose result lacks its failures',
      {
        v,
        from,
        kind: 'sync-reply',
        to: 'tab-b',
        requestId: 'r',
        results: [{ ...result, failures: undefined }],
      },
    ],
    [
      'a list longer than any result lists',
      { v, from, kind: 'heartbeat', syncing: Array.from({ length: 1_001 }, (_, i) => `t${i}`) },
    ],
    ['a name of 201 characters', { v, from: 'x'.repeat(201), kind: 'progress-request' }],
    [
      'a failure without its message',
      { v, from, kind: 'sync-failed', to: 'tab-b', requestId: 'r', error: {} },
    ],
  ])('refuses %s', (_, data) => {
    expect(parseTabMessage(data)).toBeUndefined();
  });

  it('drops fields the protocol does not have: nothing else reaches the tab (a token, a record)', () => {
    const parsed = parseTabMessage({
      v,
      from,
      kind: 'progress',
      token: 'secret-token',
      progress: { ...progress, record: { id: 'n1', text: 'private' } },
    });
    expect(parsed).toEqual({ v, from, kind: 'progress', progress });
  });
});
