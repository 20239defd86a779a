/**
 * Issue 10, "hostile replies" as one class: a sync server on 127.0.0.1 that lies in every way a reply can (bombs,
 * redirects, foreign acks, broken JSON, wrong statuses, cut connections, endless Retry-After), each through the
 * whole stack: a real lowdb store, the coordinator and the HTTP remote. For every behaviour: no record is marked
 * synced, the run ends (never stuck), the error is one of ours, the reader stops at the size cap and the request
 * count stays bounded; then the same store reopens and syncs everything to the reference server, each version
 * applied once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { Repository, type SyncResult } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { ENTITY, Harness, type Note, nextProgress, noteId, serverItems } from '../e2e/harness.js';
import { countingFetch } from '../helpers/counting-fetch.js';
import { hostileServer } from '../helpers/hostile-server.js';
import { recordFigures } from './report.js';

const h = new Harness();
afterEach(() => h.dispose());

const RECORDS = 5;
const CAP = 64 * 1024;
const RETRY = { baseDelayMs: 2, maxDelayMs: 10, maxAttempts: 3, maxItemAttempts: 2 } as const;

interface Sent {
  id: string;
  version: number;
}
/** Writes the whole answer itself: status, headers, body, or a cut connection. */
type Answer = (response: ServerResponse, items: Sent[], request: IncomingMessage) => void;

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer => {
  return (response) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(text);
  };
};
const results = (make: (item: Sent) => unknown): Answer => {
  return (response, items) => json(200, { results: items.map(make) })(response, items, undefined as never);
};
const raw = (status: number, body: string | Buffer, headers: Record<string, string> = {}): Answer => {
  return (response) => {
    response.writeHead(status, headers);
    response.end(body);
  };
};

const bomb = gzipSync(
  Buffer.concat([Buffer.from('{"results":[],"pad":"'), Buffer.alloc(8 << 20, 48), Buffer.from('"}')]),
);
const deepJson = `${'['.repeat(400_000)}${']'.repeat(400_000)}`;

interface Case {
  name: string;
  answer: Answer;
  /**
   * For a reply that makes the client wait (Retry-After): once the retry is scheduled, hold a while, then cancel
   * and count the requests (a storm would have sent many by then).
   */
  cancelOnceWaiting?: true;
  /** Only for the redirect: where it points (filled in with the accepting server's URL). */
  redirect?: number;
}

const CASES: Case[] = [
  {
    name: 'a gzip bomb (8 MiB decoded, 64 KiB cap) with an honest compressed length',
    answer: raw(200, bomb, { 'content-encoding': 'gzip', 'content-length': String(bomb.length) }),
  },
  { name: 'a gzip bomb without a length', answer: raw(200, bomb, { 'content-encoding': 'gzip' }) },
  { name: 'a 307 to a host that accepts everything', answer: () => {}, redirect: 307 },
  { name: 'a 308 to a host that accepts everything', answer: () => {}, redirect: 308 },
  {
    name: 'a 503 with Retry-After of three centuries',
    answer: raw(503, '{"error":"later"}', { 'retry-after': '9999999999' }),
    cancelOnceWaiting: true,
  },
  {
    name: 'acks a version that was not sent',
    answer: results((i) => ({ id: i.id, status: 'ok', version: i.version + 1 })),
  },
  {
    name: 'acks a version as a string',
    answer: results((i) => ({ id: i.id, status: 'ok', version: String(i.version) })),
  },
  {
    name: 'acks ids that were not sent',
    answer: results((i) => ({ id: `${i.id}-other`, status: 'ok', version: i.version })),
  },
  {
    name: 'repeats an id',
    answer: (response, items) =>
      json(200, {
        results: [...items, ...items].map((i) => ({ id: i.id, status: 'ok', version: i.version })),
      })(response, items, undefined as never),
  },
  {
    name: 'an HTML page',
    answer: raw(200, '<html><body>Welcome</body></html>', { 'content-type': 'text/html' }),
  },
  { name: 'JSON nested 400,000 deep', answer: raw(200, deepJson, { 'content-type': 'application/json' }) },
  { name: '{"results": null}', answer: json(200, { results: null }) },
  { name: 'an empty 200', answer: raw(200, '') },
  { name: 'a 204', answer: raw(204, '') },
  {
    name: 'a body cut short',
    answer: (response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
      response.write('{"results":[', () => response.destroy());
    },
  },
  { name: 'a reset connection', answer: (response) => response.socket?.destroy() },
  { name: 'no answer at all', answer: () => {} },
  { name: 'a 404 (wrong endpoint)', answer: json(404, { error: 'Not found' }) },
  { name: 'a 405', answer: json(405, { error: 'Method not allowed' }) },
  { name: 'a 400 that names no item', answer: json(400, { error: 'Bad request' }) },
  {
    name: 'a 400 naming an item that was not sent',
    answer: json(400, { error: 'Bad items', rejected: [{ id: 'stranger', error: 'no' }] }),
  },
  {
    name: 'a conflict whose server copy has a negative version',
    answer: results((i) => ({ id: i.id, status: 'conflict', remote: { id: i.id, version: -1 } })),
  },
  {
    name: 'a conflict whose server copy is older than the local record',
    answer: results((i) => ({ id: i.id, status: 'conflict', remote: { id: i.id, version: 0, text: 'old' } })),
  },
  {
    name: 'a conflict whose server copy is another record',
    answer: results((i) => ({ id: i.id, status: 'conflict', remote: { id: 'other', version: 9 } })),
  },
];

/** A server that answers every sync request with `answer`, counting requests and what it was sent. */
function answering(answer: Answer) {
  return hostileServer(
    (request, response, body) => {
      let items: Sent[] = [];
      try {
        items = (JSON.parse(body) as { items: Sent[] }).items;
      } catch {}
      answer(response, items, request);
    },
    { harness: h },
  );
}

/** Messages that betray an error we did not classify: a crash inside our code rather than a refusal. */
const UNTYPED =
  /TypeError|ReferenceError|RangeError|Cannot read propert|is not (a function|iterable)|undefined/;

const figures = {
  behaviours: 0,
  records: 0,
  falselySynced: 0,
  lost: 0,
  stuck: 0,
  untypedErrors: 0,
  redirectsFollowed: 0,
  maxReplyBytesRead: 0,
  maxRequestsPerRun: 0,
};

afterAll(() => {
  // Written only when every behaviour ran (a run of one case with -t leaves the report alone).
  if (figures.behaviours === CASES.length) recordFigures('hostile-replies', figures);
});

describe('hostile replies, each through a lowdb store, the coordinator and the HTTP remote', () => {
  it.each(CASES)(
    '$name: nothing is marked synced, the run ends, the error is ours; the store syncs afterwards',
    async (hostile) => {
      let accepted = 0;
      const accepting = await answering((response, items) => {
        accepted += items.length;
        json(200, { results: items.map((i) => ({ id: i.id, status: 'ok', version: i.version })) })(
          response,
          items,
          undefined as never,
        );
      });
      const answer: Answer = hostile.redirect
        ? raw(hostile.redirect, '', { location: `${accepting.url}/v1/sync/${ENTITY}` })
        : hostile.answer;
      const server = await answering(answer);
      const counter = countingFetch();
      const dir = await h.tempDir();
      const file = join(dir, 'store.json');
      const store = await LowdbLocalStore.open(file);
      const local = store.collection<Note>(ENTITY);
      const remote = new HttpRemoteDataSource({
        baseUrl: server.url,
        getToken: () => 'hostile-replies-token',
        timeoutMs: 300,
        maxResponseBytes: CAP,
        maxRetryAfterMs: 1e12,
        fetch: counter.fetch,
      });
      const repository = new Repository<Note>({ entityType: ENTITY, local, remote, direction: 'push' });
      const ids = Array.from({ length: RECORDS }, (_, i) => noteId(i));
      await repository.saveMany(ids.map((id) => ({ id, text: `text of ${id}` })));
      const coordinator = h.coordinator({ retry: RETRY });

      const run = coordinator.sync(repository);
      if (hostile.cancelOnceWaiting) {
        void nextProgress(coordinator, (p) => p.nextRetryAt !== undefined).then(async () => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          coordinator.cancel(ENTITY);
        });
      }
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        run,
        new Promise<'stuck'>((resolve) => {
          timer = setTimeout(() => resolve('stuck'), 15_000);
        }),
      ]);
      clearTimeout(timer);
      expect(outcome, 'the run never ended').not.toBe('stuck');
      const result = outcome as SyncResult;
      figures.behaviours += 1;
      figures.records += RECORDS;

      // Nothing the hostile server said may mark a record synced.
      const stored = await local.getAll();
      const failures = await local.failures();
      const falselySynced = stored.filter((record) => !record.syncPending).length;
      figures.falselySynced += falselySynced;
      expect(falselySynced).toBe(0);
      expect(result.syncedItems).toBe(0);
      expect(result.state === 'error' || result.cancelled).toBe(true);

      // The error says what happened in our words, never a crash of ours.
      const messages = [result.errorMessage, result.lastError, ...failures.map((f) => f.lastError)].filter(
        (message): message is string => message !== undefined,
      );
      if (!result.cancelled) expect(messages.length).toBeGreaterThan(0);
      const untyped = messages.filter((message) => UNTYPED.test(message));
      figures.untypedErrors += untyped.length;
      expect(untyped).toEqual([]);

      // Bounded: the reader stopped at the cap, no retry storm, a redirect went nowhere.
      expect(counter.maxPulled()).toBeLessThanOrEqual(CAP + 64 * 1024);
      figures.maxReplyBytesRead = Math.max(figures.maxReplyBytesRead, counter.maxPulled());
      const requestBound = !hostile.cancelOnceWaiting ? RETRY.maxAttempts * 2 + 2 : 2;
      expect(server.requests.length).toBeLessThanOrEqual(requestBound);
      figures.maxRequestsPerRun = Math.max(figures.maxRequestsPerRun, server.requests.length);
      figures.redirectsFollowed += accepting.requests.length;
      expect(accepting.requests.length).toBe(0);
      expect(accepted).toBe(0);

      // The store still opens, and everything reaches an honest server exactly once.
      await coordinator.stop();
      await store.close();
      const reopened = await h.store(file);
      const again = reopened.collection<Note>(ENTITY);
      await again.requeueFailures();
      const reference = await h.memoryServer();
      const honest = new Repository<Note>({
        entityType: ENTITY,
        local: again,
        remote: h.remote(reference),
        direction: 'push',
      });
      const recovered = await h.coordinator({ retry: RETRY }).sync(honest);
      expect(recovered).toMatchObject({ state: 'synced', syncedItems: RECORDS, failedItems: 0 });
      const onServer = await serverItems(reference, ids);
      const lost = ids.length - onServer.filter((stored) => stored.appliedVersions.join() === '1').length;
      figures.lost += lost;
      expect(lost).toBe(0);
      expect((await again.getAll()).every((record) => !record.syncPending)).toBe(true);
    },
  );
});
