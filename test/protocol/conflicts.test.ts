import { describe, expect, it } from 'vitest';
import type { ConflictPolicy, ItemResult, RepositoryEntity } from '../../src/index.js';
import { planReply } from '../../src/protocol/batch-outcome.js';
import { resolveConflict } from '../../src/protocol/conflicts.js';

interface Note extends RepositoryEntity {
  text?: string;
  [field: string]: unknown;
}

const local: Note = { id: 'a', version: 3, createdAt: 100, updatedAt: 200, syncPending: true, text: 'mine' };
const NOW = 5_000;

const policies: [string, ConflictPolicy<Note>][] = [
  ['server-wins', 'server-wins'],
  ['client-wins', 'client-wins'],
  ['a merge function', (mine, theirs) => ({ ...theirs, text: `${String(theirs.text)} + ${mine.text}` })],
];

/** Server copies no policy may store: each fails the item with a clear error. */
const unusable: [string, unknown, RegExp][] = [
  ['a negative version', { id: 'a', version: -1 }, /has version -1/],
  [
    'a lower version',
    { id: 'a', version: 2 },
    /has version 2, not a whole number from 3 \(the version sent\)/,
  ],
  ['a NaN-ish version string', { id: 'a', version: 'NaN' }, /has version a string of 3 characters/],
  ['another id', { id: 'b', version: 9 }, /names another id/],
  ['5,000 levels of nesting', { id: 'a', version: 9, deep: deep(5_000) }, /nested deeper than 64 levels/],
];

function deep(levels: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < levels; i += 1) value = [value];
  return value;
}

describe('resolveConflict', () => {
  describe.each(policies)('%s', (_, policy) => {
    it.each(unusable)('fails the item for a server copy with %s', (_, remote, message) => {
      const resolution = resolveConflict(policy, local, remote, NOW);
      expect(resolution.kind).toBe('failed');
      if (resolution.kind === 'failed') expect(resolution.error).toMatch(message);
    });

    it('completes a minimal { id, version } copy; createdAt stays local, versions only go up', () => {
      const resolution = resolveConflict(policy, local, { id: 'a', version: 7, createdAt: -1 }, NOW);
      expect(resolution.kind).not.toBe('failed');
      if (resolution.kind === 'failed') return;
      expect(resolution.entity).toMatchObject({ id: 'a', createdAt: 100 });
      expect(resolution.entity.version).toBeGreaterThanOrEqual(7);
      expect(resolution.entity.syncPending).toBe(resolution.kind === 'push');
    });

    it('takes a copy at the version sent (same version, other content) without lowering it', () => {
      const resolution = resolveConflict(policy, local, { id: 'a', version: 3, text: 'theirs' }, NOW);
      expect(resolution.kind).not.toBe('failed');
      if (resolution.kind !== 'failed') expect(resolution.entity.version).toBeGreaterThanOrEqual(3);
    });
  });

  it('server-wins: the checked copy, synced, with the remote updatedAt when usable', () => {
    expect(
      resolveConflict('server-wins', local, { id: 'a', version: 4, updatedAt: 300, syncPending: 'yes' }, NOW),
    ).toEqual({
      kind: 'accept-remote',
      entity: { id: 'a', version: 4, createdAt: 100, updatedAt: 300, syncPending: false },
    });
  });

  it('a merge function gets the completed server copy and its output is checked like any record', () => {
    const seen: Note[] = [];
    const resolution = resolveConflict<Note>(
      (mine, theirs) => {
        seen.push(theirs);
        return { ...mine, version: -5, createdAt: -1, syncPending: false };
      },
      local,
      { id: 'a', version: 4 },
      NOW,
    );
    expect(seen).toEqual([{ id: 'a', version: 4, createdAt: 100, updatedAt: NOW, syncPending: false }]);
    // Bookkeeping in a merge result is ours: the version is above the server's, built on it, createdAt the local one.
    expect(resolution).toEqual({
      kind: 'push',
      entity: { ...local, version: 5, createdAt: 100, updatedAt: NOW, syncPending: true, baseVersion: 4 },
    });
  });

  describe('a change made on a server version (baseVersion): the lost update', () => {
    // Synced at v1, edited twice offline (v3 on base 1); another client's v2 reached the server meanwhile.
    const edited: Note = { ...local, version: 3, baseVersion: 1, text: 'mine' };
    const theirs = {
      id: 'a',
      version: 2,
      createdAt: 100,
      updatedAt: 400,
      syncPending: false,
      text: 'theirs',
    };

    it('server-wins takes the copy at its own version, below the local one, synced and without a base', () => {
      expect(resolveConflict('server-wins', edited, { ...theirs, baseVersion: 1 }, NOW)).toEqual({
        kind: 'accept-remote',
        entity: theirs,
      });
    });

    it.each<[string, ConflictPolicy<Note>, string]>([
      ['client-wins', 'client-wins', 'mine'],
      ['a merge', (mine, server) => ({ ...mine, text: `${server.text}+${mine.text}` }), 'theirs+mine'],
    ])('%s pushes above both versions, built on the server copy', (_, policy, text) => {
      expect(resolveConflict(policy, edited, theirs, NOW)).toEqual({
        kind: 'push',
        entity: { ...edited, text, version: 4, baseVersion: 2, updatedAt: NOW, syncPending: true },
      });
    });

    it('a change without a base keeps the old floor: a copy below the version sent breaks the protocol', () => {
      const { baseVersion: _, ...create } = edited;
      expect(resolveConflict('server-wins', create, theirs, NOW)).toMatchObject({ kind: 'failed' });
    });
  });

  it.each<[string, (mine: Note, theirs: Note) => unknown, RegExp]>([
    [
      'nested too deeply',
      (mine) => ({ ...mine, deep: deep(200) }),
      /nested deeper than 64 levels in one of its fields/,
    ],
    ['with a function', (mine) => ({ ...mine, f: () => 1 }), /holds a function in one of its fields/],
    ['with NaN', (mine) => ({ ...mine, n: Number.NaN }), /holds the number NaN in one of its fields/],
    ['an array', () => [], /returned no record/],
    ['null', () => null, /returned no record/],
    [
      'with a getter that throws',
      (mine) => ({
        ...mine,
        get boom(): never {
          throw new Error('trap');
        },
      }),
      /cannot be read: trap/,
    ],
  ])('a merge result %s fails the item', (_, merge, message) => {
    const resolution = resolveConflict(merge as ConflictPolicy<Note>, local, { id: 'a', version: 4 }, NOW);
    expect(resolution.kind).toBe('failed');
    if (resolution.kind === 'failed') expect(resolution.error).toMatch(message);
  });
});

describe('planReply with an unusable server copy', () => {
  it('fails that item for good and writes nothing for it; the rest of the batch is planned as usual', () => {
    const items: Note[] = [local, { ...local, id: 'b' }];
    const results = new Map<string, ItemResult<Note>>([
      ['a', { id: 'a', status: 'conflict', remote: { id: 'a', version: -1 } as Note }],
      ['b', { id: 'b', status: 'ok' }],
    ]);
    const plan = planReply(
      { items, attempts: () => 1, maxAttempts: 3, conflicts: 'server-wins', now: NOW },
      results,
    );
    expect(plan.replace).toEqual([]);
    expect(plan.acks).toEqual([{ id: 'b', version: 3 }]);
    expect(plan.conflicts).toBe(1);
    expect(plan.failures).toEqual([
      { id: 'a', version: 3, error: expect.stringMatching(/has version -1/), retryable: false },
    ]);
  });
});
