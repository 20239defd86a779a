import { describe, expect, it } from 'vitest';
import type { ConflictPolicy, PulledChange, RepositoryEntity } from '../../src/index.js';
import { type LocalRecordState, planPulledPage } from '../../src/protocol/pull-page.js';
import { recordDigest } from '../../src/protocol/record-digest.js';

interface Note extends RepositoryEntity {
  text?: string;
}

const NOW = 9_000;

/** A local record; `base` is the server version a pending change was made on (`baseVersion`). */
const note = (version: number, text: string, pending: boolean, base?: number): LocalRecordState<Note> => ({
  record: {
    id: 'a',
    version,
    createdAt: 100,
    updatedAt: 200,
    syncPending: pending,
    text,
    ...(base === undefined ? {} : { baseVersion: base }),
  },
  pending,
});
const gone = (version: number, pending: boolean, base?: number): LocalRecordState<Note> => ({
  record: {
    id: 'a',
    version,
    createdAt: 100,
    updatedAt: 300,
    syncPending: pending,
    deleted: true,
    ...(base === undefined ? {} : { baseVersion: base }),
  },
  pending,
});
const live = (version: number, text = 'theirs'): PulledChange => ({
  id: 'a',
  version,
  deleted: false,
  item: { id: 'a', version, createdAt: 1, updatedAt: 500, syncPending: false, text },
});
const dead = (version: number): PulledChange => ({
  id: 'a',
  version,
  deleted: true,
  item: { id: 'a', version, createdAt: 1, updatedAt: 600, syncPending: false, deleted: true },
});

const merge: ConflictPolicy<Note> = (mine, theirs) => ({ ...theirs, text: `${theirs.text}+${mine.text}` });

/** What a plan did to record "a": its kind, and the record stored (`null`: removed, `undefined`: untouched). */
function outcome(
  local: LocalRecordState<Note> | undefined,
  change: PulledChange,
  conflicts: ConflictPolicy<Note>,
) {
  const plan = planPulledPage<Note>({ changes: [change], local: () => local, conflicts, now: NOW });
  const [decision] = plan.decisions;
  const stored = plan.removed.has('a') ? null : plan.writes.get('a');
  const kind =
    decision?.kind === 'conflict' ? `conflict:${decision.resolution.kind}` : (decision?.kind as string);
  const { refused, repush, ...counts } = plan.counts;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  expect(total).toBe(1);
  return {
    kind,
    stored: stored === null || stored === undefined ? stored : pick(stored),
    repush,
    refused: refused.map((r) => r.kind),
  };
}

const pick = (r: Note) => ({
  v: r.version,
  pending: r.syncPending,
  ...(r.deleted ? { deleted: true } : { text: r.text }),
});

type Row = [string, LocalRecordState<Note> | undefined, PulledChange, ConflictPolicy<Note>, string, unknown];

// One row per case: the local state, the pulled change, the policy; what the change does and what is stored.
const table: Row[] = [
  // Nothing held locally.
  ['new record', undefined, live(3), 'server-wins', 'pull', { v: 3, pending: false, text: 'theirs' }],
  ['tombstone of a record not held', undefined, dead(3), 'client-wins', 'echo', undefined],
  // Held, nothing pending.
  [
    'newer version',
    note(2, 'mine', false),
    live(3),
    'client-wins',
    'pull',
    { v: 3, pending: false, text: 'theirs' },
  ],
  ['the version held (an echo)', note(3, 'mine', false), live(3), 'server-wins', 'echo', undefined],
  ['an older version: never goes down', note(4, 'mine', false), live(3), 'server-wins', 'echo', undefined],
  // A delete is kept as the server's synced tombstone (hidden from apps): a record saved again is built on it.
  [
    'a newer tombstone',
    note(2, 'mine', false),
    dead(3),
    'client-wins',
    'delete',
    { v: 3, pending: false, deleted: true },
  ],
  ['the echo of our acknowledged delete', gone(3, false), dead(3), 'server-wins', 'echo', undefined],
  [
    'an older live version after our acknowledged delete',
    gone(3, false),
    live(2),
    'server-wins',
    'echo',
    undefined,
  ],
  [
    'a newer live version after our acknowledged delete',
    gone(3, false),
    live(4),
    'server-wins',
    'pull',
    {
      v: 4,
      pending: false,
      text: 'theirs',
    },
  ],
  // A pending local edit.
  [
    'the version the pending edit was made on (its push goes on top)',
    note(4, 'mine', true, 3),
    live(3),
    'server-wins',
    'echo',
    undefined,
  ],
  [
    'older than the base of the pending edit',
    note(4, 'mine', true, 3),
    live(2),
    'client-wins',
    'echo',
    undefined,
  ],
  // The lost update: synced at v1, edited twice offline (v3 on base 1), while another client wrote v2. Its number
  // is below the local one, but the local change never saw it.
  [
    "another client's write below the pending version, after its base, server-wins",
    note(3, 'mine', true, 1),
    live(2),
    'server-wins',
    'conflict:accept-remote',
    { v: 2, pending: false, text: 'theirs' },
  ],
  [
    "another client's write below the pending version, after its base, client-wins: pushed above both",
    note(3, 'mine', true, 1),
    live(2),
    'client-wins',
    'conflict:push',
    { v: 4, pending: true, text: 'mine' },
  ],
  [
    "another client's write below the pending version, merge",
    note(3, 'mine', true, 1),
    live(2),
    merge,
    'conflict:push',
    { v: 4, pending: true, text: 'theirs+mine' },
  ],
  [
    "another client's delete below the pending version, after its base, server-wins",
    note(3, 'mine', true, 1),
    dead(2),
    'server-wins',
    'conflict:accept-remote',
    { v: 2, pending: false, deleted: true },
  ],
  [
    "another client's write below a pending delete, after its base, server-wins",
    gone(3, true, 1),
    live(2),
    'server-wins',
    'conflict:accept-remote',
    { v: 2, pending: false, text: 'theirs' },
  ],
  // A create (no base): the server had no version of it, so any version but its own echo is someone else's.
  [
    'a create edited twice meets a version another client created, server-wins',
    note(3, 'mine', true),
    live(1),
    'server-wins',
    'conflict:accept-remote',
    { v: 1, pending: false, text: 'theirs' },
  ],
  [
    'a create edited twice meets a version another client created, client-wins',
    note(3, 'mine', true),
    live(1),
    'client-wins',
    'conflict:push',
    { v: 4, pending: true, text: 'mine' },
  ],
  [
    'the pending edit itself coming back (the push landed, its ack is on the way)',
    note(3, 'mine', true),
    { id: 'a', version: 3, deleted: false, item: { ...note(3, 'mine', true).record, syncPending: false } },
    'server-wins',
    'echo',
    undefined,
  ],
  [
    'the pending edit itself coming back without its base (the server never stores one)',
    note(3, 'mine', true, 2),
    { id: 'a', version: 3, deleted: false, item: { ...note(3, 'mine', true).record, syncPending: false } },
    'server-wins',
    'echo',
    undefined,
  ],
  [
    'edit vs edit, server-wins',
    note(3, 'mine', true),
    live(5),
    'server-wins',
    'conflict:accept-remote',
    {
      v: 5,
      pending: false,
      text: 'theirs',
    },
  ],
  [
    'edit vs edit at the same version, server-wins',
    note(3, 'mine', true),
    live(3),
    'server-wins',
    'conflict:accept-remote',
    {
      v: 3,
      pending: false,
      text: 'theirs',
    },
  ],
  [
    'edit vs edit, client-wins',
    note(3, 'mine', true),
    live(5),
    'client-wins',
    'conflict:push',
    {
      v: 6,
      pending: true,
      text: 'mine',
    },
  ],
  [
    'edit vs edit, merge',
    note(3, 'mine', true),
    live(5),
    merge,
    'conflict:push',
    {
      v: 6,
      pending: true,
      text: 'theirs+mine',
    },
  ],
  // Edit vs delete: a pending local edit meets a pulled tombstone.
  [
    'edit vs delete, server-wins',
    note(3, 'mine', true),
    dead(5),
    'server-wins',
    'conflict:accept-remote',
    { v: 5, pending: false, deleted: true },
  ],
  [
    'edit vs delete, client-wins',
    note(3, 'mine', true),
    dead(5),
    'client-wins',
    'conflict:push',
    {
      v: 6,
      pending: true,
      text: 'mine',
    },
  ],
  [
    'edit vs delete, merge: the edit wins',
    note(3, 'mine', true),
    dead(5),
    merge,
    'conflict:push',
    {
      v: 6,
      pending: true,
      text: 'mine',
    },
  ],
  // Delete vs edit: a pending local tombstone meets a pulled live record.
  [
    'delete vs edit, server-wins',
    gone(3, true),
    live(5),
    'server-wins',
    'conflict:accept-remote',
    {
      v: 5,
      pending: false,
      text: 'theirs',
    },
  ],
  [
    'delete vs edit, client-wins',
    gone(3, true),
    live(5),
    'client-wins',
    'conflict:push',
    {
      v: 6,
      pending: true,
      deleted: true,
    },
  ],
  [
    'delete vs edit, merge: the edit wins',
    gone(3, true),
    live(5),
    merge,
    'conflict:accept-remote',
    {
      v: 5,
      pending: false,
      text: 'theirs',
    },
  ],
  // Delete vs delete: both sides agree, whatever the policy.
  [
    'delete vs delete, client-wins',
    gone(3, true),
    dead(5),
    'client-wins',
    'conflict:accept-remote',
    { v: 5, pending: false, deleted: true },
  ],
  [
    'delete vs delete, merge',
    gone(3, true),
    dead(5),
    merge,
    'conflict:accept-remote',
    { v: 5, pending: false, deleted: true },
  ],
];

/** Text a server chose, as a token it echoed would be: no refusal may quote any of it. */
const SERVER_TEXT = 'server-chosen-text-8f3a2c';

describe('planPulledPage', () => {
  it('refuses changes without quoting any of the server text (ids, values, field names): messages are data-free', () => {
    const s = SERVER_TEXT;
    let deep: unknown = s;
    for (let i = 0; i < 70; i += 1) deep = { [s]: deep };
    const changes = [
      { id: s, version: s, deleted: false, item: { id: s, version: 1 } },
      { id: s, version: 1, deleted: s, item: { id: s, version: 1 } },
      { id: s, version: 1, deleted: false, item: s },
      { id: s, version: 1, deleted: false, item: { id: `${s}-other`, version: 1 } },
      { id: s, version: 1, deleted: false, item: { id: s, version: s } },
      { id: s, version: 1, deleted: false, item: { id: s, version: 1, [s]: deep } },
      s,
      { id: [s], version: 1, deleted: false, item: {} },
    ];
    for (const local of [
      undefined,
      { ...note(0, 'mine', false), record: { ...note(0, 'mine', false).record, id: s } },
    ]) {
      const plan = planPulledPage<Note>({
        changes: changes as PulledChange[],
        local: () => local,
        conflicts: 'server-wins',
        now: NOW,
      });
      expect(plan.counts.invalid).toBe(changes.length);
      for (const { error } of plan.counts.refused) expect(error).not.toContain(s.slice(0, 8));
      // The refusal still says which change and what is wrong, by position and structure.
      expect(plan.counts.refused.map((r) => r.error)).toEqual([
        'Pulled change 0 has version a string of 25 characters, not a whole number',
        'Pulled change 1 has deleted a string of 25 characters, not a boolean',
        'Pulled change 2 has no record as its item (a string of 25 characters)',
        'Pulled change 3 carries a record of another id (a string of 31 characters)',
        'Pulled change 4 says version 1 but its record has a string of 25 characters',
        expect.stringMatching(/cannot be stored: it is nested deeper than 64 levels in one of its fields$/),
        'Pulled change 6 is not an object (a string of 25 characters)',
        'Pulled change 7 has no usable id (an array)',
      ]);
    }
  });

  it.each(table)('%s', (_, local, change, policy, kind, stored) => {
    const result = outcome(local, change, policy);
    expect(result.kind).toBe(kind);
    expect(result.stored).toEqual(stored);
    expect(result.repush).toEqual(kind === 'conflict:push' ? ['a'] : []);
    expect(result.refused).toEqual([]);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['version disagreeing with the item', { ...live(3), version: 4 }, /says version 4 but its record has 3/],
    [
      'deleted disagreeing with the item',
      { ...live(3), deleted: true },
      /says deleted true but its record is not/,
    ],
    [
      'an item of another id',
      { ...live(3), item: { id: 'b', version: 3 } },
      /another id \(a string of 1 character\)/,
    ],
    ['a fractional version', { ...live(3), version: 2.5 }, /version 2.5, not a whole number/],
    ['no item', { id: 'a', version: 3, deleted: false }, /no record as its item/],
    ['no id', { version: 3, deleted: false, item: {} }, /no usable id/],
    [
      'an item JSON cannot carry',
      {
        ...live(3),
        item: { id: 'a', version: 3, createdAt: 1, updatedAt: 1, syncPending: false, text: () => 1 },
      },
      /cannot be stored/,
    ],
  ];

  it.each(invalid)('refuses %s, storing nothing, whatever is held', (_, change, message) => {
    for (const local of [undefined, note(2, 'mine', false), note(2, 'mine', true)]) {
      const plan = planPulledPage<Note>({
        changes: [change as PulledChange],
        local: () => local,
        conflicts: 'client-wins',
        now: NOW,
      });
      expect(plan.counts).toMatchObject({ invalid: 1, pulled: 0, conflicts: 0, echoes: 0, deleted: 0 });
      expect(plan.counts.refused).toEqual([
        { id: expect.any(String), kind: 'invalid', error: expect.stringMatching(message) },
      ]);
      expect(plan.writes.size + plan.removed.size).toBe(0);
    }
  });

  it('refuses a conflicting copy no store could keep as invalid, before any policy sees it', () => {
    const plan = planPulledPage<Note>({
      changes: [
        { ...live(5), item: { id: 'a', version: 5, createdAt: 1, updatedAt: Number.NaN, depth: Infinity } },
      ],
      local: () => note(3, 'mine', true),
      conflicts: 'server-wins',
      now: NOW,
    });
    expect(plan.counts).toMatchObject({ invalid: 1, conflicts: 0 });
    expect(plan.writes.size).toBe(0);
  });

  it('keeps the pending record when a merge function throws, reporting the conflict unresolved', () => {
    const plan = planPulledPage<Note>({
      changes: [live(5)],
      local: () => note(3, 'mine', true),
      conflicts: () => {
        throw new Error('cannot merge');
      },
      now: NOW,
    });
    expect(plan.counts).toMatchObject({ conflicts: 1, invalid: 0 });
    expect(plan.counts.refused).toEqual([
      { id: 'a', kind: 'unresolved', error: 'Conflict resolver threw: cannot merge' },
    ]);
    expect(plan.writes.size + plan.removed.size).toBe(0);
  });

  it('takes an id repeated in a page in order, against what the earlier change left: versions never go down', () => {
    const asked: string[] = [];
    const plan = planPulledPage<Note>({
      changes: [live(5, 'five'), live(4, 'four'), dead(6), live(3)],
      local: (id) => {
        asked.push(id);
        return note(2, 'mine', false);
      },
      conflicts: 'server-wins',
      now: NOW,
    });
    expect(plan.decisions.map((d) => d.kind)).toEqual(['pull', 'echo', 'delete', 'echo']);
    // The tombstone (kept, synced) is the latest: a version 3 after it is older, and changes nothing.
    expect(plan.writes.get('a')).toMatchObject({ version: 6, deleted: true, syncPending: false });
    expect(plan.removed.size).toBe(0);
    expect(asked).toEqual(['a']);
  });

  it('a record whose acknowledged tombstone the store removed before its first pull never comes back at a version up to it', () => {
    const plan = planPulledPage<Note>({
      changes: [
        live(2, 'before the delete'),
        { ...live(2), id: 'b', item: { ...(live(2).item as object), id: 'b' } },
      ],
      local: () => undefined,
      conflicts: 'server-wins',
      now: NOW,
      purged: (id) => (id === 'a' ? 3 : undefined),
    });
    expect(plan.decisions.map((d) => d.kind)).toEqual(['echo', 'pull']);
    expect([...plan.writes.keys()]).toEqual(['b']);
    // A version past the tombstone is a later write (someone created the record again): taken.
    const later = planPulledPage<Note>({
      changes: [live(4, 'again')],
      local: () => undefined,
      conflicts: 'server-wins',
      now: NOW,
      purged: () => 3,
    });
    expect(later.decisions.map((d) => d.kind)).toEqual(['pull']);
  });

  it('counts every change once: pulled, deleted, conflicts, echoes, invalid', () => {
    const locals: Record<string, LocalRecordState<Note>> = {
      b: { ...note(1, 'b', false), record: { ...note(1, 'b', false).record, id: 'b' } },
      c: { ...note(1, 'c', true), record: { ...note(1, 'c', true).record, id: 'c' } },
    };
    const change = (id: string, version: number, deleted = false): PulledChange => ({
      id,
      version,
      deleted,
      item: { id, version, createdAt: 1, updatedAt: 1, syncPending: false, ...(deleted ? { deleted } : {}) },
    });
    const plan = planPulledPage<Note>({
      changes: [
        change('a', 1),
        change('b', 2, true),
        change('c', 2),
        change('d', 1, true),
        { ...change('e', 1), version: 2 },
      ],
      local: (id) => locals[id],
      conflicts: 'client-wins',
      now: NOW,
    });
    expect(plan.counts).toEqual({
      pulled: 1,
      deleted: 1,
      conflicts: 1,
      echoes: 1,
      invalid: 1,
      refused: [expect.objectContaining({ id: 'e' })],
      repush: ['c'],
    });
  });
});

describe('planPulledPage: versions the client pushed without hearing back (ownVersions)', () => {
  const mine2 = { id: 'a', version: 2, createdAt: 1, updatedAt: 500, syncPending: false, text: 'mine v2' };
  const pendingV3 = (digest: string): LocalRecordState<Note> => ({
    record: {
      id: 'a',
      version: 3,
      createdAt: 1,
      updatedAt: 600,
      syncPending: true,
      text: 'mine v3',
      baseVersion: 1,
      ownVersions: [{ version: 2, digest }],
    },
    pending: true,
  });
  const plan = (local: LocalRecordState<Note>, item: object) =>
    planPulledPage<Note>({
      changes: [{ id: 'a', version: 2, deleted: false, item }],
      local: () => local,
      conflicts: 'server-wins',
      now: NOW,
    }).decisions[0];

  it("takes the client's own pushed version coming back for an echo, and another writer's v2 for a conflict", () => {
    const local = pendingV3(recordDigest(mine2));
    expect(plan(local, mine2)).toMatchObject({ kind: 'echo' });
    expect(plan(local, { ...mine2, text: 'their v2' })).toMatchObject({ kind: 'conflict' });
  });
});

describe('planPulledPage: a handed-over page is adopted in place', () => {
  /** A page as a remote parses it from its reply: new record "n", "a" held synced at v1, "p" pending at v1. */
  const wirePage = () =>
    JSON.parse(
      JSON.stringify([
        {
          id: 'n',
          version: 1,
          deleted: false,
          item: {
            id: 'n',
            version: 1,
            text: 'new',
            nested: { list: [1, 2] },
            baseVersion: 0,
            syncPending: true,
          },
        },
        {
          id: 'a',
          version: 2,
          deleted: false,
          item: { id: 'a', version: 2, createdAt: 7, updatedAt: 8, syncPending: false, text: 'theirs' },
        },
        {
          id: 'p',
          version: 2,
          deleted: false,
          item: { id: 'p', version: 2, createdAt: 7, updatedAt: 8, syncPending: false, text: 'theirs' },
        },
      ]),
    ) as PulledChange[];
  const locals: Record<string, LocalRecordState<Note> | undefined> = {
    a: {
      record: { id: 'a', version: 1, createdAt: 100, updatedAt: 200, syncPending: false },
      pending: false,
    },
    p: {
      record: {
        id: 'p',
        version: 2,
        createdAt: 100,
        updatedAt: 200,
        syncPending: true,
        baseVersion: 1,
        text: 'mine',
      },
      pending: true,
    },
  };
  const plan = (changes: PulledChange[], adoptInPlace: boolean, seen: unknown[] = []) =>
    planPulledPage<Note>({
      changes,
      local: (id) => locals[id],
      conflicts: (mine, theirs) => {
        seen.push(structuredClone(theirs), Object.isFrozen(theirs));
        return { ...mine, text: `${theirs.text}+${mine.text}` };
      },
      now: NOW,
      adoptInPlace,
    });

  it('stores the items themselves, frozen, as the records a copy would have made; a conflict sees the copy as sent', () => {
    const copiedSeen: unknown[] = [];
    const copied = plan(wirePage(), false, copiedSeen);
    const changes = wirePage();
    const inPlaceSeen: unknown[] = [];
    const inPlace = plan(changes, true, inPlaceSeen);

    expect(inPlace.counts).toEqual(copied.counts);
    expect([...inPlace.writes.keys()]).toEqual([...copied.writes.keys()]);
    for (const [id, record] of inPlace.writes) {
      // Same fields, same values, same key order (the journal and the snapshot write exactly the same text).
      expect(JSON.stringify(record)).toBe(JSON.stringify(copied.writes.get(id)));
      expect(record).toEqual(copied.writes.get(id));
    }
    const [n, a, p] = changes as [PulledChange, PulledChange, PulledChange];
    expect(inPlace.writes.get('n')).toBe(n.item);
    expect(inPlace.writes.get('a')).toBe(a.item);
    expect(inPlace.writes.get('n')).toMatchObject({ createdAt: NOW, updatedAt: NOW, syncPending: false });
    expect(inPlace.writes.get('n')).not.toHaveProperty('baseVersion');
    expect(inPlace.writes.get('a')).toMatchObject({ createdAt: 100, updatedAt: 8 });
    expect(Object.isFrozen(n.item)).toBe(true);
    expect(Object.isFrozen((n.item as { nested: { list: number[] } }).nested.list)).toBe(true);
    // The conflict's resolver got the server's copy as it came, not adopted, and it was not written in place.
    expect(inPlaceSeen).toEqual(copiedSeen);
    expect(inPlaceSeen[1]).toBe(false);
    expect(inPlace.writes.get('p')).not.toBe(p.item);
    expect(p.item).toMatchObject({ createdAt: 7, text: 'theirs' });
  });

  it('copies an item adopted before (frozen) instead, with the same result', () => {
    const changes = wirePage();
    const first = plan(changes, true);
    const again = plan(changes, true);
    expect(again.counts).toEqual(first.counts);
    for (const [id, record] of again.writes) {
      expect(record).toEqual(first.writes.get(id));
      if (id !== 'p') expect(record).not.toBe(first.writes.get(id));
    }
  });

  it('refuses what a copy refuses, with the same reason, and turns -0 into 0 as a copy does', () => {
    /** One change of record "x" whose item is `itemJson`, parsed as a remote parses it. */
    const pageOf = (itemJson: string): PulledChange[] =>
      JSON.parse(`[{"id":"x","version":1,"deleted":false,"item":${itemJson}}]`);
    const deep = `{"id":"x","version":1,"d":${'{"d":'.repeat(70)}1${'}'.repeat(70)}}`;
    expect(plan(pageOf(deep), true).decisions).toEqual(plan(pageOf(deep), false).decisions);
    expect(plan(pageOf(deep), true).counts.refused[0]?.error).toMatch(/nested deeper than 64/);
    // 1e999 parses to Infinity, which JSON cannot carry back.
    const infinite = '{"id":"x","version":1,"big":1e999}';
    expect(plan(pageOf(infinite), true).decisions).toEqual(plan(pageOf(infinite), false).decisions);
    expect(plan(pageOf(infinite), true).counts.refused[0]?.error).toMatch(/Infinity/);
    const zero = plan(pageOf('{"id":"x","version":1,"z":-0,"list":[-0]}'), true).writes.get('x');
    expect(Object.is((zero as { z?: number }).z, 0)).toBe(true);
    expect(Object.is((zero as { list?: number[] }).list?.[0], 0)).toBe(true);
  });
});
