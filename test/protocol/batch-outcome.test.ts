import { describe, expect, it } from 'vitest';
import type { ItemResult, RepositoryEntity } from '../../src/index.js';
import { planReply, settleBatch } from '../../src/protocol/batch-outcome.js';
import { nextFailureRecord } from '../../src/protocol/failures.js';

const item = (id: string, version = 1): RepositoryEntity => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 1,
  syncPending: true,
});

describe('planReply', () => {
  const base = { attempts: () => 1, maxAttempts: 3, conflicts: 'server-wins' as const, now: 10 };

  it('acks ok items at the version sent, retries retryable ones, fails permanent ones, and counts conflicts', () => {
    const items = [item('ok', 3), item('retry'), item('bad'), item('missing'), item('conflict', 2)];
    const results = new Map<string, ItemResult>([
      ['ok', { id: 'ok', status: 'ok' }],
      ['retry', { id: 'retry', status: 'failed', error: 'busy', retryable: true }],
      ['bad', { id: 'bad', status: 'failed', error: 'invalid', retryable: false }],
      [
        'conflict',
        { id: 'conflict', status: 'conflict', remote: { ...item('conflict', 7), syncPending: false } },
      ],
    ]);
    const plan = planReply({ ...base, items }, results);
    expect(plan.acks).toEqual([{ id: 'ok', version: 3 }]);
    expect(plan.retry.map((i) => i.id)).toEqual(['retry', 'missing']);
    expect(plan.failures).toEqual([{ id: 'bad', version: 1, error: 'invalid', retryable: false }]);
    expect(plan.conflicts).toBe(1);
    expect(plan.replace).toEqual([{ expectedVersion: 2, entity: expect.objectContaining({ version: 7 }) }]);
    expect(plan.acceptedRemote).toEqual(['conflict']);
  });

  it('records retryable failures once their in-run attempts are spent', () => {
    const plan = planReply(
      { ...base, items: [item('a')], attempts: () => 3 },
      new Map([['a', { id: 'a', status: 'failed', error: 'busy', retryable: true }]]),
    );
    expect(plan.retry).toEqual([]);
    expect(plan.failures).toEqual([{ id: 'a', version: 1, error: 'busy', retryable: true }]);
  });

  it('client-wins pushes the local record above the server version', () => {
    const plan = planReply(
      { ...base, conflicts: 'client-wins', items: [item('a', 2)] },
      new Map([['a', { id: 'a', status: 'conflict', remote: item('a', 9) }]]),
    );
    expect(plan.repush).toEqual([
      expect.objectContaining({ id: 'a', version: 10, syncPending: true, updatedAt: 10 }),
    ]);
  });
});

describe('settleBatch', () => {
  it('counts what the store actually wrote: stale acks and lost conflict writes leave the run', () => {
    const plan = planReply(
      {
        attempts: () => 1,
        maxAttempts: 3,
        conflicts: 'server-wins',
        now: 0,
        items: [item('a'), item('b'), item('c')],
      },
      new Map<string, ItemResult>([
        ['a', { id: 'a', status: 'ok' }],
        ['b', { id: 'b', status: 'ok' }],
        ['c', { id: 'c', status: 'conflict', remote: item('c', 4) }],
      ]),
    );
    const settled = settleBatch(plan, { syncedIds: ['a'], stale: ['b'], replaced: [], failures: [] });
    expect(settled).toMatchObject({
      syncedItems: 1,
      supersededItems: 2,
      conflicts: 1,
      failedItems: 0,
      carry: [],
    });
  });
});

describe('nextFailureRecord', () => {
  const policy = { maxItemAttempts: 3, retryDelayMs: (attempts: number) => attempts * 100 };
  const failure = { id: 'a', version: 2, error: 'busy', retryable: true };

  it('counts attempts per version, schedules the next one, and dead-letters at the limit', () => {
    const first = nextFailureRecord(undefined, failure, 1_000, policy);
    expect(first).toMatchObject({ attempts: 1, nextAttemptAt: 1_100, deadLettered: false });
    const second = nextFailureRecord(first, failure, 2_000, policy);
    expect(second).toMatchObject({ attempts: 2, nextAttemptAt: 2_200 });
    const third = nextFailureRecord(second, failure, 3_000, policy);
    expect(third).toMatchObject({ attempts: 3, nextAttemptAt: undefined, deadLettered: true });
    expect(nextFailureRecord(third, { ...failure, version: 3 }, 4_000, policy)).toMatchObject({
      attempts: 1,
    });
  });

  it('dead-letters a permanent failure at once', () => {
    expect(nextFailureRecord(undefined, { ...failure, retryable: false }, 0, policy)).toMatchObject({
      attempts: 1,
      deadLettered: true,
      nextAttemptAt: undefined,
    });
  });
});
