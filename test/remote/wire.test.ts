import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS } from '../../src/core/timers.js';
import { batchRejects, retryAfterMs } from '../../src/remote/wire.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it('reads whole seconds and HTTP dates, capped', () => {
    expect(retryAfterMs('3', now, 60_000)).toBe(3_000);
    expect(retryAfterMs(' 0 ', now, 60_000)).toBe(0);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:10 GMT', now, 60_000)).toBe(10_000);
    expect(retryAfterMs('Tuesday, 01-Jan-30 00:00:10 GMT', now, 60_000)).toBeGreaterThanOrEqual(0);
    expect(retryAfterMs('99999999999', now, MAX_TIMER_DELAY_MS)).toBe(MAX_TIMER_DELAY_MS);
    expect(retryAfterMs('9'.repeat(400), now, 60_000)).toBe(60_000);
    expect(retryAfterMs('Fri, 31 Dec 9999 23:59:59 GMT', now, 60_000)).toBe(60_000);
  });

  it('ignores missing, negative, past and unreadable values', () => {
    for (const header of [
      null,
      '',
      '-5',
      '1.5',
      '1e9',
      '0x10',
      'soon',
      'Mon, 01 Jan 2001 00:00:00 GMT',
      'Xyz',
    ]) {
      expect(retryAfterMs(header, now, 60_000), String(header)).toBeUndefined();
    }
  });
});

describe('batchRejects (a 400 naming invalid items)', () => {
  const items = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];

  it('maps each named item of the batch to its reason', () => {
    const reply = {
      error: 'Invalid items',
      rejected: [{ id: 'b', error: 'title is required' }, { id: 'c' }],
    };
    expect(batchRejects(reply, items)).toEqual(
      new Map([
        ['b', 'title is required'],
        ['c', 'Rejected by the server as invalid (400)'],
      ]),
    );
  });

  it('is undefined when the reply names no items, unknown ones or one twice: the request as a whole is wrong', () => {
    for (const reply of [
      undefined,
      null,
      { error: 'Bad request' },
      { rejected: [] },
      { rejected: 'a' },
      { rejected: [{ id: 'z', error: 'no such item' }] },
      { rejected: [{ id: 'a' }, { id: 'a' }] },
      { rejected: [{ id: 1 }] },
    ]) {
      expect(batchRejects(reply, items), JSON.stringify(reply)).toBeUndefined();
    }
  });
});
