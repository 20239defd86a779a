import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS } from '../../src/core/timers.js';
import { REDACTED, Redactor } from '../../src/remote/redactor.js';
import { batchRejects, clip, fromWire, retryAfterMs } from '../../src/remote/wire.js';

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

describe('fromWire (the client half of the codec)', () => {
  it('redacts reasons and ids it did not send, but hands a conflict copy over unchanged: it is record data', () => {
    const secret = 'alice-secret-7f3a';
    const redactor = new Redactor([secret]);
    const remote = {
      id: 'n1',
      version: 4,
      text: `ask ${secret}`,
      [secret]: 1,
      nested: { [secret]: [secret] },
    };
    const results = fromWire(
      {
        results: [
          { id: 'n1', status: 'conflict', remote },
          { id: 'n2', status: 'rejected', reason: `no ${secret}` },
          { id: `x-${secret}`, status: 'ok', version: 1 },
        ],
      },
      new Set(['n1', 'n2']),
      redactor,
    );
    expect(results).toEqual([
      { id: 'n1', status: 'conflict', remote },
      { id: 'n2', status: 'failed', error: `no ${REDACTED}`, retryable: false },
      { id: `x-${REDACTED}`, status: 'ok', version: 1 },
    ]);
  });
});

describe('a reply that does not match the protocol', () => {
  /** A JWT-length token a hostile server might echo into any field. */
  const token = `eyJhbGciOiJSUzI1NiJ9.${'eyJzdWIiOiJhY3RvcnN5bmMiLCJzY29wZSI6InN5bmMifQ'.repeat(3)}.sig-${'x7Qp'.repeat(10)}`;
  const redactor = new Redactor([token]);

  it('names the field, what was expected and the kind found, and quotes nothing the server sent', () => {
    const replies: [unknown, string][] = [
      [
        {
          results: [
            { id: 'a', status: 'ok', version: 1 },
            { id: 'b', status: 'ok', version: token },
          ],
        },
        'results.1.version: expected a number, received a string',
      ],
      [
        { results: [{ id: 'c', status: token }] },
        'results.0.status: expected "ok" or "conflict" or "rejected", received a string',
      ],
      [
        { results: [{ id: 'd', status: 'conflict', remote: { id: token } }] },
        'results.0.remote.version: expected a number, received nothing',
      ],
      [
        { results: [{ id: 'e', status: 'rejected', reason: 'no', retryable: token }] },
        'results.0.retryable: expected a boolean, received a string',
      ],
      [{ [token]: [] }, 'results: expected an array, received nothing'],
      [[token], 'expected an object, received an array'],
      [null, 'expected an object, received null'],
    ];
    for (const [reply, why] of replies) {
      let message = '';
      try {
        fromWire(reply, new Set(), redactor);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe(`Server reply does not match the protocol: ${why}`);
      for (let start = 0; start + 12 <= token.length; start += 1) {
        expect(message, `piece at ${start}`).not.toContain(token.slice(start, start + 12));
      }
    }
  });

  it('takes a reply whose rejected item leaves out retryable as not retryable, and ignores other fields', () => {
    const reply = { results: [{ id: 'r', status: 'rejected', reason: 'no', extra: token }], more: 1 };
    expect(fromWire(reply, new Set(['r']), redactor)).toEqual([
      { id: 'r', status: 'failed', error: 'no', retryable: false },
    ]);
  });

  it('clips text to a length, marking the cut', () => {
    expect(clip('abcdef', 3)).toBe('abc…');
    expect(clip('abc', 3)).toBe('abc');
  });
});
