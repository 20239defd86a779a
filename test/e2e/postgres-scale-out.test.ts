/**
 * Issue 14, stateless scale-out on PostgreSQL, in real processes: sync server processes
 * (test/fixtures/postgres-server-process.ts) on one fresh database of the run's PostgreSQL, reached directly or
 * through a round-robin loopback proxy (test/helpers/round-robin-proxy.ts). Clients are the real stack
 * (`SyncCoordinator`, `Repository` syncing both ways, `HttpRemoteDataSource`, `LowdbLocalStore` in a temp dir);
 * nothing of ours is mocked.
 *
 * - Three clients create, edit and delete while syncing through the proxy to two servers; one server is SIGKILLed
 *   with batches in flight and restarted. Afterwards every client and the database hold the same records, no
 *   version was applied twice, and every write a client was acknowledged is there.
 * - The same batch sent to both servers at once is applied once; both answer alike.
 * - A client long-polling one server hears a push to the other within a second (LISTEN/NOTIFY).
 * - `/healthz` follows the database, and the cause it reports names the database without its password.
 * - SIGTERM lets a batch being applied commit and be answered, then the process exits 0.
 * - Principals' records stay apart over HTTP on PostgreSQL; a shared type is shared.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/cli/embedded-postgres.js';
import { seededRandom } from '../../src/core/random.js';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type RetryOptions, type SyncProgress, type SyncResult } from '../../src/index.js';
import type { SyncHandlerStats } from '../../src/server.js';
import { redactedUrl } from '../../src/server-postgres.js';
import { JsonLinesChild } from '../helpers/json-lines-child.js';
import { postSync } from '../helpers/post-sync.js';
import { sqlClient, testDatabase, untilWaitingOnLock } from '../helpers/postgres.js';
import { type ProxiedExchange, roundRobinProxy } from '../helpers/round-robin-proxy.js';
import { recordFigures } from '../reliability/report.js';
import { ENTITY, Harness, type Note, nextProgress, note, SERVER_TOKEN, until } from './harness.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/postgres-server-process.ts', import.meta.url));

let h: Harness;
afterEach(() => h.dispose());

interface ServerLine {
  type: string;
  [field: string]: unknown;
}

/** One server process on a database: its URL once it listens, its counters on request, SIGTERM and SIGKILL. */
class ServerProcess extends JsonLinesChild<ServerLine> {
  url = '';

  /** Starts one and waits until it listens; the harness kills it at the end. */
  static async start(databaseUrl: string, env: Record<string, string> = {}): Promise<ServerProcess> {
    const server = new ServerProcess(FIXTURE, [], {
      ACTORSYNC_DATABASE_URL: databaseUrl,
      ACTORSYNC_TOKEN: SERVER_TOKEN,
      ...env,
    });
    h.defer(() => server.kill());
    server.url = (await server.waitFor((line) => line.type === 'listening', 'listening')).url as string;
    return server;
  }

  /** The handler's counters, asked for with SIGUSR2. */
  async stats(): Promise<SyncHandlerStats> {
    const statsLines = () => this.lines.filter((line) => line.type === 'stats');
    const before = statsLines().length;
    this.process.kill('SIGUSR2');
    const line = await this.waitFor(
      (seen) => seen.type === 'stats' && statsLines().indexOf(seen) >= before,
      'its stats',
    );
    return line as unknown as SyncHandlerStats;
  }
}

/** Sends one batch as any client would (plain fetch), with the default principal's token unless told. */
function post(baseUrl: string, key: string, items: readonly object[], token = SERVER_TOKEN, entity = ENTITY) {
  return postSync(baseUrl, token, key, JSON.stringify({ batchId: key, items }), entity);
}

/** `promise`, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function getJson<T>(url: string, token = SERVER_TOKEN): Promise<T> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

interface ServedItem {
  item: Note & { deleted?: boolean };
  appliedCount: number;
  appliedVersions: number[];
}

/** `GET /v1/items/{type}`: the live records one server serves, by id. */
async function itemsOf(baseUrl: string, token = SERVER_TOKEN, entity = ENTITY): Promise<ServedItem[]> {
  const { items } = await getJson<{ items: ServedItem[] }>(`${baseUrl}/v1/items/${entity}`, token);
  return items.sort((a, b) => a.item.id.localeCompare(b.item.id));
}

/** `GET /v1/changes/{type}` from the beginning: every change one server serves (one page: the tests write few). */
async function changesOf(baseUrl: string, token = SERVER_TOKEN, entity = ENTITY) {
  const page = await getJson<{ changes: { id: string; version: number }[]; hasMore: boolean }>(
    `${baseUrl}/v1/changes/${entity}?limit=1000`,
    token,
  );
  expect(page.hasMore).toBe(false);
  return page.changes;
}

interface DatabaseRecord {
  id: string;
  version: number;
  deleted: boolean;
  item: Note & { deleted?: boolean };
  appliedCount: number;
  appliedVersions: number[];
}

/** What the database holds of a partition's type, tombstones included, by id. */
async function databaseRecords(admin: pg.Client, partition = 'default', entity = ENTITY) {
  const result = await admin.query<{
    id: string;
    version: string;
    deleted: boolean;
    item: string;
    applied_count: number;
    applied_versions: string;
  }>(
    `SELECT id, version::text AS version, deleted, item::text AS item, applied_count,
            to_json(applied_versions)::text AS applied_versions
     FROM actorsync_records WHERE partition = $1 AND entity_type = $2 ORDER BY id`,
    [partition, entity],
  );
  return new Map(
    result.rows.map((row): [string, DatabaseRecord] => [
      row.id,
      {
        id: row.id,
        version: Number(row.version),
        deleted: row.deleted,
        item: JSON.parse(row.item) as Note,
        appliedCount: row.applied_count,
        appliedVersions: JSON.parse(row.applied_versions) as number[],
      },
    ]),
  );
}

/** A record as every side must agree on it: the app's fields and the version. */
const content = ({ id, version, text, createdAt, updatedAt }: Note) => ({
  id,
  version,
  text,
  createdAt,
  updatedAt,
});

/** A write a client's push was acknowledged for (`ok` in a 200 reply it got), as it sent it. */
interface Ack {
  id: string;
  version: number;
  text: string | undefined;
  deleted: boolean;
}

/** The global fetch, noting every item acknowledged in a sync reply, as the client got it. */
function ackingFetch(acks: Ack[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const isBatch = request.method === 'POST' && new URL(request.url).pathname.startsWith('/v1/sync/');
    const sent = isBatch ? await request.clone().text() : '';
    const response = await fetch(request);
    if (!isBatch || response.status !== 200) return response;
    try {
      const items = new Map(
        (JSON.parse(sent) as { items: (Note & { deleted?: boolean })[] }).items.map((i) => [i.id, i]),
      );
      const { results } = (await response.clone().json()) as {
        results: { id: string; status: string; version?: number }[];
      };
      for (const result of results) {
        const item = items.get(result.id);
        if (result.status !== 'ok' || !item) continue;
        acks.push({ id: item.id, version: item.version, text: item.text, deleted: item.deleted === true });
      }
    } catch {
      // A reply cut short: the client cannot read it either, so nothing in it was acknowledged.
    }
    return response;
  };
}

/** Retries that ride out a server's outage: a batch goes out again at once, to the next server of the proxy. */
const OUTAGE_RETRY: RetryOptions = { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 16, maxItemAttempts: 20 };

/** A client device: its own lowdb store, a repository syncing both ways, and the acks its pushes got. */
async function device(name: string, baseUrl: string) {
  const acks: Ack[] = [];
  const store = await h.store(join(await h.tempDir(), `${name}.json`));
  const remote = new HttpRemoteDataSource<Note>({
    baseUrl,
    getToken: () => SERVER_TOKEN,
    timeoutMs: 5_000,
    fetch: ackingFetch(acks),
  });
  const repository = new Repository<Note>({
    entityType: ENTITY,
    local: store.collection<Note>(ENTITY),
    remote,
    direction: 'both',
  });
  // Small batches, two in flight: a run sends several, and a kill finds some of them out.
  const coordinator = h.coordinator({ batchSize: 3, retry: OUTAGE_RETRY });
  return {
    name,
    acks,
    repository,
    coordinator,
    sync: () => coordinator.sync(repository),
    /** The live records as the app sees them. */
    live: async () => (await repository.getAll()).map(content).sort((a, b) => a.id.localeCompare(b.id)),
  };
}

type Device = Awaited<ReturnType<typeof device>>;

const isBatch = (exchange: ProxiedExchange) =>
  exchange.method === 'POST' && exchange.path.startsWith('/v1/sync/');

describe('PostgreSQL scale-out: many server processes on one database', () => {
  it('three clients syncing through two servers, one of them SIGKILLed with batches in flight and restarted (twice or more), converge: nothing applied twice, nothing lost', {
    timeout: 60_000,
  }, async () => {
    h = new Harness();
    const { url } = await testDatabase();
    const admin = await sqlClient(url);
    const servers = await Promise.all([ServerProcess.start(url), ServerProcess.start(url)]);
    const proxy = await roundRobinProxy(servers.map((server) => server.url));
    h.defer(() => proxy.close());
    const clients = await Promise.all(['a', 'b', 'c'].map((name) => device(name, proxy.url)));
    const random = seededRandom(14);
    const startedAt = performance.now();

    // The kills, once the clients are busy: SIGKILL server 0 the moment a batch reaches it (before it can commit),
    // and restart it; then SIGKILL it the moment a batch it was sent is seen committed in the database (its reply
    // perhaps not yet out), and restart it. Up to four kills in all, until one left a batch unanswered that had
    // committed (its retry must be answered from the stored reply) and one left a batch unanswered at all.
    const outage = {
      restarted: false,
      kills: 0,
      inFlight: 0,
      /** Batches a kill left without an answer, and whether the killed process had committed them. */
      unanswered: [] as { exchange: ProxiedExchange; committed: boolean }[],
    };
    let busy: () => void = () => {};
    const clientsBusy = new Promise<void>((resolve) => {
      busy = resolve;
    });
    const nextBatchToServer0 = () =>
      new Promise<ProxiedExchange>((resolve) => {
        proxy.onSent = (exchange) => {
          if (exchange.upstream !== 0 || !isBatch(exchange)) return;
          proxy.onSent = undefined;
          resolve(exchange);
        };
      });
    const watcher = await sqlClient(url);
    /** Whether the batch committed while still unanswered (false: its answer came first). */
    const committedUnanswered = async (exchange: ProxiedExchange) => {
      while (exchange.state === 'sent') {
        const reply = await watcher.query('SELECT 1 FROM actorsync_replies WHERE batch_id = $1', [
          exchange.idempotencyKey,
        ]);
        if (reply.rowCount === 1) return exchange.state === 'sent';
      }
      return false;
    };
    const killing = (async () => {
      await clientsBusy;
      const done = () =>
        outage.unanswered.length > 0 &&
        outage.kills >= 2 &&
        (outage.unanswered.some(({ committed }) => committed) || outage.kills === 4);
      while (!done()) {
        if (outage.kills === 4) throw new Error('four kills left no batch unanswered');
        const victim = servers[0] as ServerProcess;
        if (outage.kills % 2 === 0) await nextBatchToServer0();
        else while (!(await committedUnanswered(await nextBatchToServer0())));
        const killedAt = Date.now();
        victim.process.kill('SIGKILL');
        const inFlight = proxy.exchanges.filter((e) => e.upstream === 0 && isBatch(e) && e.state === 'sent');
        outage.kills += 1;
        await victim.exited;
        await until(
          () => inFlight.every((e) => e.state !== 'sent'),
          'the proxy to see the killed connections',
        );
        outage.inFlight += inFlight.length;
        for (const exchange of inFlight.filter(({ state }) => state === 'failed')) {
          // A reply stored before the kill is the killed process's (a retry's comes after it).
          const reply = await watcher.query<{ created_at: string }>(
            'SELECT created_at::text FROM actorsync_replies WHERE batch_id = $1',
            [exchange.idempotencyKey],
          );
          const committed = reply.rowCount === 1 && Number(reply.rows[0]?.created_at) < killedAt;
          outage.unanswered.push({ exchange, committed });
        }
        // Clients keep syncing meanwhile: half their requests meet a dead server until it is back.
        const restarted = await ServerProcess.start(url);
        servers[0] = restarted;
        proxy.setUpstream(0, restarted.url);
      }
      outage.restarted = true;
    })();

    // Each client: a few creates, edits (its own records and others') and deletes, then a sync, round after round,
    // until some rounds after the restart. Failed runs are normal during the outage: the next run goes on.
    // Longer under `npm run reliability` (RELIABILITY_SCALE=10 gives 200 rounds per client).
    const ROUNDS = 20 * Number(process.env.RELIABILITY_SCALE ?? 1);
    const runs: SyncResult[] = [];
    const work = async (client: Device) => {
      let created = 0;
      let afterRestart = 0;
      for (let round = 0; round < ROUNDS || afterRestart < 4; round += 1) {
        if (round === 3) busy();
        if (outage.restarted) afterRestart += 1;
        const live = await client.repository.getAll();
        const changes = 2 + Math.floor(random() * 8);
        for (let n = 0; n < changes; n += 1) {
          const pick = live[Math.floor(random() * live.length)];
          const roll = random();
          if (!pick || roll < 0.45) {
            created += 1;
            await client.repository.save({ id: `${client.name}-${created}`, text: `${client.name} made it` });
          } else if (roll < 0.85) {
            await client.repository.save({ id: pick.id, text: `${client.name} edited it in round ${round}` });
          } else {
            await client.repository.delete(pick.id);
          }
        }
        runs.push(await client.sync());
        if (round > ROUNDS + 200) throw new Error(`${client.name} is still waiting for the restart`);
      }
    };
    await Promise.all([...clients.map(work), killing]);

    // A quiet round: every client syncs until nothing is pending, then all again until a pass pushes nothing, so
    // each one pulled after the last push.
    for (let pass = 0; ; pass += 1) {
      if (pass === 5) throw new Error('the clients did not settle in five passes');
      let pushed = 0;
      for (const client of clients) {
        for (let run = 0; ; run += 1) {
          const result = await client.sync();
          pushed += result.syncedItems;
          if (result.state === 'synced' && (await client.repository.pendingCount()) === 0) break;
          if (run === 10) throw new Error(`${client.name} still has changes pending: ${result.errorMessage}`);
        }
      }
      if (pushed === 0) break;
    }
    const elapsedMs = Math.round(performance.now() - startedAt);

    // The kills met batches in flight; the clients rode out the outages and settled.
    expect(outage.unanswered.length).toBeGreaterThan(0);
    expect(outage.restarted).toBe(true);

    // Every client holds what the database holds, live records by version and content; both servers serve it.
    const stored = await databaseRecords(admin);
    const liveStored = [...stored.values()]
      .filter((record) => !record.deleted)
      .map((record) => content(record.item));
    expect(liveStored.length).toBeGreaterThan(10);
    for (const client of clients) expect(await client.live()).toEqual(liveStored);
    for (const server of servers) {
      expect((await itemsOf(server.url)).map(({ item }) => content(item))).toEqual(liveStored);
    }

    // Nothing applied twice: every record's applied versions rise without repeats, and none was dropped from its
    // history (the history keeps 32).
    for (const record of stored.values()) {
      expect(record.appliedVersions.length).toBeLessThan(32);
      expect(record.appliedVersions).toEqual([...new Set(record.appliedVersions)].sort((a, b) => a - b));
      expect(record.appliedCount).toBe(record.appliedVersions.length);
      expect(record.appliedVersions.at(-1)).toBe(record.version);
    }

    // Nothing lost: every acknowledged write was applied, and is what the database holds unless a later version
    // replaced it.
    const acks = clients.flatMap((client) => client.acks);
    expect(acks.length).toBeGreaterThan(50);
    for (const ack of acks) {
      const record = stored.get(ack.id);
      expect(record, `${ack.id} at version ${ack.version}`).toBeDefined();
      if (!record) continue;
      expect(record.appliedVersions, `${ack.id}`).toContain(ack.version);
      expect(record.version).toBeGreaterThanOrEqual(ack.version);
      if (record.version === ack.version) {
        expect({ deleted: record.deleted, text: record.item.text }).toEqual({
          deleted: ack.deleted,
          text: ack.deleted ? undefined : ack.text,
        });
      }
    }

    // Every batch a kill left unanswered was retried under its key until another process answered it: from the
    // stored reply when the killed one had committed it (the checks above hold for its items).
    for (const { exchange } of outage.unanswered) {
      const replies = await admin.query('SELECT 1 FROM actorsync_replies WHERE batch_id = $1', [
        exchange.idempotencyKey,
      ]);
      expect(replies.rowCount).toBe(1);
    }
    const unansweredCommitted = outage.unanswered.filter(({ committed }) => committed).length;
    const batches = proxy.exchanges.filter(isBatch);
    recordFigures('postgres-scale-out', {
      clients: clients.length,
      serverProcesses: 2,
      kills: outage.kills,
      batchesInFlightAtKill: outage.inFlight,
      batchesUnansweredByKill: outage.unanswered.length,
      unansweredCommitted,
      unansweredRolledBack: outage.unanswered.length - unansweredCommitted,
      batchRequests: batches.length,
      batchRequestsFailed: batches.filter((e) => e.state === 'failed').length,
      runs: runs.length,
      runsFailed: runs.filter((run) => run.state !== 'synced').length,
      acknowledgedWrites: acks.length,
      records: stored.size,
      liveRecords: liveStored.length,
      elapsedMs,
    });
  });

  it('the same batch POSTed to both servers at the same moment is applied once, and both answers are the same', async () => {
    h = new Harness();
    const { url } = await testDatabase();
    const admin = await sqlClient(url);
    const [a, b] = await Promise.all([ServerProcess.start(url), ServerProcess.start(url)]);
    if (!a || !b) throw new Error('two servers');
    for (let round = 1; round <= 10; round += 1) {
      const key = `both-${round}`;
      // A record of its own, and one every round writes at the next version.
      const items = [note(`own-${round}`), { ...note('shared', round), text: `round ${round}` }];
      const [fromA, fromB] = await Promise.all([post(a.url, key, items), post(b.url, key, items)]);
      expect([fromA.status, fromB.status]).toEqual([200, 200]);
      const [bodyA, bodyB] = await Promise.all([fromA.text(), fromB.text()]);
      expect(bodyA).toBe(bodyB);
      expect(JSON.parse(bodyA)).toEqual({
        results: [
          { id: `own-${round}`, status: 'ok', version: 1 },
          { id: 'shared', status: 'ok', version: round },
        ],
      });
    }
    const stored = await databaseRecords(admin);
    expect(stored.get('shared')).toMatchObject({
      version: 10,
      appliedVersions: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    });
    for (let round = 1; round <= 10; round += 1) {
      expect(stored.get(`own-${round}`)).toMatchObject({ appliedCount: 1, appliedVersions: [1] });
    }
    const replies = await admin.query('SELECT batch_id FROM actorsync_replies');
    expect(replies.rowCount).toBe(10);
    // Each server applied some and answered the others from the stored reply.
    const [statsA, statsB] = await Promise.all([a.stats(), b.stats()]);
    expect(statsA.batchesApplied + statsB.batchesApplied).toBe(10);
    expect(statsA.duplicateBatches + statsB.duplicateBatches).toBe(10);
  });

  it('a client long-polling one server hears a push to the other within a second (LISTEN/NOTIFY)', async () => {
    h = new Harness();
    const { url } = await testDatabase();
    const [a, b] = await Promise.all([ServerProcess.start(url), ServerProcess.start(url)]);
    if (!a || !b) throw new Error('two servers');
    // The watcher, live on A; the writer syncs with B.
    const store = await h.store(join(await h.tempDir(), 'watcher.json'));
    const watcher = new Repository<Note>({
      entityType: ENTITY,
      local: store.collection<Note>(ENTITY),
      remote: new HttpRemoteDataSource<Note>({ baseUrl: a.url, getToken: () => SERVER_TOKEN }),
      live: true,
    });
    const watching = h.coordinator({ pull: { liveWaitSeconds: 20 } });
    expect(await watching.sync(watcher)).toMatchObject({ state: 'synced' });
    const writer = await device('writer', b.url);
    // A holds the watcher's long-poll before anything is written (asked again and again: the count lives in A).
    const deadline = Date.now() + 5_000;
    while ((await a.stats()).longPolls !== 1) {
      if (Date.now() > deadline) throw new Error('the watcher held no long-poll on A within 5 s');
    }
    const pulled = nextProgress(watching, (p: SyncProgress) => p.state === 'synced' && p.pulledItems > 0);
    await writer.repository.save({ id: 'n1', text: 'pushed to B' });
    const pushedAt = performance.now();
    expect(await writer.sync()).toMatchObject({ state: 'synced', syncedItems: 1 });
    // Bounded: without the notification the watcher would only hear of it when its 20 s wait ran out.
    expect(await within(pulled, 5_000, 'the watcher to pull the change')).toMatchObject({ pulledItems: 1 });
    const latencyMs = Math.round(performance.now() - pushedAt);
    expect(latencyMs).toBeLessThan(1_000);
    expect(await watcher.get('n1')).toMatchObject({ text: 'pushed to B', version: 1, syncPending: false });
    // B never saw the watcher: the change came to A through the database.
    expect((await b.stats()).changeRequests).toBe(1);
    recordFigures('postgres-live-across-processes', { latencyMs });
  });
});

describe('PostgreSQL server process: operations', () => {
  it('/healthz answers 200 while the database is up and 503 once it is gone; onError names the database without its password', {
    timeout: 60_000,
  }, async () => {
    h = new Harness();
    // A PostgreSQL of its own, to stop.
    const database = await startEmbeddedPostgres({ fast: true });
    let stopped = false;
    h.defer(() => (stopped ? undefined : database.stop()));
    const password = decodeURIComponent(new URL(database.url).password);
    const server = await ServerProcess.start(database.url);

    const up = await fetch(`${server.url}/healthz`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ ok: true });

    await database.stop();
    stopped = true;
    const down = await fetch(`${server.url}/healthz`);
    expect(down.status).toBe(503);
    const body = await down.text();
    expect(JSON.parse(body)).toMatchObject({ ok: false });
    expect(body).not.toContain(password);
    const reported = await server.waitFor(
      (line) => line.type === 'error' && line.path === '/healthz',
      'the failed check to be reported',
    );
    expect(reported.message).toContain(redactedUrl(database.url));
    expect(reported.message).not.toContain(password);
    expect(JSON.stringify(server.lines) + server.stderr).not.toContain(password);

    // The outage did not take the process down: it still shuts down cleanly.
    server.process.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM lets a batch being applied commit and be answered, refuses new ones, and exits 0', async () => {
    h = new Harness();
    const { url } = await testDatabase();
    const admin = await sqlClient(url);
    const server = await ServerProcess.start(url);
    expect((await post(server.url, 'warm-up', [note('w')])).status).toBe(200);

    // Hold the next batch inside its transaction: it queues on the scope's feed row, which a test connection locks.
    const holder = await sqlClient(url);
    await holder.query('BEGIN');
    await holder.query(
      `SELECT head FROM actorsync_feeds WHERE partition = 'default' AND entity_type = $1 FOR UPDATE`,
      [ENTITY],
    );
    const held = post(server.url, 'held', [note('held-1'), note('held-2')]);
    await untilWaitingOnLock(admin, '%INSERT INTO actorsync_feeds%');

    server.process.kill('SIGTERM');
    await server.waitFor((line) => line.type === 'closing', 'the shutdown to start');
    // Shutting down: a new batch is turned away (a 503, or no connection at all), never applied.
    const late = await post(server.url, 'late', [note('late')]).then(
      (response) => response.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);

    await holder.query('COMMIT');
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({
      results: [
        { id: 'held-1', status: 'ok', version: 1 },
        { id: 'held-2', status: 'ok', version: 1 },
      ],
    });
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines.map((line) => line.type)).toContain('closed');
    expect([...(await databaseRecords(admin)).keys()]).toEqual(['held-1', 'held-2', 'w']);
  });

  it('two principals over HTTP: neither reads nor overwrites the other’s records; a shared type is shared', async () => {
    h = new Harness();
    const { url } = await testDatabase();
    const admin = await sqlClient(url);
    const alice = 'alice-token-0001';
    const bob = 'bob-token-000002';
    const server = await ServerProcess.start(url, {
      ACTORSYNC_TOKENS: JSON.stringify({ [alice]: 'alice', [bob]: 'bob' }),
      ACTORSYNC_SHARED_TYPES: 'board',
    });
    const ok = (id: string, version: number) => ({ id, status: 'ok', version });
    const send = async (token: string, key: string, items: object[], entity = ENTITY) => {
      const response = await post(server.url, key, items, token, entity);
      expect(response.status).toBe(200);
      return ((await response.json()) as { results: unknown[] }).results;
    };

    // Alice's note: Bob can neither list it nor pull it.
    expect(await send(alice, 'a1', [{ ...note('n1'), text: 'alice' }])).toEqual([ok('n1', 1)]);
    expect(await itemsOf(server.url, bob)).toEqual([]);
    expect(await changesOf(server.url, bob)).toEqual([]);
    // Bob writing the same id writes his own record, at any version, and Alice's stays as it was.
    expect(await send(bob, 'b1', [{ ...note('n1', 1), text: 'bob' }])).toEqual([ok('n1', 1)]);
    expect(await send(bob, 'b2', [{ ...note('n1', 5), text: 'bob again' }])).toEqual([ok('n1', 5)]);
    expect((await itemsOf(server.url, alice)).map(({ item }) => [item.version, item.text])).toEqual([
      [1, 'alice'],
    ]);
    expect((await changesOf(server.url, alice)).map(({ version }) => version)).toEqual([1]);
    expect((await itemsOf(server.url, bob)).map(({ item }) => [item.version, item.text])).toEqual([
      [5, 'bob again'],
    ]);
    // The same batch key is the principal's own too: Bob's "a1" is not Alice's reply.
    expect(await send(bob, 'a1', [{ ...note('b-only'), text: 'bob' }])).toEqual([ok('b-only', 1)]);
    expect((await databaseRecords(admin, 'alice')).get('n1')?.item.text).toBe('alice');
    expect([...(await databaseRecords(admin, 'alice')).keys()]).toEqual(['n1']);
    expect([...(await databaseRecords(admin, 'bob')).keys()]).toEqual(['b-only', 'n1']);
    // The default principal's token sees neither.
    expect(await itemsOf(server.url)).toEqual([]);

    // The shared board: one record for everyone, under the same version rules.
    expect(await send(alice, 'a2', [{ ...note('pin'), text: 'alice pinned' }], 'board')).toEqual([
      ok('pin', 1),
    ]);
    expect((await itemsOf(server.url, bob, 'board')).map(({ item }) => item.text)).toEqual(['alice pinned']);
    expect((await changesOf(server.url, bob, 'board')).map(({ id }) => id)).toEqual(['pin']);
    const [conflict] = await send(bob, 'b3', [{ ...note('pin'), text: 'bob pinned' }], 'board');
    expect(conflict).toMatchObject({ id: 'pin', status: 'conflict', remote: { text: 'alice pinned' } });
    expect(await send(bob, 'b4', [{ ...note('pin', 2), text: 'bob moved it' }], 'board')).toEqual([
      ok('pin', 2),
    ]);
    expect((await itemsOf(server.url, alice, 'board')).map(({ item }) => item.text)).toEqual([
      'bob moved it',
    ]);
  });
});
