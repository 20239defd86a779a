/**
 * Issue 13, two-way sync converges: three clients (a lowdb store file each, a `Repository` with `direction: 'both'`,
 * their own `SyncCoordinator`) and the reference server over HTTP on 127.0.0.1. fast-check generates sequences of
 * creates, edits and deletes over six ids on random clients (some while that client's run is under way), syncs of
 * one client or of all three at once, faults on the next push or pull (a reply lost after the server applied the
 * batch included), and restarts (mid-sync too); the conflict policy (server-wins, client-wins, a merge) and whether
 * the server keeps tombstones or purges them at once (resets) vary per sequence. After a quiet round in which every
 * client syncs until it has nothing to push and pulls nothing new, all three clients and the server must hold the
 * same live records at the same version and content, nothing pending, no deleted record alive again and no version
 * applied twice on the server.
 *
 * Agreement is the property, not "no lost update": an edit that loses a conflict by policy still converges
 * (test/e2e/lost-update.test.ts covers concurrent edits; two single-client losses found here are pinned below).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  type ConflictPolicy,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  type SyncResult,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { createSyncServer, type FaultKind, type SyncServer } from '../../src/server.js';
import { recordFigures } from './report.js';

/** Larger under `npm run reliability` (RELIABILITY_SCALE=10). */
const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
const SEQUENCES = 20 * SCALE;
const ENTITY = 'note';
const IDS = ['a', 'b', 'c', 'd', 'e', 'f'] as const;
const CLIENTS = 3;
/** Rounds of "every client syncs" the quiet round may take before a client still moving is a failure. */
const QUIET_ROUNDS = 8;
/** Every transport fault a request can meet; `reject` (the server refusing an item for good) is no fault of transport. */
const PUSH_FAULTS = [
  'error500',
  'unavailable503',
  'tooMany429',
  'timeout',
  'reset',
  'dropReply',
  'malformed',
  'slowDrip',
] as const satisfies readonly FaultKind[];
const PULL_FAULTS = PUSH_FAULTS;

interface Note extends RepositoryEntity {
  text: string;
}

/** The policies a sequence runs under; `merge` keeps the union of both sides' words, a merge that never loses one. */
const POLICIES = ['server-wins', 'client-wins', 'merge'] as const;
type PolicyName = (typeof POLICIES)[number];
const mergeWords: ConflictPolicy<Note> = (local, remote) => ({
  ...local,
  text: [...new Set([...remote.text.split('+'), ...local.text.split('+')])].sort().join('+'),
});
const policyOf = (name: PolicyName): ConflictPolicy<Note> => (name === 'merge' ? mergeWords : name);

/**
 * How long the server keeps tombstones: `kept` (the default, days) or `purged` (0 ms: gone at the next read, so
 * clients behind the purge are told to reset and pull again from the beginning). A purged delete is forgotten by
 * design (a client that never pulled it may bring the record back with a pending edit), so resurrections are only
 * counted where deletes are kept.
 */
const RETENTIONS = ['kept', 'purged'] as const;
type Retention = (typeof RETENTIONS)[number];

/** One step of a sequence, as plain data so a counterexample prints readably and can be written down as a test. */
type Step =
  | { op: 'save'; client: number; id: string; text: string }
  | { op: 'delete'; client: number; id: string }
  | { op: 'sync'; client: number }
  /** A save while the client's run is under way: the record may change while its push is in flight. */
  | { op: 'syncWhileSaving'; client: number; id: string; text: string }
  | { op: 'syncAll' }
  | { op: 'pushFault'; kind: FaultKind }
  | { op: 'pullFault'; kind: FaultKind }
  | { op: 'restart'; client: number; midSyncMs?: number };

const client = fc.integer({ min: 0, max: CLIENTS - 1 });
const id = fc.constantFrom(...IDS);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constant('save' as const), client, id, text: fc.string({ maxLength: 6 }) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), client, id }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('sync' as const), client }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('syncWhileSaving' as const),
      client,
      id,
      text: fc.string({ maxLength: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'syncAll' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('pushFault' as const), kind: fc.constantFrom(...PUSH_FAULTS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('pullFault' as const), kind: fc.constantFrom(...PULL_FAULTS) }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      { op: fc.constant('restart' as const), client, midSyncMs: fc.integer({ min: 0, max: 15 }) },
      { requiredKeys: ['op', 'client'] },
    ),
  },
);

/** One device: its store file, repository and coordinator; `restart` closes them and opens the same file again. */
class Client {
  store!: LowdbLocalStore;
  repository!: Repository<Note>;
  coordinator!: SyncCoordinator;

  constructor(
    readonly name: string,
    readonly file: string,
    readonly server: SyncServer,
    readonly conflicts: ConflictPolicy<Note>,
  ) {}

  async open(): Promise<void> {
    this.store = await LowdbLocalStore.open(this.file);
    this.repository = new Repository<Note>({
      entityType: ENTITY,
      local: this.store.collection<Note>(ENTITY),
      remote: new HttpRemoteDataSource<Note>({
        baseUrl: this.server.url,
        getToken: () => this.server.token,
        timeoutMs: 2_000,
      }),
      direction: 'both',
    });
    this.coordinator = new SyncCoordinator({
      conflicts: this.conflicts as ConflictPolicy,
      // A fault is retried within the run; an item is never dead-lettered (that would stop convergence by design).
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 4, maxItemAttempts: 1_000 },
      // Pages of two changes: a pull of six ids takes several pages, so faults and restarts land between them.
      // Resets are not capped here: with purged tombstones every client behind a purge resets, again and again.
      pull: { pageSize: 2, maxResets: 1_000 },
    });
    this.coordinator.register(this.repository);
  }

  sync(): Promise<SyncResult> {
    return this.coordinator.sync(ENTITY);
  }

  async close(): Promise<void> {
    await this.coordinator.stop();
    await this.store.close();
  }

  /** Live records as the app sees them: id, version and the user's field. */
  async live(): Promise<{ id: string; version: number; text: string }[]> {
    return (await this.repository.getAll())
      .map(({ id, version, text }) => ({ id, version, text }))
      .sort(byId);
  }
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The server's live records, from its state. */
function serverLive(server: SyncServer): { id: string; version: number; text: string }[] {
  return server.state
    .list(ENTITY)
    .map(({ item }) => ({ id: item.id, version: item.version, text: (item as Note).text }))
    .sort(byId);
}

/**
 * Watches every write the server commits: the highest version of each id the server stored as deleted, and any
 * live version stored at or below it (a deleted record come back as it was: a resurrection). A record written again
 * after a delete (saved anew, or an edit that beat the delete by policy) is always above the tombstone's version.
 */
function watchDeletes(server: SyncServer) {
  const deletedAt = new Map<string, number>();
  const resurrections: string[] = [];
  const stop = server.state.watch(() => {
    for (const id of IDS) {
      const stored = server.state.get(ENTITY, id)?.item;
      if (!stored) continue;
      const dead = deletedAt.get(id);
      if (stored.deleted === true) deletedAt.set(id, Math.max(dead ?? 0, stored.version));
      else if (dead !== undefined && stored.version <= dead) {
        resurrections.push(`server stored ${id} live at v${stored.version} after its delete at v${dead}`);
      }
    }
  });
  return { deletedAt, resurrections, stop };
}

/** What every client must hold after any step: nothing marked synced at a version the server never stored. */
async function checkSyncedVersions(clients: readonly Client[], server: SyncServer): Promise<void> {
  for (const c of clients) {
    for (const record of await c.store.collection<Note>(ENTITY).getAll({ includeDeleted: true })) {
      if (record.syncPending) continue;
      const applied = server.state.get(ENTITY, record.id)?.appliedVersions ?? [];
      expect(applied, `${c.name} holds ${record.id} synced at v${record.version}`).toContain(record.version);
    }
  }
}

interface Figures {
  operations: number;
  syncs: number;
  faults: number;
  restarts: number;
  conflicts: number;
  quietRounds: number;
  resets: number;
  purgedSequences: number;
}

function countRun(figures: Figures, result: SyncResult): void {
  figures.syncs += 1;
  figures.conflicts += result.conflicts;
  figures.resets += result.resets;
}

async function runStep(step: Step, clients: readonly Client[], server: SyncServer, figures: Figures) {
  switch (step.op) {
    case 'save':
      await clients[step.client]?.repository.save({ id: step.id, text: step.text });
      return;
    case 'delete':
      await clients[step.client]?.repository.delete(step.id);
      return;
    case 'sync': {
      countRun(figures, await (clients[step.client] as Client).sync());
      return;
    }
    case 'syncWhileSaving': {
      const c = clients[step.client] as Client;
      const running = c.sync();
      await c.repository.save({ id: step.id, text: step.text });
      countRun(figures, await running);
      return;
    }
    case 'syncAll': {
      for (const result of await Promise.all(clients.map((c) => c.sync()))) countRun(figures, result);
      return;
    }
    case 'pushFault':
      figures.faults += 1;
      server.faults.queue(step.kind);
      return;
    case 'pullFault':
      figures.faults += 1;
      server.pullFaults.queue(step.kind);
      return;
    case 'restart': {
      const c = clients[step.client] as Client;
      if (step.midSyncMs !== undefined) {
        // A restart that lands at a random point of a run: pushing, between pages, or applying one.
        const running = c.sync();
        await new Promise((resolve) => setTimeout(resolve, step.midSyncMs));
        await c.close();
        await running;
      } else {
        await c.close();
      }
      await c.open();
      figures.restarts += 1;
      return;
    }
    default:
      step satisfies never;
  }
}

/**
 * Every client syncs, round after round, until a whole round moved nothing: each run synced, pushed nothing, pulled,
 * deleted and resolved nothing, and left nothing pending. A client still moving after `QUIET_ROUNDS` is named.
 */
async function quiesce(clients: readonly Client[], figures: Figures): Promise<void> {
  const moving = new Map<string, string>();
  for (let round = 1; round <= QUIET_ROUNDS; round += 1) {
    figures.quietRounds += 1;
    moving.clear();
    for (const c of clients) {
      const result = await c.sync();
      countRun(figures, result);
      const pending = await c.repository.pendingCount();
      const moved =
        result.state !== 'synced' ||
        pending > 0 ||
        result.syncedItems + result.pulledItems + result.deletedItems + result.conflicts > 0;
      if (moved) {
        moving.set(
          c.name,
          `${result.state}, pending ${pending}, pushed ${result.syncedItems}, pulled ${result.pulledItems}, deleted ${result.deletedItems}, conflicts ${result.conflicts}${result.errorMessage ? `, ${result.errorMessage}` : ''}`,
        );
      }
    }
    if (moving.size === 0) return;
  }
  const named = [...moving].map(([name, why]) => `${name} (${why})`).join('; ');
  throw new Error(`Still moving after ${QUIET_ROUNDS} quiet rounds: ${named}`);
}

/** Runs one sequence against a fresh server and three fresh clients, then the quiet round, then checks agreement. */
async function runSequence(
  policy: PolicyName,
  retention: Retention,
  steps: readonly Step[],
  figures: Figures,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-converge-'));
  // Injected 503 and 429 ask for no wait, and a hang ends quickly: the run retries at once.
  const server = await createSyncServer({
    ...(retention === 'purged' ? { tombstoneRetentionMs: 0 } : {}),
    faults: { retryAfterSeconds: 0, hangMs: 50 },
    pullFaults: { retryAfterSeconds: 0, hangMs: 50 },
  });
  const deletes = watchDeletes(server);
  const clients = Array.from(
    { length: CLIENTS },
    (_, i) => new Client(`client ${i}`, join(dir, `client-${i}.json`), server, policyOf(policy)),
  );
  try {
    for (const c of clients) await c.open();
    // Every client starts having pulled once (a checkpoint stored): a client whose first pull comes after a purge
    // keeps what the purge deleted, a known bug pinned below, which this property is not about.
    for (const c of clients)
      expect(await c.sync(), `${c.name} starts in step`).toMatchObject({ state: 'synced' });
    for (const step of steps) {
      await runStep(step, clients, server, figures);
      figures.operations += 1;
      // A purge makes the server forget a record's versions: only where deletes are kept can it vouch for them all.
      if (retention === 'kept') await checkSyncedVersions(clients, server);
    }
    await quiesce(clients, figures);

    const expected = serverLive(server);
    for (const c of clients) {
      expect(await c.live(), `${c.name} holds what the server holds`).toEqual(expected);
      expect(await c.repository.pendingCount(), `${c.name} has nothing pending`).toBe(0);
    }
    if (retention === 'kept') expect(deletes.resurrections, 'deleted records stored live again').toEqual([]);
    for (const c of retention === 'kept' ? clients : []) {
      for (const record of await c.live()) {
        const dead = deletes.deletedAt.get(record.id);
        expect(
          dead === undefined || record.version > dead,
          `${c.name} holds ${record.id} live at v${record.version}, deleted on the server at v${dead}`,
        ).toBe(true);
      }
    }
    for (const id of IDS) {
      const applied = server.state.get(ENTITY, id)?.appliedVersions ?? [];
      expect(new Set(applied).size, `versions of ${id} applied on the server: ${applied.join(', ')}`).toBe(
        applied.length,
      );
    }
  } finally {
    deletes.stop();
    for (const c of clients) await c.close().catch(() => {});
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const emptyFigures = (): Figures => ({
  operations: 0,
  syncs: 0,
  faults: 0,
  restarts: 0,
  conflicts: 0,
  quietRounds: 0,
  resets: 0,
  purgedSequences: 0,
});

describe('convergence: three clients and the reference server, random edits, syncs, faults and restarts', () => {
  it(`agree after a quiet round, ${SEQUENCES} sequences`, { timeout: 60_000 * SCALE }, async () => {
    const figures = emptyFigures();
    const byPolicy: Record<PolicyName, number> = { 'server-wins': 0, 'client-wins': 0, merge: 0 };
    let sequences = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...POLICIES),
        fc.constantFrom(...RETENTIONS),
        fc.array(stepArb, { minLength: 10, maxLength: 40, size: 'max' }),
        async (policy, retention, steps) => {
          sequences += 1;
          byPolicy[policy] += 1;
          if (retention === 'purged') figures.purgedSequences += 1;
          await runSequence(policy, retention, steps, figures);
        },
      ),
      {
        numRuns: SEQUENCES,
        // A fixed seed by default, so `npm test` is repeatable; fast-check prints seed and path on failure:
        // replay with FC_SEED=<seed> FC_PATH=<path> npx vitest run test/reliability/convergence.test.ts.
        seed: Number(process.env.FC_SEED ?? 13_013),
        ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
      },
    );
    // A replay (FC_PATH) runs the one sequence it names.
    expect(sequences).toBeGreaterThanOrEqual(process.env.FC_PATH ? 1 : SEQUENCES);
    recordFigures('convergence', {
      sequences,
      operations: figures.operations,
      syncs: figures.syncs,
      faults: figures.faults,
      restarts: figures.restarts,
      conflicts: figures.conflicts,
      resets: figures.resets,
      purgedSequences: figures.purgedSequences,
      serverWins: byPolicy['server-wins'],
      clientWins: byPolicy['client-wins'],
      merge: byPolicy.merge,
      diverged: 0,
      resurrected: 0,
      stuckPending: 0,
    });
  });
});

/** One device for the regression tests below: a client of its own server, opened and closed with the test. */
async function device(
  server: SyncServer,
  dir: string,
  name: string,
  conflicts: ConflictPolicy<Note> = 'server-wins',
) {
  const c = new Client(name, join(dir, `${name}.json`), server, conflicts);
  await c.open();
  return c;
}

describe('regressions found by the convergence property', () => {
  let dir: string;
  let server: SyncServer;
  const opened: Client[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'actorsync-converge-regression-'));
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) await c.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const open = async (name: string) => {
    const c = await device(server, dir, name);
    opened.push(c);
    return c;
  };

  /**
   * Shrunk from seed 22111 (server-wins, tombstones purged): client 0 deleted `a` at v2 and the server acknowledged
   * it, but client 0's pull failed; the server forgot the delete (retention passed) and took client 1's offline
   * edit, also v2 (made on v1), as a new record. Client 0's next pull (a reset) brought `a` v2 live, and the planner
   * took it for the echo of its own v2, the acknowledged delete: client 0 never showed `a` again, while the server
   * and client 1 held it. Same number, another write: the server's copy is taken.
   */
  it("a live version pulled at the number of the client's acknowledged delete is taken, not an echo", async () => {
    server = await createSyncServer({ tombstoneRetentionMs: 0 });
    const c0 = await open('client 0');
    const c1 = await open('client 1');
    await c0.repository.save({ id: 'a', text: 'first' });
    expect(await c0.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await c1.sync()).toMatchObject({ state: 'synced', pulledItems: 1 });
    await c1.repository.save({ id: 'a', text: 'edited offline' });
    expect(await c0.repository.delete('a')).toBe(true);
    // The delete is pushed and acknowledged; every attempt of the pull after it fails.
    server.pullFaults.queue('error500', 'error500', 'error500', 'error500');
    expect(await c0.sync()).toMatchObject({ state: 'error', syncedItems: 1, phase: 'pull' });
    // The server has forgotten the delete by now: the offline edit at v2 is a new record to it.
    expect(await c1.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
    expect(serverLive(server)).toEqual([{ id: 'a', version: 2, text: 'edited offline' }]);
    expect(await c0.sync()).toMatchObject({ state: 'synced', pulledItems: 1 });
    expect(await c0.live()).toEqual(serverLive(server));
  });

  /**
   * Shrunk from seed 62773 (client-wins, tombstones purged), the same forgotten delete with a lower number: client 2
   * edited and deleted `b` (v3, acknowledged, its pull failed), the server forgot the delete and took client 1's
   * offline edit at v2. Client 2's reset pull met `b` v2 live below its acknowledged tombstone and took it for the
   * record's past: `b` stayed deleted on client 2 for good. In a reset the server's state is whole, so a live version
   * there means it forgot that delete.
   */
  it('a reset pull takes a live version below an acknowledged delete the server has forgotten', async () => {
    server = await createSyncServer({ tombstoneRetentionMs: 0 });
    const c0 = await open('client 0');
    const c1 = await open('client 1');
    const c2 = await open('client 2');
    await c0.repository.save({ id: 'b', text: 'first' });
    expect(await c0.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    for (const c of [c1, c2]) expect(await c.sync()).toMatchObject({ state: 'synced', pulledItems: 1 });
    await c1.repository.save({ id: 'b', text: 'edited offline' });
    await c2.repository.save({ id: 'b', text: 'edited, then deleted' });
    expect(await c2.repository.delete('b')).toBe(true);
    server.pullFaults.queue('error500', 'error500', 'error500', 'error500');
    expect(await c2.sync()).toMatchObject({ state: 'error', syncedItems: 1, phase: 'pull' });
    expect(await c2.store.collection<Note>(ENTITY).get('b', { includeDeleted: true })).toMatchObject({
      version: 3,
      deleted: true,
      syncPending: false,
    });
    expect(await c1.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
    expect(serverLive(server)).toEqual([{ id: 'b', version: 2, text: 'edited offline' }]);
    expect(await c2.sync()).toMatchObject({ state: 'synced', resets: 1, pulledItems: 1 });
    expect(await c2.live()).toEqual(serverLive(server));
  });

  /**
   * Shrunk from seed 70007 (server-wins, tombstones purged): client 1 wrote `e` v1 and deleted it; client 0 held v1
   * synced; the server purged the delete and took client 2's offline create of `e`, also v1, other content. Client
   * 0's reset pull took client 2's v1 for the echo of the v1 it held, and kept the old content for good.
   */
  it('a reset pull takes other content at the version held', async () => {
    server = await createSyncServer({ tombstoneRetentionMs: 0 });
    const c0 = await open('client 0');
    const c1 = await open('client 1');
    const c2 = await open('client 2');
    await c1.repository.save({ id: 'e', text: 'one' });
    expect(await c1.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await c0.sync()).toMatchObject({ state: 'synced', pulledItems: 1 });
    await c2.repository.save({ id: 'e', text: 'two' });
    expect(await c1.repository.delete('e')).toBe(true);
    expect(await c1.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await c2.sync()).toMatchObject({ state: 'synced', syncedItems: 1, conflicts: 0 });
    expect(serverLive(server)).toEqual([{ id: 'e', version: 1, text: 'two' }]);
    expect(await c0.sync()).toMatchObject({ state: 'synced', resets: 1, pulledItems: 1 });
    expect(await c0.live()).toEqual(serverLive(server));
  });
});

/**
 * Found while writing these suites, fixed, kept as regression tests: an edit lost after a push whose reply was lost
 * (the store keeps the versions it pushed without hearing back, `ownVersions`, and the server and the pull know
 * them for the client's own writes); a record created again under the id of the client's own synced delete (a
 * collection that pulls keeps synced tombstones, so the new record is built on the delete); and a first pull after
 * a purge that kept what the purge deleted (a first pull over records the server acknowledged is a reset).
 */
describe('lost updates and divergences found by these suites', () => {
  let dir: string;
  let server: SyncServer;
  const opened: Client[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'actorsync-converge-known-'));
    server = await createSyncServer();
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) await c.close().catch(() => {});
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * The client pushes v2 (made on v1); the server applies it, but the reply is lost and the run ends (a crash, a
   * restart, retries used up). The app edits again: v3, still on base 1, since v2 was never acknowledged. The push
   * of v3 conflicts with v2, the client's own write, and server-wins keeps v2: the edit "three" is gone.
   */
  it('an edit made after a push whose reply was lost reaches the server', async () => {
    const c = await device(server, dir, 'client');
    opened.push(c);
    await c.repository.save({ id: 'x', text: 'one' });
    expect(await c.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    await c.repository.save({ id: 'x', text: 'two' });
    // Applied on the server, reply lost, on every attempt of the run.
    server.faults.queue('dropReply', 'dropReply', 'dropReply', 'dropReply');
    expect(await c.sync()).toMatchObject({ state: 'error', syncedItems: 0 });
    expect(server.state.get(ENTITY, 'x')?.item).toMatchObject({ version: 2, text: 'two' });
    // The app stops (no automatic retry acknowledges v2 first), edits, and syncs after a restart.
    await c.close();
    await c.open();
    await c.repository.save({ id: 'x', text: 'three' });
    await c.sync();
    expect(serverLive(server)).toEqual([{ id: 'x', version: 3, text: 'three' }]);
  });

  /**
   * The client deletes `x` and syncs: the tombstone is acknowledged, its echo pulled, and the store forgets it. The
   * app creates `x` again: version 1, no base, below the server's tombstone (v2), so the push is a conflict and
   * server-wins takes the tombstone: the new record is gone, on one device with no one else writing.
   */
  it("a record created again under the id of the client's own synced delete reaches the server", async () => {
    const c = await device(server, dir, 'client');
    opened.push(c);
    await c.repository.save({ id: 'x', text: 'one' });
    expect(await c.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    expect(await c.repository.delete('x')).toBe(true);
    expect(await c.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    await c.repository.save({ id: 'x', text: 'again' });
    await c.sync();
    expect(serverLive(server)).toEqual([{ id: 'x', version: expect.any(Number), text: 'again' }]);
  });

  /**
   * Client 1 pushes `d` (a conflict it takes the server's copy from: synced) but its first pull fails, so it has no
   * checkpoint. Client 0 deletes `d`; the server purges the tombstone (retention 0 here, days by default). Client
   * 1's first pull, from the beginning, is not a reset: `d` is not mentioned, nothing drops it, and client 1 holds
   * `d` for good while the server and everyone else have it deleted.
   */
  it('a first pull after a purge drops a synced record the server no longer has', async () => {
    await server.close();
    server = await createSyncServer({ tombstoneRetentionMs: 0 });
    const c0 = await device(server, dir, 'client 0');
    const c1 = await device(server, dir, 'client 1');
    opened.push(c0, c1);
    await c0.repository.save({ id: 'd', text: 'from 0' });
    expect(await c0.sync()).toMatchObject({ state: 'synced' });
    await c1.repository.save({ id: 'd', text: 'from 1' });
    server.pullFaults.queue('error500', 'error500', 'error500', 'error500');
    expect(await c1.sync()).toMatchObject({ state: 'error', conflicts: 1, phase: 'pull' });
    expect(await c0.repository.delete('d')).toBe(true);
    expect(await c0.sync()).toMatchObject({ state: 'synced' });
    expect(await c1.sync()).toMatchObject({ state: 'synced' });
    expect(await c1.live()).toEqual(serverLive(server));
  });
});
