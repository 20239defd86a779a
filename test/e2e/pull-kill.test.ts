/**
 * Issue 13, kill -9 during a pull, whole stack: a child process (test/fixtures/pull-sync-child.ts) syncs a lowdb store
 * with the reference server over HTTP (`direction: 'both'`, pages of 50) and is SIGKILLed at random points: after a
 * random number of pulled pages, or a random delay after its store opened (in the push of its own edits, or early in
 * the pull). The server holds a few thousand records, some edited and some deleted, and keeps changing between kills
 * (the parent pushes edits and deletes with plain fetch, sometimes while the child pulls); the parent also leaves
 * the child new local edits of its own between kills. After every kill the store must open, its checkpoint must
 * never point past data it holds, no record may go back to an older version, and no change may be stored twice;
 * a final run ends with the client equal to the server and the client's own edits on the server.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { Repository } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/server/checkpoint.js';
import type { SyncServer } from '../../src/server.js';
import { JsonLinesChild } from '../helpers/json-lines-child.js';
import { recordFigures } from '../reliability/report.js';
import { ENTITY, Harness, type Note, noteId } from './harness.js';

/** Larger under `npm run reliability` (RELIABILITY_SCALE=10 gives 60 kills). */
const KILL_ROUNDS = Math.max(8, 6 * Number(process.env.RELIABILITY_SCALE ?? 1));
const RECORDS = 3_000;
const PAGE_SIZE = 50;
/** The child compacts after every few pages, so kills land in compactions too. */
const COMPACT_EVERY = 7;
/** Server edits and deletes per round, on records the child never edits itself. */
const SERVER_EDITS_PER_ROUND = 120;
const SERVER_DELETES_PER_ROUND = 15;

const CHILD = fileURLToPath(new URL('../fixtures/pull-sync-child.ts', import.meta.url));

const h = new Harness();
afterEach(() => h.dispose());

interface ChildLine {
  type: string;
  stored?: [string, number][];
  pulled?: number;
  [field: string]: unknown;
}

/** A running pull-sync-child: its JSON lines as they arrive, and a way to wait for one. */
class PullSyncChild extends JsonLinesChild<ChildLine> {
  constructor(file: string, server: SyncServer) {
    super(CHILD, [file, server.url], {
      ACTORSYNC_TOKEN: server.token,
      ACTORSYNC_PAGE_SIZE: String(PAGE_SIZE),
      ACTORSYNC_COMPACT_EVERY: String(COMPACT_EVERY),
    });
    h.defer(() => this.kill());
  }

  get pages(): ChildLine[] {
    return this.lines.filter((line) => line.type === 'page');
  }
}

/** One write of the server's change feed: the sequence number it took, and what it wrote. */
interface FeedWrite {
  seq: number;
  version: number;
  deleted: boolean;
}

/**
 * Every write the server commits to the feed, per id, with its sequence number: read after each commit from the
 * feed itself (the commit's writes are the changes after the last one seen, numbered in order).
 */
function recordFeed(server: SyncServer) {
  const writes = new Map<string, FeedWrite[]>();
  let head = 0;
  const stop = server.state.watch((entityType) => {
    if (entityType !== ENTITY) return;
    const since =
      head === 0 ? undefined : encodeCheckpoint({ epoch: server.state.epoch, seq: head, floor: 0 });
    const read = server.state.changes(ENTITY, since, 1_000_000);
    if (read.status !== 'page') throw new Error(`the feed could not be read: ${read.error}`);
    read.page.changes.forEach((change, i) => {
      const list = writes.get(change.id) ?? [];
      list.push({ seq: head + 1 + i, version: change.version, deleted: change.deleted });
      writes.set(change.id, list);
    });
    const next = decodeCheckpoint(read.page.checkpoint)?.seq ?? Number.NaN;
    if (next !== head + read.page.changes.length)
      throw new Error(`feed ${head} -> ${next} is not one commit`);
    head = next;
  });
  h.defer(stop);
  return { writes, head: () => head };
}

let keys = 0;
/** Pushes `items` as another client would: one batch, plain fetch. */
async function push(server: SyncServer, items: readonly Record<string, unknown>[]): Promise<void> {
  keys += 1;
  const key = `parent-${keys}`;
  const response = await fetch(`${server.url}/v1/sync/${ENTITY}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${server.token}`,
      'idempotency-key': key,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ batchId: key, items }),
  });
  expect(response.status).toBe(200);
  const { results } = (await response.json()) as { results: { id: string; status: string }[] };
  expect(results.filter((result) => result.status !== 'ok')).toEqual([]);
}

/** What the store holds: every record, tombstones included, and its checkpoint. Read-only: no lock, no repair. */
async function inspect(file: string) {
  const store = await LowdbLocalStore.open(file, { readOnly: true });
  try {
    const local = store.collection<Note>(ENTITY);
    const checkpoint = await local.checkpoint?.();
    const records = new Map((await local.getAll({ includeDeleted: true })).map((r) => [r.id, r]));
    return { checkpoint, records };
  } finally {
    await store.close();
  }
}

/** The child's own records: ids no server-side writer touches, so every edit of them must reach the server as is. */
const ownId = (n: number) => `own-${String(n).padStart(3, '0')}`;

describe('SIGKILL of a two-way sync while it pulls', () => {
  it(`keeps the checkpoint with its data, and converges, through ${KILL_ROUNDS} kills`, {
    timeout: 60_000 + KILL_ROUNDS * 4_000,
  }, async () => {
    const seed = Number(process.env.ACTORSYNC_SEED ?? Date.now() % 1_000_000);
    const random = seededRandom(seed);
    const context = (what: string) => `${what} (ACTORSYNC_SEED=${seed})`;
    const server = await h.memoryServer();
    const feed = recordFeed(server);
    const file = join(await h.tempDir(), 'store.json');

    // The server's records: created, then some edited and some deleted, so pages carry updates and deletes.
    const serverVersions = new Map<string, number>();
    for (let from = 0; from < RECORDS; from += 500) {
      const batch = Array.from({ length: Math.min(500, RECORDS - from) }, (_, i) => {
        const id = noteId(from + i);
        serverVersions.set(id, 1);
        return { id, createdAt: 1, updatedAt: 1, syncPending: true, version: 1, text: `${id} v1` };
      });
      await push(server, batch);
    }
    const live = () => [...serverVersions.keys()];
    /** Edits and deletes spread over the live records, each one version up. */
    const changeServer = async (round: number) => {
      const ids = live();
      const picked = new Set<string>();
      while (picked.size < SERVER_EDITS_PER_ROUND + SERVER_DELETES_PER_ROUND && picked.size < ids.length) {
        picked.add(ids[Math.floor(random() * ids.length)] as string);
      }
      const items = [...picked].map((id, i) => {
        const version = (serverVersions.get(id) ?? 0) + 1;
        const base = { id, createdAt: 1, updatedAt: version, syncPending: true, version };
        if (i < SERVER_DELETES_PER_ROUND) {
          serverVersions.delete(id);
          return { ...base, deleted: true };
        }
        serverVersions.set(id, version);
        return { ...base, text: `${id} v${version} (round ${round})` };
      });
      await push(server, items);
    };
    await changeServer(0);

    // The client's own edits, made in its store while no child runs: they must all end on the server as made.
    // Two kinds of edit are left out, as they lose the edit on main today (reported to the lead, reproduced in
    // test/reliability/convergence.test.ts): a second edit of a record whose pushed version the server applied but
    // the killed child never heard acknowledged (the edit keeps the old base and conflicts with that version, its
    // own), and a record re-created under the id of its own synced delete (it restarts at version 1 and conflicts
    // with that tombstone). So only synced own records are edited or deleted, and a deleted id is never used again.
    const ownTexts = new Map<string, string | undefined>();
    let ownCreated = 0;
    let ownEdits = 0;
    const editOwn = async (round: number) => {
      const store = await LowdbLocalStore.open(file);
      try {
        const local = store.collection<Note>(ENTITY);
        const repository = new Repository<Note>({ entityType: ENTITY, local });
        const synced: string[] = [];
        for (const [id, text] of ownTexts) {
          if (text !== undefined && (await local.get(id))?.syncPending === false) synced.push(id);
        }
        for (let k = 0; k < 3; k += 1) {
          const roll = random();
          const id =
            synced.length > 0 && roll < 0.6
              ? (synced.splice(Math.floor(random() * synced.length), 1)[0] as string)
              : ownId(ownCreated++);
          if (roll < 0.15 && ownTexts.get(id) !== undefined) {
            expect(await repository.delete(id)).toBe(true);
            ownTexts.set(id, undefined);
          } else {
            const text = `${id} edit ${round}.${k}`;
            await repository.save({ id, text });
            ownTexts.set(id, text);
          }
          ownEdits += 1;
        }
      } finally {
        await store.close();
      }
    };
    await editOwn(0);

    const storedOnce = new Map<string, number>();
    let appliedTwice = 0;
    let pages = 0;
    let killedMidPull = 0;
    let previous = new Map<string, Note>();
    const seeStored = (child: PullSyncChild) => {
      for (const page of child.pages) {
        pages += 1;
        const stored = page.stored ?? [];
        // The store's own count of what the page stored agrees with what changed in it.
        expect(page.pulled, context('a page counts what it stored')).toBe(stored.length);
        for (const [id, version] of stored) {
          const key = `${id}@${version}`;
          if (storedOnce.has(key)) appliedTwice += 1;
          storedOnce.set(key, (storedOnce.get(key) ?? 0) + 1);
        }
      }
    };

    /** After a kill: the checkpoint never points past the data, nothing went back, nothing is invented. */
    const checkAfterKill = async (round: number) => {
      const { checkpoint, records } = await inspect(file);
      const at = checkpoint === undefined ? undefined : decodeCheckpoint(checkpoint);
      if (checkpoint !== undefined)
        expect(at?.epoch, context(`round ${round}: checkpoint`)).toBe(server.state.epoch);
      const cpSeq = at?.seq ?? 0;
      expect(cpSeq, context(`round ${round}: checkpoint within the feed`)).toBeLessThanOrEqual(feed.head());
      const skipped: string[] = [];
      for (const [id, writes] of feed.writes) {
        // The record's latest write, if it is covered by the checkpoint, must be in the store (or its delete
        // applied); an earlier one may have moved past the checkpoint before its page was fetched.
        const latest = writes.at(-1) as FeedWrite;
        if (latest.seq > cpSeq) continue;
        const held = records.get(id);
        const ok = latest.deleted
          ? held === undefined || held.deleted === true || held.version > latest.version
          : held !== undefined && held.version >= latest.version;
        if (!ok)
          skipped.push(`${id} v${latest.version}${latest.deleted ? ' (deleted)' : ''} at seq ${latest.seq}`);
      }
      expect(skipped, context(`round ${round}: changes covered by the checkpoint but not stored`)).toEqual(
        [],
      );
      const wentBack: string[] = [];
      for (const [id, before] of previous) {
        const now = records.get(id);
        if (now) {
          if (now.version < before.version) wentBack.push(`${id} v${before.version} -> v${now.version}`);
        } else if (!(feed.writes.get(id) ?? []).some((w) => w.deleted && w.version >= before.version)) {
          wentBack.push(`${id} v${before.version} removed without a delete`);
        }
      }
      expect(wentBack, context(`round ${round}: records that went back`)).toEqual([]);
      const invented = [...records.values()].filter(
        (r) => !r.syncPending && !(server.state.get(ENTITY, r.id)?.appliedVersions ?? []).includes(r.version),
      );
      expect(
        invented.map((r) => `${r.id} v${r.version}`),
        context(`round ${round}: synced versions the server never had`),
      ).toEqual([]);
      previous = records;
    };

    for (let round = 1; round <= KILL_ROUNDS; round += 1) {
      const child = new PullSyncChild(file, server);
      await child.waitFor((line) => line.type === 'ready', 'the store was open');
      // The first kill always lands after some pages of the initial pull (60 pages): at least one kill is mid-pull
      // by construction, not by the timing of a loaded machine (a seed whose delays all missed failed the test).
      if (round === 1 || random() < 0.5) {
        // After a random number of durable pages: the kill lands in a fetch, an apply or a compaction.
        const k = 1 + Math.floor(random() * 12);
        await child.waitFor(
          (line) => line.type === 'done' || (line.type === 'page' && child.pages.length >= k),
          `${k} pages`,
        );
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 10)));
      } else {
        // After a random delay: in the push of the child's own edits, or anywhere in the pull.
        if (random() < 0.5) await changeServer(round * 100);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 400)));
      }
      const finished = child.lines.some((line) => line.type === 'done');
      if (!finished && child.pages.length > 0) killedMidPull += 1;
      await child.kill();
      seeStored(child);
      await checkAfterKill(round);
      await changeServer(round);
      await editOwn(round);
      // The parent's own edits are the app's, not the sync's: what the next kill is compared with includes them.
      previous = (await inspect(file)).records;
    }

    const last = new PullSyncChild(file, server);
    await last.waitFor((line) => line.type === 'done', 'the final run finished');
    expect(await last.exited, last.stderr).toEqual({ code: 0, signal: null });
    seeStored(last);
    await checkAfterKill(KILL_ROUNDS + 1);

    // The client equals the server: the same live records, at the same versions, with the same content.
    const { records } = await inspect(file);
    const clientLive = [...records.values()]
      .filter((r) => r.deleted !== true)
      .map(({ id, version, text }) => ({ id, version, text }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const serverLive = server.state
      .list(ENTITY)
      .map(({ item }) => ({ id: item.id, version: item.version, text: (item as Note).text }))
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(clientLive.length, context('live records')).toBe(serverLive.length);
    expect(clientLive, context('the client equals the server')).toEqual(serverLive);
    expect(
      [...records.values()].filter((r) => r.syncPending).map((r) => r.id),
      context('pending'),
    ).toEqual([]);
    // Every own edit survived the kills and reached the server as made (a delete as a delete).
    for (const [id, text] of ownTexts) {
      const stored = server.state.get(ENTITY, id)?.item as (Note & { deleted?: boolean }) | undefined;
      // A record deleted before any push reached the server never gets there; one that did is deleted there.
      if (text === undefined)
        expect(stored === undefined || stored.deleted === true, context(`${id} deleted`)).toBe(true);
      else expect(stored?.text, context(`${id} on the server`)).toBe(text);
    }
    // Nothing applied twice on the server either: the client's retried pushes were acknowledged, not re-applied.
    const twice = server.state
      .list(ENTITY)
      .filter(({ appliedVersions }) => new Set(appliedVersions).size !== appliedVersions.length);
    expect(
      twice.map(({ item }) => item.id),
      context('versions applied twice on the server'),
    ).toEqual([]);
    expect(appliedTwice, context('changes stored twice by the client')).toBe(0);
    expect(
      killedMidPull,
      context('kills that landed after a page and before the pull ended'),
    ).toBeGreaterThan(0);
    recordFigures('pull-kill', {
      seed,
      kills: KILL_ROUNDS,
      killsMidPull: killedMidPull,
      pages,
      changesStored: storedOnce.size,
      ownEdits,
      lost: 0,
      skipped: 0,
      appliedTwice,
      unopenable: 0,
    });
  });
});
