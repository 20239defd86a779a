/**
 * Crash safety across processes: a child process syncs a lowdb store file to a server this process owns, and is
 * SIGKILLed at random points, mid-batch, mid-commit or mid-compaction. Whatever the kill interrupts, the store must
 * open again, nothing may be applied twice, and a final run must leave every record on the server at its latest
 * local version.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { Repository } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import type { SyncServer } from '../../src/server.js';
import { JsonLinesChild } from '../helpers/json-lines-child.js';
import { recordFigures } from '../reliability/report.js';
import { ENTITY, Harness, type Note, noteId, STORE_OPTIONS } from './harness.js';

/** Kill-and-restart rounds in the randomised test. */
/** Larger under `npm run reliability` (RELIABILITY_SCALE=10 gives 40 kills). */
const KILL_ROUNDS = Math.max(5, 4 * Number(process.env.RELIABILITY_SCALE ?? 1));
const RECORDS = 2_000;
/** Records edited by the parent between two child runs: enough that every child has a few hundred to push. */
const EDITS_PER_ROUND = 300;
/** Small batches with some server latency: a kill lands mid-request, mid-commit or between batches. */
const BATCH_SIZE = 25;
const SERVER_LATENCY_MS = [5, 25] as const;
/** The child compacts its store after every few batches, so kills land in compactions too. */
const COMPACT_EVERY = 3;

const CHILD = fileURLToPath(new URL('../fixtures/sync-child.ts', import.meta.url));

const h = new Harness();
afterEach(() => h.dispose());

/** A running sync-child: its JSON lines as they arrive, and a way to wait for one. */
class SyncChild extends JsonLinesChild {
  constructor(file: string, server: SyncServer, env: Record<string, string> = {}) {
    super(CHILD, [file, server.url], {
      ACTORSYNC_TOKEN: server.token,
      ACTORSYNC_COMPACT_EVERY: String(COMPACT_EVERY),
      ACTORSYNC_BATCH_SIZE: String(BATCH_SIZE),
      ...env,
    });
    h.defer(() => this.kill());
  }
}

/** Opens the store (which throws on any damage), runs `work` on it and closes it again. */
async function withStore<R>(file: string, work: (repository: Repository<Note>) => Promise<R>): Promise<R> {
  const store = await LowdbLocalStore.open(file, STORE_OPTIONS);
  try {
    return await work(new Repository<Note>({ entityType: ENTITY, local: store.collection<Note>(ENTITY) }));
  } finally {
    await store.close();
  }
}

/** Nothing marked synced locally that the server does not hold at exactly that version. */
function expectAcknowledgedOnServer(server: SyncServer, notes: readonly Note[], context: string): void {
  const wrong = notes.filter(
    (note) => !note.syncPending && server.state.get(ENTITY, note.id)?.item.version !== note.version,
  );
  expect(
    wrong.map((note) => note.id),
    context,
  ).toEqual([]);
}

/** No version applied twice, versions only ever go up, and the count matches. */
function expectAppliedOnce(server: SyncServer, context: string): void {
  const bad = server.state.list(ENTITY).filter(({ appliedVersions, appliedCount }) => {
    const increasing = appliedVersions.every((v, i) => i === 0 || v > (appliedVersions[i - 1] as number));
    return !increasing || appliedCount !== appliedVersions.length;
  });
  expect(bad, context).toEqual([]);
}

describe('SIGKILL of a syncing process', () => {
  it(`survives ${KILL_ROUNDS} kills at random points with edits in between`, {
    timeout: 60_000 + KILL_ROUNDS * 3_000,
  }, async () => {
    const seed = Date.now() % 1_000_000;
    // Seeded, so a failure message (which names the seed) can be replayed.
    const random = seededRandom(seed);
    const context = (what: string) => `${what} (seed ${seed})`;
    const server = await h.memoryServer({ faults: { latencyMs: SERVER_LATENCY_MS } });
    const file = join(await h.tempDir(), 'store.json');
    await withStore(file, (notes) =>
      notes.saveMany(Array.from({ length: RECORDS }, (_, i) => ({ id: noteId(i), text: `note ${i}` }))),
    );

    let killedMidRun = 0;
    let edits = 0;
    for (let round = 1; round <= KILL_ROUNDS; round += 1) {
      const child = new SyncChild(file, server);
      await child.waitFor((line) => line.type === 'ready', 'the store was open');
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.floor(random() * 350)));
      if (!child.lines.some((line) => line.type === 'done')) killedMidRun += 1;
      await child.kill();
      expect(
        child.lines.filter((line) => line.type === 'compact-failed'),
        context('compactions'),
      ).toEqual([]);

      await withStore(file, async (notes) => {
        const all = await notes.getAll();
        expect(all, context(`round ${round}: records`)).toHaveLength(RECORDS);
        expectAcknowledgedOnServer(server, all, context(`round ${round}`));
        // Edit records spread over the whole set: some synced, some pending, some maybe in the killed batch.
        const edited = Array.from(
          { length: EDITS_PER_ROUND },
          () => all[Math.floor(random() * RECORDS)] as Note,
        );
        const unique = [...new Map(edited.map((note) => [note.id, note])).values()];
        await notes.saveMany(unique.map((note) => ({ ...note, text: `${note.text} / edit ${round}` })));
        edits += unique.length;
      });
      expectAppliedOnce(server, context(`round ${round}`));
    }
    expect(killedMidRun, context('kills that landed while the child was syncing')).toBeGreaterThan(0);

    const last = new SyncChild(file, server);
    await last.waitFor((line) => line.type === 'done', 'the final run finished');
    expect(await last.exited, last.stderr).toEqual({ code: 0, signal: null });
    expect(last.lines.filter((line) => line.type === 'compact-failed')).toEqual([]);

    await withStore(file, async (notes) => {
      const all = await notes.getAll();
      expect(all).toHaveLength(RECORDS);
      expect(await notes.pendingCount()).toBe(0);
      expect(await notes.local.failures()).toEqual([]);
      // The server holds exactly the latest local record, field for field.
      const behind = all.filter(
        (note) =>
          !isDeepStrictEqual(server.state.get(ENTITY, note.id)?.item, { ...note, syncPending: false }),
      );
      expect(
        behind.map((note) => note.id),
        context('records not on the server at their latest version'),
      ).toEqual([]);
    });
    expectAppliedOnce(server, context('final'));
    expect(server.state.list(ENTITY)).toHaveLength(RECORDS);
    const appliedTwice = server.state
      .list(ENTITY)
      .reduce((sum, s) => sum + s.appliedVersions.length - new Set(s.appliedVersions).size, 0);
    recordFigures('crash', {
      records: RECORDS,
      kills: KILL_ROUNDS,
      killsMidRun: killedMidRun,
      editsBetweenKills: edits,
      lost: server.state.list(ENTITY).length === RECORDS ? 0 : RECORDS - server.state.list(ENTITY).length,
      appliedTwice,
    });
  });

  it('a kill between the server commit and the local ack: the restarted run is acknowledged, not re-applied', async () => {
    const server = await h.memoryServer({ faults: { script: ['dropReply'] } });
    const file = join(await h.tempDir(), 'store.json');
    const ids = ['a', 'b', 'c'];
    await withStore(file, (notes) => notes.saveMany(ids.map((id) => ({ id, text: id }))));

    // The server applies the batch and drops the reply; the child waits a full minute before its retry.
    const first = new SyncChild(file, server, { ACTORSYNC_BACKOFF_MS: '60000', ACTORSYNC_MAX_JITTER: '1' });
    await first.waitFor(
      (line) => line.type === 'progress' && (line.retries as number) > 0,
      'the child was backing off',
    );
    expect(ids.map((id) => server.state.get(ENTITY, id)?.appliedCount)).toEqual([1, 1, 1]);
    await first.kill();

    // Committed on the server, never acknowledged locally.
    await withStore(file, async (notes) => {
      expect((await notes.getAll()).map((note) => note.syncPending)).toEqual([true, true, true]);
    });

    const second = new SyncChild(file, server);
    await second.waitFor((line) => line.type === 'done', 'the restarted run finished');
    expect(await second.exited).toEqual({ code: 0, signal: null });
    // A new run means a new batch id, so no stored reply: the server acknowledged the versions it already held.
    expect(ids.map((id) => server.state.get(ENTITY, id)?.appliedVersions)).toEqual([[1], [1], [1]]);
    expect(server.stats()).toMatchObject({ syncRequests: 2, batchesApplied: 2, duplicateBatches: 0 });
    await withStore(file, async (notes) => {
      expect(await notes.pendingCount()).toBe(0);
      expect((await notes.getAll()).every((note) => note.version === 1)).toBe(true);
    });
  });
});
