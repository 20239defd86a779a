import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type RepositoryEntity, SyncCoordinator } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { createSyncServer, type SyncServer } from '../../src/server.js';
import { recordFigures } from './report.js';

/** Larger under `npm run reliability` (RELIABILITY_SCALE=10). */
const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
const IDS = ['a', 'b', 'c', 'd', 'e', 'f'];

interface Doc extends RepositoryEntity {
  text: string;
}

/** The simple model: the latest version and text the app saved, per id. */
type Model = Map<string, { version: number; text: string }>;

/** The real system under test: a lowdb file, the reference server over HTTP, a network that can go down. */
class Real {
  network = true;
  store!: LowdbLocalStore;
  coordinator!: SyncCoordinator;
  repository!: Repository<Doc>;
  restarts = 0;
  constructor(
    readonly dir: string,
    readonly server: SyncServer,
  ) {}

  async open(): Promise<void> {
    this.store = await LowdbLocalStore.open(join(this.dir, 'store.json'));
    const remote = new HttpRemoteDataSource<Doc>({
      baseUrl: this.server.url,
      getToken: () => this.server.token,
      timeoutMs: 2_000,
      // The network, not our code, goes down: requests fail as a dead socket would.
      fetch: (input, init) =>
        this.network
          ? fetch(input, init)
          : Promise.reject(new TypeError('fetch failed', { cause: { code: 'ENETDOWN' } })),
    });
    this.repository = new Repository<Doc>({
      entityType: 'doc',
      local: this.store.collection<Doc>('doc'),
      remote,
    });
    this.coordinator = new SyncCoordinator({
      retry: { baseDelayMs: 1, maxDelayMs: 4, maxAttempts: 2, maxItemAttempts: 1_000 },
    });
    this.coordinator.register(this.repository);
  }

  async close(): Promise<void> {
    await this.coordinator.stop();
    await this.store.close();
  }
}

/** What must hold after every step, whatever happened before. */
async function checkInvariants(model: Model, real: Real): Promise<void> {
  const local = await real.repository.getAll();
  expect(local.map((d) => d.id).sort()).toEqual([...model.keys()].sort());
  for (const doc of local) {
    // Nothing lost: the store holds the latest version the app saved.
    expect({ id: doc.id, version: doc.version, text: doc.text }).toEqual({
      id: doc.id,
      ...model.get(doc.id),
    });
    // Marked synced only if the server holds that exact version.
    if (!doc.syncPending) {
      expect(real.server.state.get('doc', doc.id)?.item).toMatchObject({
        version: doc.version,
        text: doc.text,
      });
    }
  }
  // Nothing applied twice.
  for (const stored of real.server.state.list('doc')) {
    expect(new Set(stored.appliedVersions).size).toBe(stored.appliedVersions.length);
  }
}

type Command = fc.AsyncCommand<Model, Real>;

const save = (id: string, text: string): Command => ({
  check: () => true,
  run: async (model, real) => {
    const saved = await real.repository.save({ id, text });
    model.set(id, { version: saved.version, text });
    await checkInvariants(model, real);
  },
  toString: () => `save(${id}, ${JSON.stringify(text)})`,
});

const sync = (editDuring?: string): Command => ({
  check: () => true,
  run: async (model, real) => {
    const result = real.coordinator.sync('doc');
    if (editDuring) {
      const saved = await real.repository.save({ id: editDuring, text: 'edited during sync' });
      model.set(editDuring, { version: saved.version, text: 'edited during sync' });
    }
    const outcome = await result;
    expect(['synced', 'error']).toContain(outcome.state);
    if (outcome.state === 'synced') expect(outcome.failedItems).toBe(0);
    await checkInvariants(model, real);
  },
  toString: () => (editDuring ? `sync(edit ${editDuring} during)` : 'sync()'),
});

const cancelDuringSync = (afterMs: number): Command => ({
  check: () => true,
  run: async (model, real) => {
    const result = real.coordinator.sync('doc');
    await new Promise((resolve) => setTimeout(resolve, afterMs));
    real.coordinator.cancel('doc');
    await result;
    await checkInvariants(model, real);
  },
  toString: () => `cancel after ${afterMs} ms`,
});

const FAULTS = [
  'error500',
  'unavailable503',
  'tooMany429',
  'reset',
  'dropReply',
  'malformed',
  'slowDrip',
] as const;
const fault = (kind: (typeof FAULTS)[number], times: number): Command => ({
  check: () => true,
  run: async (_model, real) => {
    real.server.faults.queue(...Array.from({ length: times }, () => kind));
  },
  toString: () => `fault(${kind} ×${times})`,
});

const network = (up: boolean): Command => ({
  check: (model) => model !== undefined,
  run: async (_model, real) => {
    real.network = up;
  },
  toString: () => `network ${up ? 'up' : 'down'}`,
});

const restart = (): Command => ({
  check: () => true,
  run: async (model, real) => {
    await real.close();
    await real.open();
    real.restarts += 1;
    await checkInvariants(model, real);
  },
  toString: () => 'restart()',
});

const commands = [
  fc.tuple(fc.constantFrom(...IDS), fc.string({ maxLength: 8 })).map(([id, text]) => save(id, text)),
  fc.option(fc.constantFrom(...IDS), { nil: undefined }).map(sync),
  fc.integer({ min: 0, max: 15 }).map(cancelDuringSync),
  fc
    .tuple(fc.constantFrom(...FAULTS), fc.integer({ min: 1, max: 3 }))
    .map(([kind, times]) => fault(kind, times)),
  fc.boolean().map(network),
  fc.constant(null).map(restart),
];

describe('property: random saves, edits, syncs, cancels, outages, faults and restarts', () => {
  it('keep every invariant, and the outbox drains once the network is healthy', async () => {
    let runs = 0;
    let steps = 0;
    let restarts = 0;
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 25 }), async (cmds) => {
        runs += 1;
        const dir = await mkdtemp(join(tmpdir(), 'actorsync-prop-'));
        const server = await createSyncServer({ faults: { retryAfterSeconds: 0, hangMs: 50 } });
        const real = new Real(dir, server);
        await real.open();
        try {
          const model: Model = new Map();
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          steps += [...cmds].length;
          // Heal: network up, no more faults. The outbox must drain. One sync at least: a run pulls too, so a pull
          // that failed while the network was down left a retry scheduled even with nothing pending.
          real.network = true;
          await real.coordinator.sync('doc');
          for (let round = 0; round < 10 && (await real.repository.pendingCount()) > 0; round += 1) {
            await real.coordinator.retryFailed('doc');
          }
          expect(await real.repository.pendingCount()).toBe(0);
          // Nothing stuck: with the outbox empty no run is active and none is scheduled.
          expect(real.coordinator.isSyncing('doc')).toBe(false);
          expect(real.coordinator.getProgress('doc')?.nextRetryAt).toBeUndefined();
          for (const [id, latest] of model) {
            expect(server.state.get('doc', id)?.item).toMatchObject(latest);
          }
          await checkInvariants(model, real);
          restarts += real.restarts;
        } finally {
          await real.close();
          await server.close();
          await rm(dir, { recursive: true, force: true });
        }
      }),
      {
        numRuns: 15 * SCALE,
        // Replay a failure with FC_SEED=<seed> FC_PATH=<path> (fast-check prints both).
        ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
      },
    );
    expect(runs).toBeGreaterThanOrEqual(15 * SCALE);
    recordFigures('property', { sequences: runs, steps, restarts, invariantViolations: 0 });
  }, 120_000);
});
