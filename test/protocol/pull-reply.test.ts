import { describe, expect, it } from 'vitest';
import { MalformedReplyError } from '../../src/domain/errors.js';
import { validatePullReply } from '../../src/protocol/pull-reply.js';

const change = { id: 'a', version: 1, deleted: false, item: { id: 'a', version: 1 } };

describe('validatePullReply: what any remote resolves for a pull is checked before it is acted on', () => {
  it('passes a reset and a well-formed page', () => {
    expect(validatePullReply({ reset: true }, 10)).toEqual({ reset: true });
    expect(validatePullReply({ changes: [change], checkpoint: 'c1', hasMore: true }, 10, 'c0')).toEqual({
      changes: [change],
      checkpoint: 'c1',
      hasMore: true,
    });
    expect(
      validatePullReply({ reset: false, changes: [], checkpoint: 'c0', hasMore: false }, 10, 'c0'),
    ).toEqual({
      changes: [],
      checkpoint: 'c0',
      hasMore: false,
    });
  });

  it.each([
    ['null', null, /must be an object, got null/],
    ['an array', [], /must be an object, got an array/],
    ['a string reset', { reset: 'yes' }, /reset a string of 3 characters, not a boolean/],
    ['no changes', { checkpoint: 'c', hasMore: false }, /no changes array/],
    [
      'too many changes',
      { changes: [change, change], checkpoint: 'c', hasMore: false },
      /more than the 1 asked/,
    ],
    ['no checkpoint', { changes: [], hasMore: false }, /no checkpoint string/],
    ['an empty checkpoint', { changes: [], checkpoint: '', hasMore: false }, /no checkpoint string/],
    [
      'a huge checkpoint',
      { changes: [], checkpoint: 'x'.repeat(3000), hasMore: false },
      /no checkpoint string/,
    ],
    ['hasMore not a boolean', { changes: [], checkpoint: 'c', hasMore: 1 }, /hasMore 1, not a boolean/],
    // A client following these would ask forever.
    ['more promised, none sent', { changes: [], checkpoint: 'c9', hasMore: true }, /holds none/],
    [
      'more promised, checkpoint still',
      { changes: [change], checkpoint: 'c0', hasMore: true },
      /did not move/,
    ],
  ])('refuses %s with a MalformedReplyError that quotes nothing of it', (_, reply, message) => {
    let thrown: unknown;
    try {
      validatePullReply(reply, 1, 'c0');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MalformedReplyError);
    expect((thrown as Error).message).toMatch(message);
    expect((thrown as Error).message).not.toContain('xxxx');
  });
});
