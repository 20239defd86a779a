/**
 * Issue 13, conflicts in both directions over HTTP: every case for every policy, found by a pull (downstream) and
 * by a push (upstream). Two devices, A and B, each with its own lowdb store in a temp dir and its own coordinator,
 * sync with one reference server on 127.0.0.1; nothing of ours is mocked.
 *
 * Every case starts with A and B holding n1 at version 1, synced. A then changes n1 (an edit or a delete) and
 * syncs; B, offline, changes n1 too (pending). B's change meets A's:
 * - downstream: B pulls before it pushes (a pull-only repository over B's store: the app pulls on open, the user's
 *   edits go out on the next sync), so the pulled change meets B's pending one;
 * - upstream: B syncs (push, then pull), so the server answers B's push with `conflict`.
 * B then syncs until nothing is pending, A syncs once more, and the test checks what B, the server and A hold, that
 * the conflict was counted in `SyncResult.conflicts`, and that nothing is left pending or failed.
 *
 * `counter: 'ahead'` has B change n1 twice (its version 3 against A's 2): by number alone B's write looks newer, and
 * only its base version (1) tells that it was made before A's. Those cases depend on base versions.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConflictPolicy, Repository, type SyncProgress, type SyncResult } from '../../src/index.js';
import { ENTITY, Harness, type Note, serverRecord, type TestServer, until } from './harness.js';

let harness: Harness;
afterEach(() => harness.dispose());

type PolicyName = 'server-wins' | 'client-wins' | 'merge';
/** B's pending change against the change A made: `B's side vs A's side`. */
type CaseName = 'edit vs edit' | 'delete vs edit' | 'edit vs delete' | 'delete vs delete';
type Direction = 'downstream' | 'upstream';
type Counter = 'same' | 'ahead';

const A_TEXT = 'A';
const B_TEXT = 'B';
const MERGED = `${A_TEXT}+${B_TEXT}`;

/** What every side holds of n1 in the end: its text, or nothing (deleted). */
type Final = { text: string } | 'gone';
const GONE = 'gone';

/** The rules under test (docs/protocol.md, "Conflicts in both directions"): the same in both directions. */
const FINAL: Record<CaseName, Record<PolicyName, Final>> = {
  'edit vs edit': {
    'server-wins': { text: A_TEXT },
    'client-wins': { text: B_TEXT },
    merge: { text: MERGED },
  },
  'delete vs edit': { 'server-wins': { text: A_TEXT }, 'client-wins': GONE, merge: { text: A_TEXT } },
  'edit vs delete': { 'server-wins': GONE, 'client-wins': { text: B_TEXT }, merge: { text: B_TEXT } },
  'delete vs delete': { 'server-wins': GONE, 'client-wins': GONE, merge: GONE },
};

const bDeletes = (name: CaseName) => name.startsWith('delete');
const aDeletes = (name: CaseName) => name.endsWith('delete');

/** Whether the resolution is B's side (or a merge) pushed on top of A's version, rather than A's side taken. */
function bPushes(name: CaseName, policy: PolicyName): boolean {
  if (name === 'delete vs delete') return false;
  if (policy === 'client-wins') return true;
  // A merge function is given two live records only; against a delete the edit wins.
  return policy === 'merge' && name !== 'delete vs edit';
}

/**
 * Conflicts counted by the run that meets B's change. Two deletes of the same version are the same write to the
 * server (it acknowledges B's tombstone); a pulled tombstone is compared with the pending one whole, and A's and B's
 * deletes differ in `updatedAt`.
 */
function conflictsMet(name: CaseName, direction: Direction, counter: Counter): number {
  return name === 'delete vs delete' && direction === 'upstream' && counter === 'same' ? 0 : 1;
}

const POLICIES: PolicyName[] = ['server-wins', 'client-wins', 'merge'];
const CASES: CaseName[] = ['edit vs edit', 'delete vs edit', 'edit vs delete', 'delete vs delete'];

/** One device: a store of its own, a repository that pushes and pulls, and one that only pulls (the same store). */
async function device(server: TestServer, name: string, conflicts: ConflictPolicy<Note>) {
  const store = await harness.store(join(await harness.tempDir(), `${name}.json`));
  const local = store.collection<Note>(ENTITY);
  const remote = harness.remote(server);
  const repository = new Repository<Note>({ entityType: ENTITY, local, remote });
  const pullOnly = new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'pull' });
  const coordinator = harness.coordinator({ conflicts: conflicts as ConflictPolicy });
  const pullCoordinator = harness.coordinator({ conflicts: conflicts as ConflictPolicy });
  return {
    local,
    repository,
    coordinator,
    sync: () => coordinator.sync(repository),
    pull: () => pullCoordinator.sync(pullOnly),
    /** Live records as the app sees them: id, version, text. */
    live: async () => (await repository.getAll()).map(({ id, version, text }) => ({ id, version, text })),
  };
}

/** A run that resolved whatever it met: nothing failed or refused. */
const clean = (conflicts: number): Partial<SyncResult> => ({
  state: 'synced',
  failedItems: 0,
  refusedItems: 0,
  conflicts,
});

async function scenario(name: CaseName, policy: PolicyName, direction: Direction, counter: Counter) {
  harness = new Harness();
  const server = await harness.server();
  const merges: [Note, Note][] = [];
  const conflicts: ConflictPolicy<Note> =
    policy === 'merge'
      ? (mine, theirs) => {
          merges.push([mine, theirs]);
          return { ...mine, text: `${theirs.text}+${mine.text}` };
        }
      : policy;
  const a = await device(server, 'a', conflicts);
  const b = await device(server, 'b', conflicts);

  // Both hold n1 at version 1, synced.
  await a.repository.save({ id: 'n1', text: 'first' });
  expect(await a.sync()).toMatchObject({ ...clean(0), syncedItems: 1 });
  expect(await b.sync()).toMatchObject({ ...clean(0), pulledItems: 1 });

  // A changes n1 and syncs: the server holds A's version 2.
  if (aDeletes(name)) expect(await a.repository.delete('n1')).toBe(true);
  else await a.repository.save({ id: 'n1', text: A_TEXT });
  expect(await a.sync()).toMatchObject({ ...clean(0), syncedItems: 1 });
  expect((await serverRecord(server, 'n1'))?.item).toMatchObject({ version: 2 });
  // B's change is written later than A's (two deletes at the same millisecond would be the very same tombstone).
  const aChangedAt = Date.now();
  await until(() => Date.now() > aChangedAt, 'the clock to move on');

  // B, offline, changes n1 on version 1.
  if (counter === 'ahead') await b.repository.save({ id: 'n1', text: 'B once' });
  if (bDeletes(name)) expect(await b.repository.delete('n1')).toBe(true);
  else await b.repository.save({ id: 'n1', text: B_TEXT });
  const bVersion = counter === 'ahead' ? 3 : 2;
  expect(await b.local.get('n1', { includeDeleted: true })).toMatchObject({
    version: bVersion,
    baseVersion: 1,
    syncPending: true,
  });

  const final = FINAL[name][policy];
  const pushes = bPushes(name, policy);
  // A resolution that pushes is made on A's version: above both sides' versions.
  const resolvedVersion = pushes ? Math.max(bVersion, 2) + 1 : 2;

  if (direction === 'downstream') {
    const met = await b.pull();
    expect(met).toMatchObject({ ...clean(conflictsMet(name, direction, counter)), syncedItems: 0 });
    // What B holds right after the pull, before it pushes anything.
    const held = await b.local.get('n1', { includeDeleted: true });
    if (pushes) {
      expect(held).toMatchObject({ version: resolvedVersion, baseVersion: 2, syncPending: true });
      expect(held?.deleted === true).toBe(final === GONE);
      if (final !== GONE) expect(held?.text).toBe(final.text);
      expect(await b.repository.pendingCount()).toBe(1);
    } else {
      expect(held === undefined || held.deleted === true ? GONE : { text: held.text }).toEqual(final);
      if (held && held.deleted !== true) {
        expect(held).toMatchObject({ version: 2, syncPending: false });
        expect(held).not.toHaveProperty('baseVersion');
      }
      expect(await b.repository.pendingCount()).toBe(0);
    }
    // The pull resolved it: B's next sync pushes the resolution (if any) and meets no conflict.
    expect(await b.sync()).toMatchObject({ ...clean(0), syncedItems: pushes ? 1 : 0 });
  } else {
    const met = await b.sync();
    // The push met the conflict and settled B's change in the same run: the server's copy taken, or the
    // resolution pushed again and acknowledged (or, for two deletes of one version, B's acknowledged as A's).
    expect(met).toMatchObject({ ...clean(conflictsMet(name, direction, counter)), syncedItems: 1 });
  }
  expect(merges.length).toBe(policy === 'merge' && name === 'edit vs edit' ? 1 : 0);
  if (merges.length > 0) {
    // The merge saw B's pending record and A's, as the server holds it.
    expect(merges[0]?.[0]).toMatchObject({ text: B_TEXT, version: bVersion });
    expect(merges[0]?.[1]).toMatchObject({ text: A_TEXT, version: 2, syncPending: false });
  }

  // A syncs again and takes whatever B's resolution wrote.
  expect(await a.sync()).toMatchObject(clean(0));

  // The server: A's version kept, or the resolution on top of it.
  const stored = await serverRecord(server, 'n1');
  if (!stored) throw new Error('n1 (or its tombstone) is not on the server');
  expect(stored.item.version).toBe(resolvedVersion);
  expect(stored.item.deleted === true).toBe(final === GONE);
  if (final !== GONE) expect((stored.item as Note).text).toBe(final.text);
  expect(stored.appliedVersions).toEqual(pushes ? [1, 2, resolvedVersion] : [1, 2]);

  // B and A hold what the server holds, with nothing pending.
  const expected = final === GONE ? [] : [{ id: 'n1', version: resolvedVersion, text: final.text }];
  expect(await b.live()).toEqual(expected);
  expect(await a.live()).toEqual(expected);
  expect(await b.repository.pendingCount()).toBe(0);
  expect(await a.repository.pendingCount()).toBe(0);
  // Nothing pending either, tombstones included: a delete that won is kept as a synced tombstone (hidden; a record
  // saved again under its id is built on it), at the server's version.
  const served = (await serverRecord(server, 'n1'))?.item;
  for (const side of [a, b]) {
    const all = await side.local.getAll({ includeDeleted: true });
    expect(
      all.map(({ id, version, syncPending, deleted }) => ({ id, version, syncPending, deleted })),
    ).toEqual(
      final === GONE
        ? [{ id: 'n1', version: served?.version, syncPending: false, deleted: true }]
        : expected.map(({ id, version }) => ({ id, version, syncPending: false, deleted: undefined })),
    );
  }
}

describe.each(['downstream', 'upstream'] as const)('%s conflicts', (direction) => {
  describe.each(POLICIES)('%s', (policy) => {
    it.each(CASES)(`%s (one change each, both at version 2)`, (name) =>
      scenario(name, policy, direction, 'same'),
    );
    it.each(CASES)(`%s (B changed twice: version 3 on base 1 against A's 2)`, (name) =>
      scenario(name, policy, direction, 'ahead'),
    );
  });
});

describe("a run's progress and result count both directions", () => {
  it('push then pull: pushed, pulled, deleted and conflicts for a scripted run', async () => {
    harness = new Harness();
    const server = await harness.server();
    const a = await device(server, 'a', 'client-wins');
    const b = await device(server, 'b', 'client-wins');
    await a.repository.saveMany(['p1', 'p2', 'p3'].map((id) => ({ id, text: id })));
    expect(await a.sync()).toMatchObject({ ...clean(0), syncedItems: 3 });
    expect(await b.sync()).toMatchObject({ ...clean(0), pulledItems: 3 });

    // A edits p1, deletes p2 and creates p4; B creates b1 and b2 and edits p1 (a conflict its push meets).
    await a.repository.save({ id: 'p1', text: 'p1 by A' });
    await a.repository.delete('p2');
    await a.repository.save({ id: 'p4', text: 'p4' });
    expect(await a.sync()).toMatchObject({ ...clean(0), syncedItems: 3 });
    await b.repository.saveMany([
      { id: 'b1', text: 'b1' },
      { id: 'b2', text: 'b2' },
      { id: 'p1', text: 'p1 by B' },
    ]);

    const progress: SyncProgress[] = [];
    const subscription = b.coordinator.progress.subscribe((p) => progress.push(p));
    progress.length = 0; // the replay of the last run
    const result = await b.sync();
    subscription.unsubscribe();

    expect(result).toMatchObject({
      state: 'synced',
      phase: 'pull',
      // b1, b2, and p1 once its client-wins resolution went out again on A's version.
      syncedItems: 3,
      failedItems: 0,
      conflicts: 1,
      // p4 (p1 and b1, b2 come back as B's own writes).
      pulledItems: 1,
      // p2, deleted by A.
      deletedItems: 1,
      refusedItems: 0,
      resets: 0,
    });
    // The whole sequence: the push's batches (b1, b2 and p1; then p1's resolution), then the pull's page.
    const seen = progress.map((p) => ({
      state: p.state,
      phase: p.phase,
      totalItems: p.totalItems,
      syncedItems: p.syncedItems,
      conflicts: p.conflicts,
      pulledItems: p.pulledItems,
      deletedItems: p.deletedItems,
    }));
    const step = (state: string, phase: string, counts: number[]) => {
      const [totalItems, syncedItems, conflicts, pulledItems, deletedItems] = counts;
      return { state, phase, totalItems, syncedItems, conflicts, pulledItems, deletedItems };
    };
    expect(seen).toEqual([
      step('syncing', 'push', [3, 0, 0, 0, 0]),
      step('syncing', 'push', [3, 2, 1, 0, 0]),
      step('syncing', 'push', [3, 3, 1, 0, 0]),
      step('syncing', 'pull', [3, 3, 1, 0, 0]),
      step('syncing', 'pull', [3, 3, 1, 1, 1]),
      step('synced', 'pull', [3, 3, 1, 1, 1]),
    ]);
    expect(progress.at(-1)).toMatchObject({ isComplete: true, percent: 100 });

    const expected = [
      { id: 'b1', version: 1, text: 'b1' },
      { id: 'b2', version: 1, text: 'b2' },
      { id: 'p1', version: 3, text: 'p1 by B' },
      { id: 'p3', version: 1, text: 'p3' },
      { id: 'p4', version: 1, text: 'p4' },
    ];
    const byId = (records: { id: string }[]) => [...records].sort((x, y) => x.id.localeCompare(y.id));
    expect(byId(await b.live())).toEqual(expected);
    expect(await a.sync()).toMatchObject({ ...clean(0), pulledItems: 3 });
    expect(byId(await a.live())).toEqual(expected);
  });
});
