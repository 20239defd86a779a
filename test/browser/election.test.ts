import { describe, expect, it } from 'vitest';
import { type ForwardedRequest, forwardStep, syncingAfter, takeoverDue } from '../../src/browser/election.js';

describe('takeoverDue', () => {
  it('is due only once the silence is longer than the timeout plus the jitter', () => {
    expect(takeoverDue(5_000, 1_000, 4_000)).toBe(false);
    expect(takeoverDue(5_001, 1_000, 4_000)).toBe(true);
    expect(takeoverDue(5_300, 1_000, 4_000, 400)).toBe(false);
    expect(takeoverDue(5_401, 1_000, 4_000, 400)).toBe(true);
  });
});

describe('forwardStep', () => {
  const TIMEOUT = 10_000;
  const unsent: ForwardedRequest = { requestId: 'r1', entityType: 'notes', sentAt: 0 };
  const leader = (tabId: string, heardAt: number) => ({ tabId, heardAt });

  it.each<[string, ForwardedRequest, ReturnType<typeof leader> | undefined, number, string]>([
    ['a new request, a leader heard: send', unsent, leader('A', 10), 20, 'send'],
    ['a new request, no leader yet: wait', unsent, undefined, 5_000, 'wait'],
    ['a new request, no leader for the whole timeout: expire', unsent, undefined, 10_001, 'expire'],
    [
      'sent to A, not accepted yet: wait',
      { ...unsent, sentTo: 'A', sentAt: 100 },
      leader('A', 900),
      5_000,
      'wait',
    ],
    [
      'sent to A, never accepted although A is alive: expire',
      { ...unsent, sentTo: 'A', sentAt: 100 },
      leader('A', 10_050),
      10_101,
      'expire',
    ],
    [
      'accepted by A, a long run, A alive: wait',
      { ...unsent, sentTo: 'A', acceptedBy: 'A', sentAt: 100 },
      leader('A', 59_000),
      60_000,
      'wait',
    ],
    [
      'accepted by A, A silent for the timeout and no one else: expire',
      { ...unsent, sentTo: 'A', acceptedBy: 'A', sentAt: 100 },
      leader('A', 50_000),
      60_001,
      'expire',
    ],
    [
      'accepted by A, B leads now: send to B',
      { ...unsent, sentTo: 'A', acceptedBy: 'A', sentAt: 100 },
      leader('B', 59_000),
      60_000,
      'send',
    ],
    [
      'run by this tab while it led, B leads now: send to B',
      { ...unsent, sentTo: 'me', acceptedBy: 'me', sentAt: 100 },
      leader('B', 200),
      300,
      'send',
    ],
  ])('%s', (_, request, heard, now, step) => {
    expect(forwardStep(request, heard, now, TIMEOUT)).toBe(step);
  });
});

describe('syncingAfter', () => {
  it('takes a heartbeat or snapshot list whole, and one progress event per type', () => {
    const start = syncingAfter(new Set(['a']), { syncing: ['b', 'c'] });
    expect([...start]).toEqual(['b', 'c']);
    const more = syncingAfter(start, { entityType: 'd', state: 'syncing' });
    expect([...more].sort()).toEqual(['b', 'c', 'd']);
    const done = syncingAfter(more, { entityType: 'b', state: 'synced' });
    expect([...done].sort()).toEqual(['c', 'd']);
    expect([...syncingAfter(done, { entityType: 'c', state: 'error' })]).toEqual(['d']);
    // The set given is never changed: the caller's view is replaced, not edited.
    expect([...more].sort()).toEqual(['b', 'c', 'd']);
  });
});
