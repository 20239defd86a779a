import { describe, expect, it } from 'vitest';
import type { RepositoryEntity } from '../../src/index.js';
import { recordDigest } from '../../src/protocol/record-digest.js';
import { SyncServerState } from '../../src/server.js';

const base = { id: 'x', createdAt: 1, updatedAt: 2, version: 2, text: 'two' };

describe('recordDigest: the fingerprint of what the server keeps of a record', () => {
  it('ignores the writer bookkeeping and key order, and tells other content apart', () => {
    const digest = recordDigest({ ...base, syncPending: true, baseVersion: 1, ownVersions: [] });
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    expect(
      recordDigest({ text: 'two', version: 2, updatedAt: 2, createdAt: 1, id: 'x', syncPending: false }),
    ).toBe(digest);
    expect(recordDigest({ ...base, deleted: false })).toBe(digest);
    expect(recordDigest({ ...base, text: 'Two' })).not.toBe(digest);
    expect(recordDigest({ ...base, version: 3 })).not.toBe(digest);
    expect(recordDigest({ ...base, deleted: true })).not.toBe(digest);
  });
});

describe('the server rule for a change made on top of a lost reply', () => {
  const item = (fields: Partial<RepositoryEntity> & { text: string }): RepositoryEntity =>
    ({ id: 'x', createdAt: 1, updatedAt: 2, syncPending: true, version: 1, ...fields }) as RepositoryEntity;

  it("takes it when the server holds the writer's own version (same number, same fingerprint), not another's", () => {
    const state = new SyncServerState();
    state.apply('note', 'b1', [item({ version: 1, text: 'one' })]);
    // The writer's v2 is applied; its reply is lost. Its v3 is still made on v1, and lists v2 as its own.
    const v2 = item({ version: 2, baseVersion: 1, text: 'two' });
    state.apply('note', 'b2', [v2]);
    const v3 = item({
      version: 3,
      baseVersion: 1,
      text: 'three',
      ownVersions: [{ version: 2, digest: recordDigest(v2) }],
    });
    expect(state.apply('note', 'b3', [v3])).toEqual([{ id: 'x', status: 'ok' }]);
    expect(state.get('note', 'x')?.item).not.toHaveProperty('ownVersions');

    // Another writer's v4 on v3: a change that lists a v4 of other content is still a conflict.
    state.apply('note', 'b4', [item({ version: 4, baseVersion: 3, text: 'theirs' })]);
    const stale = item({
      version: 5,
      baseVersion: 3,
      text: 'mine',
      ownVersions: [
        { version: 4, digest: recordDigest(item({ version: 4, baseVersion: 3, text: 'mine v4' })) },
      ],
    });
    expect(state.apply('note', 'b5', [stale])).toEqual([
      expect.objectContaining({ id: 'x', status: 'conflict' }),
    ]);
  });
});
