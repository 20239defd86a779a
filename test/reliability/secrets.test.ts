/**
 * Issue 10 point 5: no secret the library has seen leaves it in a message. A server that echoes the token
 * (batch-level error text, item reasons, a 400's item list, a malformed reply, a redirect), a `getToken` that
 * throws with tokens in its message, credentials in the base URL and a configured API key; a JWT-length token
 * echoed where messages are cut short (a schema message quoting a bad field, an unknown id) and put into conflict
 * copies (as field names and values, nested past the 64-level limit or storable as they are); then every place a
 * message could carry a secret is scanned, for every 12-character piece of each secret, not only the whole: thrown
 * errors (message, stack, cause chain), `SyncResult`s, progress events, logger calls, failure records, the trace
 * file, and the store's files on disk after close.
 *
 * A conflict copy is record data, not a message: one the client can store is stored verbatim (it is the app's data;
 * rewriting it would store other content than the server's as synced), and one it cannot is refused with a message
 * that quotes none of it. So the scan leaves out exactly the record contents the server sent (the copies in item
 * results and in the trace's copies of them, and the records in the store), and scans everything else.
 */

import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource, type HttpRemoteOptions } from '../../src/http.js';
import {
  InvalidOptionsError,
  Repository,
  type RepositoryEntity,
  type SyncProgress,
} from '../../src/index.js';
import { createTraceInspector } from '../../src/inspect.js';
import { Harness, memoryLogger } from '../e2e/harness.js';
import { hostileServer } from '../helpers/hostile-server.js';
import { recordFigures } from './report.js';

interface Doc extends RepositoryEntity {
  text: string;
}

const h = new Harness();
afterEach(() => h.dispose());

const TOKEN = 'tok-5e6f7a8b-live-secret';
/** Only ever in the message of the throwing getToken, after "Bearer ": never returned, so never seen. */
const UNSEEN_TOKEN = 'eyJhbGciOi.unseen-refresh-token';
const PASSWORD = 'url-password-91c2';
const USER = 'sync-user';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
const API_KEY = 'api-key-0d9e8f7a';
/** A JWT-length bearer token (header.payload.signature, 200-odd characters): long enough to be cut in messages. */
const JWT = [
  { alg: 'RS256', typ: 'JWT', kid: 'actorsync-test-1' },
  { sub: 'sync-user-7f3a', scope: 'sync:write', iat: 1764115200, exp: 1764118800, jti: 'c0ffee-5e6f-4d2a' },
  { sig: 'Jq3v8Xk2LwQz9TnR4sYb7pCe1HdG6mFa0uVi5oNt' },
]
  .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
  .join('.');
const SECRETS = { TOKEN, UNSEEN_TOKEN, PASSWORD, BASIC, API_KEY, JWT };
/** How long a piece of a secret counts as a leak: anything longer identifies it. */
const PIECE = 12;

/** `value` wrapped in `levels` objects: past the 64 levels a stored record may have. */
function nested(levels: number, value: unknown): unknown {
  let result = value;
  for (let i = 0; i < levels; i += 1) result = { x: result };
  return result;
}

/** Server copies for a conflict, by item position: the JWT as field names and values, unstorable and storable. */
const COPIES: ((item: Doc) => Record<string, unknown>)[] = [
  (item) => ({ id: item.id, version: item.version + 1, [JWT]: nested(70, 1) }),
  (item) => ({ id: item.id, version: item.version + 1, deep: nested(70, { [JWT]: `value ${JWT}` }) }),
  (item) => ({ id: item.id, version: item.version + 1, text: `copy of ${JWT}`, [JWT]: JWT }),
  (item) => ({ id: item.id, version: item.version + 1, text: 'c', list: [JWT, { [`k:${JWT}`]: [JWT] }] }),
];

/** What the hostile server does per entity type; every answer quotes a secret. */
type Behaviour = (request: IncomingMessage, items: Doc[]) => [number, Record<string, string>, unknown];

const BEHAVIOURS: Record<string, Behaviour> = {
  batchecho: (request) => [500, {}, { error: `proxy saw Authorization: ${request.headers.authorization}` }],
  itemecho: (_, items) => [
    200,
    {},
    { results: items.map((i) => ({ id: i.id, status: 'rejected', reason: `token ${TOKEN} may not write` })) },
  ],
  rejectecho: (request, items) =>
    String(request.headers['idempotency-key']).endsWith('/valid')
      ? [200, {}, { results: items.map((i) => ({ id: i.id, status: 'ok', version: i.version })) }]
      : [
          400,
          {},
          { error: `bad ${TOKEN}`, rejected: [{ id: items[0]?.id, error: `item signed with ${TOKEN}` }] },
        ],
  malformed: (_, items) => [200, {}, { results: items.map((i) => ({ id: i.id, status: TOKEN })) }],
  forbidden: () => [403, {}, { error: `token ${encodeURIComponent(TOKEN)} lacks the scope` }],
  redirect: () => [
    307,
    { location: `http://${USER}:${PASSWORD}@127.0.0.1:1/x/${TOKEN}?access_token=${TOKEN}` },
    {},
  ],
  throwing: () => [401, {}, { error: 'A valid bearer token is required' }],
  basic: (request) => [500, {}, { error: `credentials ${request.headers.authorization} refused` }],
  apikey: (_, items) => [
    200,
    {},
    { results: items.map((i) => ({ id: i.id, status: 'rejected', reason: `key ${API_KEY} is revoked` })) },
  ],
  // Valibot quotes the bad value whole in its message, which is cut to a short length.
  versionecho: (_, items) => [
    200,
    {},
    { results: items.map((i) => ({ id: i.id, status: 'ok', version: JWT })) },
  ],
  // An id not in the batch is quoted by whoever refuses it.
  idecho: () => [200, {}, { results: [{ id: `${JWT}`, status: 'ok', version: 1 }] }],
  conflictcopies: (_, items) => [
    200,
    {},
    {
      results: items.map((item, index) => ({
        id: item.id,
        status: 'conflict',
        remote: (COPIES[index % COPIES.length] as (typeof COPIES)[number])(item),
      })),
    },
  ],
};
/** Behaviours served to the remote whose getToken returns the JWT. */
const JWT_BEHAVIOURS = new Set(['versionecho', 'idecho', 'conflictcopies']);

async function behavingServer(): Promise<string> {
  const server = await hostileServer(
    (request, response, body) => {
      const type = decodeURIComponent(request.url?.split('/').pop() ?? '');
      const behaviour = BEHAVIOURS[type];
      const items = body ? (JSON.parse(body) as { items: Doc[] }).items : [];
      const [status, headers, reply] = behaviour
        ? behaviour(request, items)
        : [404, {}, { error: 'Not found' }];
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(reply));
    },
    { harness: h },
  );
  return server.url;
}

/** The remote each type syncs through: one shared instance, except where the behaviour needs its own. */
function remotesFor(url: string): Record<string, HttpRemoteDataSource> {
  const shared = new HttpRemoteDataSource({ baseUrl: url, getToken: () => TOKEN, timeoutMs: 5_000 });
  const throwing = new HttpRemoteDataSource({
    baseUrl: url,
    getToken: ({ refresh }) => {
      if (!refresh) return TOKEN;
      throw new Error(
        `refresh failed: ${TOKEN} was refused; also tried Authorization: Bearer ${UNSEEN_TOKEN}`,
      );
    },
  });
  const basic = new HttpRemoteDataSource({ baseUrl: url.replace('//', `//${USER}:${PASSWORD}@`) });
  const apikey = new HttpRemoteDataSource({ baseUrl: url, getToken: () => TOKEN, secrets: [API_KEY] });
  const jwt = new HttpRemoteDataSource({ baseUrl: url, getToken: () => JWT, timeoutMs: 5_000 });
  const special: Record<string, HttpRemoteDataSource> = { throwing, basic, apikey };
  return Object.fromEntries(
    Object.keys(BEHAVIOURS).map((type) => [type, special[type] ?? (JWT_BEHAVIOURS.has(type) ? jwt : shared)]),
  );
}

/** An error as it could be logged or serialised: message, stack and every cause. */
function everythingOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 10; depth += 1) {
    const e = current as { message?: unknown; stack?: unknown; cause?: unknown };
    parts.push(String(e.message), String(e.stack), JSON.stringify(current) ?? '');
    current = e.cause;
  }
  return parts.join('\n');
}

/** Every `PIECE`-character substring of `secret` (the secret itself if shorter). */
function piecesOf(secret: string): string[] {
  if (secret.length <= PIECE) return [secret];
  return Array.from({ length: secret.length - PIECE + 1 }, (_, i) => secret.slice(i, i + PIECE));
}

/** What stands in for a server's copy of a record (data) in the text a scan reads. */
const SERVER_COPY = '[server copy]';

/**
 * `value` (parsed JSON) with every conflict's server copy (`{ status: 'conflict', remote }`) replaced by
 * `SERVER_COPY`: the copy is record data the app may store, and everything around it is scanned.
 */
function withoutServerCopies(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutServerCopies);
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value).map(([key, child]): [string, unknown] => [
    key,
    key === 'remote' && (value as { status?: unknown }).status === 'conflict'
      ? SERVER_COPY
      : withoutServerCopies(child),
  ]);
  return Object.fromEntries(entries);
}

/** Each line of a JSON-lines text with the server copies left out (see `withoutServerCopies`). */
function linesWithoutServerCopies(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.stringify(withoutServerCopies(JSON.parse(line))))
    .join('\n');
}

/** A record, in a store file's scan: its id and version only (its contents are data). */
const recordStub = (record: { id: string; version: number }) => ({ id: record.id, version: record.version });

/**
 * A lowdb store file, parsed, with the contents of every record left out: the snapshot's records, and the records
 * the journal writes (saves, conflict resolutions, pulled pages). Failure records, acks, ids, checkpoints and
 * everything else stay in the text that is scanned.
 */
function storeFileWithoutRecords(file: string, text: string): string {
  if (file.endsWith('.journal')) {
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const op = JSON.parse(line) as Record<string, unknown> & {
          e?: { id: string; version: number }[];
          d?: { replaced?: { id: string; version: number }[]; put?: { id: string; version: number }[] };
        };
        if (op.op === 'put' && op.e) op.e = op.e.map(recordStub);
        if (op.op === 'commit' && op.d?.replaced) op.d.replaced = op.d.replaced.map(recordStub);
        if (op.op === 'page' && op.d?.put) op.d.put = op.d.put.map(recordStub);
        return JSON.stringify(op);
      })
      .join('\n');
  }
  const document = JSON.parse(text) as {
    collections: Record<string, { records: Record<string, { id: string; version: number }> }>;
  };
  for (const collection of Object.values(document.collections)) {
    for (const [id, record] of Object.entries(collection.records))
      collection.records[id] = recordStub(record);
  }
  return JSON.stringify(document);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('secrets never leave the remote layer', () => {
  it('credentials in baseUrl with getToken too are refused without quoting them', () => {
    const options: HttpRemoteOptions = {
      baseUrl: `http://${USER}:${PASSWORD}@127.0.0.1:1`,
      getToken: () => TOKEN,
    };
    const error = (() => {
      try {
        return new HttpRemoteDataSource(options);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toBe(
      'baseUrl http://127.0.0.1:1/ carries credentials and getToken is set too: pass one of them',
    );
    expect(everythingOf(error)).not.toContain(PASSWORD);
    // A query (where keys hide) would swallow the sync path: refused, and not quoted either.
    expect(() => new HttpRemoteDataSource({ baseUrl: `http://127.0.0.1:1/api?key=${API_KEY}` })).toThrow(
      'baseUrl http://127.0.0.1:1/api must not have a query or fragment',
    );
    expect(() => new HttpRemoteDataSource({ baseUrl: `nonsense ${PASSWORD}` })).toThrow(
      'baseUrl is not a valid absolute URL',
    );
  });

  it('no token, password or key reaches errors, results, failure records, progress, logs, the trace or the store files', async () => {
    const url = await behavingServer();
    const dir = await h.tempDir();
    const remotes = remotesFor(url);

    // 1. Every behaviour straight through the remote: the thrown errors or the item reasons.
    const direct: string[] = [];
    /** The conflict copies the remote handed over, by item id: data, passed on as the server sent them. */
    const handedOver = new Map<string, unknown>();
    for (const [type, remote] of Object.entries(remotes)) {
      const item: Doc = {
        id: `${type}-1`,
        text: 'x',
        createdAt: 1,
        updatedAt: 1,
        syncPending: true,
        version: 1,
      };
      const outcome = await remote
        .syncBatch([item], {
          signal: new AbortController().signal,
          batchId: `direct-${type}`,
          entityType: type,
        })
        .then((results) => {
          for (const result of results)
            if (result.status === 'conflict') handedOver.set(result.id, result.remote);
          return JSON.stringify(results);
        }, everythingOf);
      direct.push(outcome);
    }

    // 2. The same through a coordinator into a lowdb store file, with a logger, progress and a trace.
    const store = await h.store(join(dir, 'store.json'));
    const logger = memoryLogger();
    const trace = createTraceInspector({ file: join(dir, 'trace.jsonl') });
    const coordinator = h.coordinator({
      logger,
      inspect: trace.inspect,
      retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2, maxItemAttempts: 2 },
    });
    const progress: SyncProgress[] = [];
    coordinator.progress.subscribe((p) => progress.push(p));
    for (const [type, remote] of Object.entries(remotes)) {
      const repository = new Repository<Doc>({
        entityType: type,
        local: store.collection<Doc>(type),
        remote,
      });
      // As many records as there are conflict copies, so that each shape is met.
      await repository.saveMany(COPIES.map((_, n) => ({ id: `${type}-${n}`, text: `text ${n}` })));
      coordinator.register(repository);
    }
    const results = await coordinator.syncAll();
    const failures = await Promise.all(Object.keys(remotes).map((type) => coordinator.failures(type)));
    await coordinator.stop();
    await trace.close();
    await store.close();

    // The runs did meet every behaviour: each ended in error, items were dead-lettered and retried.
    expect(results.map((r) => r.state)).toEqual(Object.keys(BEHAVIOURS).map(() => 'error'));
    expect(results.find((r) => r.entityType === 'throwing')?.errorMessage).toContain(
      'getToken failed: refresh failed:',
    );
    expect(failures.flat().some((f) => f.deadLettered)).toBe(true);
    expect(failures.flat().some((f) => !f.deadLettered)).toBe(true);

    // The storable conflict copies are the app's data now: stored verbatim, secret and all (as field names and
    // values), synced at the server's version. Read back from the reopened store.
    const reopened = await h.store(join(dir, 'store.json'));
    const storedCopies = await reopened.collection<Doc>('conflictcopies').getAll();
    await reopened.close();
    for (const n of [2, 3]) {
      const id = `conflictcopies-${n}`;
      const local = storedCopies.find((record) => record.id === id) as Doc;
      const copy = (COPIES[n] as (typeof COPIES)[number])({ ...local, version: 1 });
      expect(local, id).toEqual({
        ...copy,
        createdAt: local.createdAt,
        updatedAt: local.updatedAt,
        syncPending: false,
      });
      expect(JSON.stringify(local)).toContain(JWT);
    }
    // Straight through the remote, too: the copies are handed over as the server sent them.
    expect(handedOver.get('conflictcopies-1')).toEqual(
      (COPIES[0] as (typeof COPIES)[number])({ id: 'conflictcopies-1', version: 1 } as Doc),
    );

    const storeFiles = (await filesUnder(dir)).filter((file) => !file.endsWith('trace.jsonl'));
    const places: Record<string, string> = {
      directErrors: direct
        .map((text) => (text.startsWith('[') ? linesWithoutServerCopies(text) : text))
        .join('\n'),
      results: JSON.stringify(results),
      failureRecords: JSON.stringify(failures),
      progress: JSON.stringify(progress),
      logs: logger.lines.join('\n'),
      trace: linesWithoutServerCopies(await readFile(join(dir, 'trace.jsonl'), 'utf8')),
    };
    for (const file of storeFiles) {
      places[`store file ${file.slice(dir.length)}`] = storeFileWithoutRecords(
        file,
        await readFile(file, 'utf8'),
      );
    }

    const leaks: string[] = [];
    for (const [place, text] of Object.entries(places)) {
      expect(text.length, `${place} captured nothing`).toBeGreaterThan(0);
      for (const [name, secret] of Object.entries(SECRETS)) {
        const piece = piecesOf(secret).find((p) => text.includes(p));
        if (piece !== undefined) leaks.push(`${name} in ${place} (${JSON.stringify(piece)})`);
      }
    }
    // The scan sees redactions, so it looked where the secrets would have been.
    expect(places.results).toContain('[redacted]');
    expect(places.logs).toContain('[redacted]');
    expect(storeFiles.length).toBeGreaterThan(0);
    // The conflict copies were met: the unstorable ones failed their items, with messages saying what is wrong
    // by structure (the failure records are on disk, in the store files scanned above, too).
    expect(places.failureRecords).toContain('nested deeper than 64 levels in one of its fields');
    expect(places.trace).toContain(SERVER_COPY);
    recordFigures('secrets', {
      'secrets planted': Object.keys(SECRETS).length,
      'server behaviours': Object.keys(BEHAVIOURS).length,
      'places scanned': Object.keys(places).length,
      leaks: leaks.length,
    });
    expect(leaks).toEqual([]);
  });
});
