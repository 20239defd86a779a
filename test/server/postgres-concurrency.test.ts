import { describe, expect, it, onTestFinished } from 'vitest';
import type { FeedChange } from '../../src/server/change-feed.js';
import { decodeCheckpoint } from '../../src/server/checkpoint.js';
import type { Scope } from '../../src/server/server-store.js';
import { PostgresServerStore, type PostgresServerStoreOptions } from '../../src/server-postgres.js';
import { sqlClient, testDatabase, untilWaitingOnLock } from '../helpers/postgres.js';
import { batchOf, item, readAll } from './server-store-contract.js';

const notes: Scope = { partition: 'alice', entityType: 'notes' };

async function openStore(url: string, options: Partial<PostgresServerStoreOptions> = {}) {
  const store = await PostgresServerStore.open({ connectionString: url, ...options });
  onTestFinished(() => store.close());
  return store;
}

describe('PostgreSQL store under concurrency', () => {
  it('a naive bigserial feed skips a change that commits after a later one; the store feed does not', async () => {
    const { url } = await testDatabase();
    const admin = await sqlClient(url);

    // The naive design: each write takes the next bigserial inside its transaction; a reader pages by seq.
    await admin.query('CREATE TABLE naive_feed (seq bigserial PRIMARY KEY, id text NOT NULL)');
    const first = await sqlClient(url);
    const second = await sqlClient(url);
    const naiveSeen: string[] = [];
    let naiveCheckpoint = 0;
    const naivePoll = async () => {
      const rows = await admin.query<{ seq: string; id: string }>(
        'SELECT seq::text, id FROM naive_feed WHERE seq > $1 ORDER BY seq',
        [naiveCheckpoint],
      );
      for (const row of rows.rows) {
        naiveSeen.push(row.id);
        naiveCheckpoint = Number(row.seq);
      }
    };
    await first.query('BEGIN');
    await first.query(`INSERT INTO naive_feed (id) VALUES ('first')`); // takes seq 1
    await second.query('BEGIN');
    await second.query(`INSERT INTO naive_feed (id) VALUES ('second')`); // takes seq 2
    await second.query('COMMIT');
    await naivePoll(); // sees seq 2: its checkpoint passes seq 1
    await first.query('COMMIT');
    await naivePoll();
    expect(naiveSeen).toEqual(['second']); // 'first' committed at seq 1, behind the reader: lost for good

    // The store: the first batch is held inside its transaction, after it locked the feed row (its blocked
    // reply lookup comes next); the second batch, from another process, must wait for it.
    const storeA = await openStore(url);
    const storeB = await openStore(url);
    await storeA.applyBatch(batchOf(notes, 'warm-up', [item('w', 1)])); // the feed row exists
    const blocker = await sqlClient(url);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE actorsync_replies IN ACCESS EXCLUSIVE MODE');
    const applyFirst = storeA.applyBatch(batchOf(notes, 'first', [item('first', 1)]));
    await untilWaitingOnLock(admin, '%FROM actorsync_replies%');
    const applySecond = storeB.applyBatch(batchOf(notes, 'second', [item('second', 1)]));
    await untilWaitingOnLock(admin, '%INSERT INTO actorsync_feeds%');
    const storeSeen: FeedChange[] = [];
    let checkpoint: string | undefined;
    const storePoll = async () => {
      const read = await readAll(storeA, notes, checkpoint);
      storeSeen.push(...read.changes);
      checkpoint = read.checkpoint;
    };
    await storePoll(); // between: neither batch is visible, and the second could not take a number
    expect(storeSeen.map(({ id }) => id)).toEqual(['w']);
    await blocker.query('COMMIT');
    await applyFirst;
    await storePoll();
    await applySecond;
    await storePoll();
    expect(storeSeen.map(({ id }) => id)).toEqual(['w', 'first', 'second']);
  });

  it('the same batch sent to two processes at once is applied once, and both get its reply', async () => {
    const { url } = await testDatabase();
    const [storeA, storeB] = [await openStore(url), await openStore(url)];
    await storeA.applyBatch(batchOf(notes, 'seed', [item('shared', 3)]));
    for (let round = 0; round < 20; round += 1) {
      const batch = batchOf(notes, `batch-${round}`, [item(`new-${round}`, 1), item('shared', 4 + round)]);
      const outcomes = await Promise.all([storeA.applyBatch(batch), storeB.applyBatch(batch)]);
      expect(outcomes.map(({ status }) => status).sort()).toEqual(['applied', 'duplicate']);
      const [a, b] = outcomes;
      expect(a && 'reply' in a ? a.reply : undefined).toEqual(b && 'reply' in b ? b.reply : 'none');
    }
    const records = await storeA.list(notes);
    expect(records.find(({ item }) => item.id === 'shared')).toMatchObject({ appliedCount: 21 });
    expect(records.every(({ item, appliedCount }) => item.id === 'shared' || appliedCount === 1)).toBe(true);
  });

  it('many batches from two processes: a reader polling meanwhile misses nothing, and the feed holds each record once', async () => {
    const { url } = await testDatabase();
    const stores = [await openStore(url), await openStore(url)];
    const writers = 8;
    const batchesPerWriter = 15;
    let version = 0;
    const write = async (writer: number) => {
      const store = stores[writer % stores.length] as PostgresServerStore;
      for (let n = 0; n < batchesPerWriter; n += 1) {
        // A record of its own, and two records every writer rewrites (higher versions win, lower ones conflict).
        version += 1;
        const items = [
          item(`w${writer}-${n}`, 1),
          item(`hot-${n % 3}`, version),
          item(`hot-${(n + 1) % 3}`, version),
        ];
        await store.applyBatch(batchOf(notes, `w${writer}-b${n}`, items));
      }
    };
    // The reader keeps the latest version it saw of each record, as a client would.
    const seen = new Map<string, number>();
    const seqs: number[] = [];
    let checkpoint: string | undefined;
    let done = false;
    const poll = async () => {
      const read = await readAll(stores[0] as PostgresServerStore, notes, checkpoint, 7);
      for (const change of read.changes) seen.set(change.id, change.version);
      seqs.push(decodeCheckpoint(read.checkpoint)?.seq ?? -1);
      checkpoint = read.checkpoint;
    };
    const reader = (async () => {
      while (!done) await poll();
      await poll();
    })();
    try {
      await Promise.all(Array.from({ length: writers }, (_, writer) => write(writer)));
    } finally {
      done = true;
      await reader;
    }

    const final = new Map((await stores[1]?.list(notes))?.map(({ item }) => [item.id, item.version]));
    expect(final.size).toBe(writers * batchesPerWriter + 3);
    expect(seen).toEqual(final);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const fromStart = await readAll(stores[1] as PostgresServerStore, notes);
    expect(new Set(fromStart.changes.map(({ id }) => id)).size).toBe(fromStart.changes.length);
    expect(new Map(fromStart.changes.map(({ id, version }) => [id, version]))).toEqual(final);
  });

  it('a row changed behind the scope lock is refused by the SQL guard: the batch rolls back whole', async () => {
    const { url } = await testDatabase();
    const admin = await sqlClient(url);
    const store = await openStore(url);
    await store.applyBatch(batchOf(notes, 'b1', [item('a', 1), item('b', 1)]));
    const head = (await readAll(store, notes)).checkpoint;
    // Someone writes the row without the feed lock, and holds it while the batch decides on the old version.
    const rogue = await sqlClient(url);
    await rogue.query('BEGIN');
    await rogue.query(
      `UPDATE actorsync_records SET version = 99,
         item = '{"id":"a","version":99,"createdAt":1,"updatedAt":99,"syncPending":false}' WHERE id = 'a'`,
    );
    const applying = store.applyBatch(batchOf(notes, 'b2', [item('b', 2), item('a', 2)]));
    await untilWaitingOnLock(admin, '%INSERT INTO actorsync_records%');
    await rogue.query('COMMIT');
    await expect(applying).rejects.toMatchObject({ code: 'WRITE_GUARD' });
    // Nothing of the batch: not b's write, not its reply, not a sequence number.
    expect((await readAll(store, notes, head)).changes).toEqual([]);
    const again = await store.applyBatch(batchOf(notes, 'b2', [item('b', 2), item('a', 2)]));
    expect(again).toMatchObject({ status: 'applied', reply: [{ status: 'ok' }, { status: 'conflict' }] });
  });

  it('a statement waiting past statementTimeoutMs fails as DatabaseUnavailableError, and the next batch goes through', async () => {
    const { url } = await testDatabase();
    const store = await openStore(url, { statementTimeoutMs: 300 });
    await store.applyBatch(batchOf(notes, 'b1', [item('a', 1)]));
    const holder = await sqlClient(url);
    await holder.query('BEGIN');
    await holder.query(`SELECT * FROM actorsync_feeds FOR UPDATE`);
    await expect(store.applyBatch(batchOf(notes, 'b2', [item('a', 2)]))).rejects.toMatchObject({
      code: 'DATABASE_UNAVAILABLE',
      message: expect.stringContaining('statement timeout'),
    });
    await holder.query('ROLLBACK');
    expect(await store.applyBatch(batchOf(notes, 'b2', [item('a', 2)]))).toMatchObject({ status: 'applied' });
  });
});
