import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type RepositoryEntity, SyncCoordinator } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { createSyncServer, FAULT_KINDS } from '../../src/server.js';
import { recordFigures } from './report.js';

const SCALE = Number(process.env.RELIABILITY_SCALE ?? 1);
const TYPES = ['telemetry', 'model-info', 'configuration'];
const RECORDS_PER_TYPE = 300 * SCALE;

interface Event extends RepositoryEntity {
  name: string;
  value: number;
}

describe('chaos: every fault kind at once while the app keeps editing', () => {
  it('ends with the server holding exactly the latest version of every record not rejected, each applied once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-chaos-'));
    const server = await createSyncServer({
      // One of each kind first, then random ones.
      faults: {
        script: FAULT_KINDS,
        rate: 0.3,
        kinds: FAULT_KINDS,
        retryAfterSeconds: 0,
        hangMs: 400,
        dripIntervalMs: 1,
        latencyMs: [0, 3],
      },
    });
    const store = await LowdbLocalStore.open(join(dir, 'store.json'));
    const coordinator = new SyncCoordinator({
      concurrency: 2,
      batchSize: 50,
      retry: { baseDelayMs: 1, maxDelayMs: 20, maxAttempts: 4, maxItemAttempts: 1_000 },
    });
    const repos = TYPES.map((type) => {
      const repository = new Repository<Event>({
        entityType: type,
        local: store.collection<Event>(type),
        remote: new HttpRemoteDataSource<Event>({
          baseUrl: server.url,
          getToken: () => server.token,
          timeoutMs: 150,
        }),
      });
      coordinator.register(repository);
      return repository;
    });
    let edits = 0;
    let runs = 0;
    try {
      for (const repository of repos) {
        await repository.saveMany(
          Array.from({ length: RECORDS_PER_TYPE }, (_, i) => ({
            id: `${repository.entityType}-${i}`,
            name: 'e',
            value: i,
          })),
        );
      }
      // The app keeps editing while runs are in flight, for the first rounds.
      for (let round = 0; round < 30; round += 1) {
        const running = coordinator.syncAll();
        if (round < 8) {
          for (const repository of repos) {
            const id = `${repository.entityType}-${(round * 37) % RECORDS_PER_TYPE}`;
            await repository.save({ id, name: 'edited', value: round });
            edits += 1;
          }
        }
        const results = await running;
        runs += results.length;
        const pending = await Promise.all(repos.map((r) => r.local.outbox(Number.POSITIVE_INFINITY)));
        // Drained when nothing is pending but dead letters (records the server rejected).
        const deadLetters = await Promise.all(repos.map((r) => r.local.failures()));
        const waiting = pending.reduce((sum, o, i) => sum + o.pending - (deadLetters[i]?.length ?? 0), 0);
        if (round >= 8 && waiting === 0) break;
        if (waiting > 0) for (const type of TYPES) await retryScheduled(coordinator, type);
      }

      let rejected = 0;
      let lost = 0;
      let appliedTwice = 0;
      let stuck = 0;
      for (const repository of repos) {
        const failures = await repository.local.failures();
        const dead = new Set(failures.map((f) => f.id));
        rejected += dead.size;
        for (const failure of failures) {
          expect(failure).toMatchObject({ deadLettered: true, lastError: 'Injected fault: item rejected' });
        }
        for (const record of await repository.getAll()) {
          const onServer = server.state.get(repository.entityType, record.id);
          if (dead.has(record.id)) {
            expect(record.syncPending).toBe(true);
            expect(onServer?.item.version ?? 0).toBeLessThan(record.version);
            continue;
          }
          const onServerItem = onServer?.item as Event | undefined;
          const agrees =
            !record.syncPending &&
            onServerItem?.version === record.version &&
            onServerItem.name === record.name &&
            onServerItem.value === record.value;
          if (!agrees) lost += 1;
          expect(onServer?.item).toMatchObject({
            version: record.version,
            name: record.name,
            value: record.value,
          });
        }
        for (const stored of server.state.list(repository.entityType)) {
          appliedTwice += stored.appliedVersions.length - new Set(stored.appliedVersions).size;
        }
        if (coordinator.isSyncing(repository.entityType)) stuck += 1;
      }
      expect({ lost, appliedTwice, stuck }).toEqual({ lost: 0, appliedTwice: 0, stuck: 0 });
      const injected = server.stats().faultsInjected;
      for (const kind of FAULT_KINDS)
        expect(injected[kind], `fault ${kind} was never injected`).toBeGreaterThan(0);
      recordFigures('chaos', {
        records: RECORDS_PER_TYPE * TYPES.length,
        editsDuringSync: edits,
        runs,
        rejectedAndDeadLettered: rejected,
        duplicateBatchesAnswered: server.stats().duplicateBatches,
        lost,
        appliedTwice,
        stuck,
        ...Object.fromEntries(Object.entries(injected).map(([kind, n]) => [`fault:${kind}`, n])),
      });
    } finally {
      await coordinator.stop();
      await store.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

/** Items waiting for a retry are retried now instead of after their backoff, to keep the test short. */
async function retryScheduled(coordinator: SyncCoordinator, type: string): Promise<void> {
  const scheduled = (await coordinator.failures(type)).filter((f) => !f.deadLettered).map((f) => f.id);
  if (scheduled.length > 0) await coordinator.retryFailed(type, scheduled);
}
