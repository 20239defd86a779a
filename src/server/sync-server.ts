import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { clampDelay } from '../core/timers.js';
import { ActorSyncError, InvalidOptionsError, StoreCorruptError } from '../domain/errors.js';
import { isEntityTypeName } from '../domain/names.js';
import type { ItemResult, RepositoryEntity } from '../domain/types.js';
import { type SyncResponseBody, toWire, type WireResult } from '../remote/wire.js';
import { DurableJSONFile } from '../store/durable-json-file.js';
import { checkBatch, type ItemRejection } from './batch-checks.js';
import type { ChangesPage, ChangesResetBody } from './change-feed.js';
import { parseChangesQuery } from './changes-query.js';
import { FAULT_KINDS, type FaultOptions, FaultPlan, INJECTED_REJECT_REASON } from './faults.js';
import {
  type ChangesRead,
  DEFAULT_TOMBSTONE_RETENTION_MS,
  type StoredItem,
  type SyncServerSnapshot,
  SyncServerState,
} from './server-state.js';

export interface SyncServerOptions {
  /** Default 127.0.0.1. Any other address needs `allowRemote`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Bind an address other than loopback. Default false. */
  allowRemote?: boolean;
  /** The bearer token every request but /healthz needs. Default: a random one (see `server.token`). */
  token?: string;
  /** Largest request body accepted; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Persist to this lowdb JSON file (rewritten after every applied batch). Default: memory only. */
  file?: string;
  /** How long a pushed delete (a tombstone) is served by the change feed, in ms. Default 7 days. */
  tombstoneRetentionMs?: number;
  /** The most long-poll requests (`wait` > 0) held at once; one more is answered 503. Default 1,000. */
  maxLongPolls?: number;
  /** The clock tombstones are dated and expired by (tests). Default `Date.now`. */
  now?: () => number;
  faults?: FaultOptions;
  /**
   * Faults for `GET /v1/changes` requests, drawn apart from `faults` (so a push script is not shifted by pulls).
   * Kinds: every kind but `reject`; `dropReply` drops the connection once the page is read. Default none.
   */
  pullFaults?: FaultOptions;
  /** Called for each request, for logs; never given the token. */
  onRequest?: (entry: { method: string; path: string; status: number; fault: string | undefined }) => void;
  /**
   * Called with the cause of every 500 the server answers on its own (a state file it could not write, a bug);
   * injected `error500` faults are not errors. The client only hears that the batch was not applied.
   */
  onError?: (error: unknown, request: { method: string; path: string }) => void;
}

export interface SyncServerStats {
  requests: number;
  syncRequests: number;
  /** Requests for `GET /v1/changes/{entityType}`. */
  changeRequests: number;
  /** Long-poll requests held right now. */
  longPolls: number;
  batchesApplied: number;
  duplicateBatches: number;
  faultsInjected: Record<string, number>;
  /** Faults injected into `GET /v1/changes` requests (`pullFaults`). */
  pullFaultsInjected: Record<string, number>;
}

export interface SyncServer {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly token: string;
  readonly state: SyncServerState;
  readonly faults: FaultPlan;
  /** The fault plan of `GET /v1/changes` requests (`pullFaults`); `queue()` steers it. */
  readonly pullFaults: FaultPlan;
  stats(): SyncServerStats;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** A held `GET /v1/changes/{entityType}?wait=…`. */
interface LongPoll {
  entityType: string;
  /** A write to `entityType` was committed: answer if it is after the poll's checkpoint. */
  wake: () => void;
  /** Answer now with whatever the feed holds (close()); resolves once the answer is handed to the socket. */
  end: () => Promise<void>;
}

/** The state file could not be written: the batch was not applied, and the client may send it again. */
class PersistError extends Error {
  constructor(override readonly cause: unknown) {
    super('The server could not save its state; the batch was not applied');
  }
}

/** A request the server refuses with `status`; its code is `HTTP_<status>`, like every actorsync error's. */
class HttpError extends ActorSyncError {
  constructor(
    readonly status: number,
    message: string,
    /** For a 400 that refuses named items of a batch: every one of them, with its reason. */
    readonly rejected?: ItemRejection[],
  ) {
    super(`HTTP_${status}`, message);
  }
}

/**
 * The reference server of the sync protocol (docs/protocol.md), for development, tests and the demo. Applies each
 * item once: a repeated Idempotency-Key gets the stored reply without being applied again; a version not above
 * the stored one is a conflict answered with the server's copy.
 */
export async function createSyncServer(options: SyncServerOptions = {}): Promise<SyncServer> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.allowRemote) {
    throw new InvalidOptionsError(
      `Refusing to bind ${host}: the sync server binds loopback unless allowRemote is set`,
    );
  }
  const token = options.token ?? randomBytes(24).toString('base64url');
  if (token.length < 8) throw new InvalidOptionsError('The server token must be at least 8 characters');
  const tokenDigest = sha256(token);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  // NaN would compare false with every size and lift the limit altogether.
  if (!(Number.isSafeInteger(maxBodyBytes) && maxBodyBytes > 0)) {
    throw new InvalidOptionsError(`maxBodyBytes must be a whole number above 0, got ${maxBodyBytes}`);
  }
  const port = options.port ?? 0;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new InvalidOptionsError(`port must be a whole number from 0 to 65535, got ${port}`);
  }
  const faults = new FaultPlan(options.faults);
  const pullFaults = pullFaultPlan(options.pullFaults);
  const tombstoneRetentionMs = options.tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
  if (!(tombstoneRetentionMs >= 0)) {
    throw new InvalidOptionsError(`tombstoneRetentionMs must be at least 0, got ${tombstoneRetentionMs}`);
  }
  const maxLongPolls = options.maxLongPolls ?? 1000;
  if (!(Number.isInteger(maxLongPolls) && maxLongPolls >= 0)) {
    throw new InvalidOptionsError(`maxLongPolls must be a whole number of at least 0, got ${maxLongPolls}`);
  }
  const stateOptions = { tombstoneRetentionMs, ...(options.now ? { now: options.now } : {}) };
  const persistence = options.file ? openPersistence(options.file) : undefined;
  const saved = await persistence?.read();
  const state = saved ? SyncServerState.fromJSON(saved, stateOptions) : new SyncServerState(stateOptions);
  // A file without an epoch (new, or written before the change feed) gets one on disk before any checkpoint is
  // handed out, so checkpoints stay valid across a restart.
  if (persistence && saved?.epoch !== state.epoch) await persistence.write(state.toJSON());
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const longPolls = new Set<LongPoll>();
  let closing = false;
  let requests = 0;
  let syncRequests = 0;
  let changeRequests = 0;
  /** Batches applied so far, one at a time; never left rejected, so one failed write does not fail the next. */
  let writes: Promise<unknown> = Promise.resolve();

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, clampDelay(ms));
      timers.add(timer);
    });

  const authorized = (request: IncomingMessage): boolean => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    // Compare digests so the comparison takes the same time whatever the length or content.
    return match !== null && timingSafeEqual(sha256(match[1] as string), tokenDigest);
  };

  /**
   * Applies a batch after the ones before it: planned against the state they left, written to the file as the
   * state will be, and committed in memory only once that write succeeded. A failed write throws `PersistError`
   * and leaves nothing of the batch applied, its key free for the same batch to be sent again.
   */
  const applyBatch = <T extends RepositoryEntity>(
    entityType: string,
    batchId: string,
    items: readonly T[],
    reject: (item: T) => { error: string; retryable: boolean } | undefined,
    digest: string,
  ): Promise<ItemResult<T>[]> => {
    const run = writes.then(async () => {
      if (state.isKeyReused(entityType, batchId, digest)) {
        throw new HttpError(422, 'Idempotency-Key was already used for a different batch');
      }
      const plan = state.plan(entityType, batchId, items, reject, digest);
      if (persistence && !plan.duplicate) {
        try {
          await persistence.write(state.toJSON(plan));
        } catch (error) {
          throw new PersistError(error);
        }
      }
      return state.commit(plan);
    });
    writes = run.catch(() => {});
    return run;
  };

  // The state commits a write only once it is on disk (`applyBatch`), so whatever the feed serves is durable.
  const stopWatching = state.watch((entityType) => {
    // After the commit, never inside it: answering a poll must not be able to fail a batch halfway.
    queueMicrotask(() => {
      for (const poll of longPolls) if (poll.entityType === entityType) poll.wake();
    });
  });

  async function handleChanges(
    request: IncomingMessage,
    response: ServerResponse,
    url: URL,
    entityType: string,
  ): Promise<string | undefined> {
    changeRequests += 1;
    const query = parseChangesQuery(url.searchParams);
    if (!query.ok) throw new HttpError(400, query.error);
    const fault = pullFaults.next();
    const latency = pullFaults.latency();
    if (latency > 0) await wait(latency);
    if (fault === 'error500' || fault === 'unavailable503' || fault === 'tooMany429') {
      const status = { error500: 500, unavailable503: 503, tooMany429: 429 }[fault];
      if (status !== 500)
        response.setHeader('retry-after', String(pullFaults.options.retryAfterSeconds ?? 1));
      sendJson(response, status, { error: `Injected fault: ${fault}` });
      return fault;
    }
    if (fault === 'timeout') await wait(pullFaults.options.hangMs ?? 30_000);
    if (fault === 'timeout' || fault === 'reset') {
      request.socket.destroy();
      return fault;
    }
    const answerChanges = (read: ChangesRead) => {
      if (read.status === 'malformed') throw new HttpError(400, read.error);
      if (read.status === 'reset') {
        sendJson(response, 410, { error: read.error, reset: true } satisfies ChangesResetBody);
      } else if (fault === 'dropReply') {
        request.socket.destroy();
      } else if (fault === 'malformed') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"changes": [{"id": ');
      } else if (fault === 'slowDrip') {
        void drip(response, JSON.stringify(read.page satisfies ChangesPage), pullFaults, wait);
      } else {
        sendJson(response, 200, read.page satisfies ChangesPage);
      }
    };
    const read = () => state.changes(entityType, query.since, query.limit);
    const first = read();
    if (first.status !== 'page' || first.page.changes.length > 0 || query.waitMs === 0 || closing) {
      answerChanges(first);
      return fault;
    }
    if (longPolls.size >= maxLongPolls) {
      response.setHeader('retry-after', '1');
      throw new HttpError(503, `Too many long-poll requests held (${maxLongPolls}); try again later`);
    }
    if (request.socket.destroyed) return fault;
    // Held until a write to this type, `wait`, the client leaving or close(): whichever comes first.
    await new Promise<void>((resolve) => {
      let done = false;
      const finish = (answer: ChangesRead | undefined) => {
        if (done) return;
        done = true;
        longPolls.delete(poll);
        clearTimeout(timer);
        request.socket.off('close', left);
        if (answer) answerChanges(answer);
        resolve();
      };
      const left = () => finish(undefined);
      const timer = setTimeout(() => finish(read()), clampDelay(query.waitMs));
      const poll: LongPoll = {
        entityType,
        wake: () => {
          const next = read();
          if (next.status !== 'page' || next.page.changes.length > 0) finish(next);
        },
        end: () => {
          const sent = new Promise<void>((sentOrGone) => {
            response.once('finish', sentOrGone);
            response.once('close', sentOrGone);
          });
          finish(read());
          return sent;
        },
      };
      longPolls.add(poll);
      request.socket.once('close', left);
    });
    return fault;
  }

  async function handleSync(
    request: IncomingMessage,
    response: ServerResponse,
    entityType: string,
  ): Promise<string | undefined> {
    syncRequests += 1;
    const batchId = request.headers['idempotency-key'];
    if (typeof batchId !== 'string' || batchId.length === 0 || batchId.length > 200) {
      throw new HttpError(400, 'An Idempotency-Key header (the batch id) is required');
    }
    const body = await readBody(request, maxBodyBytes);
    // Every item is checked before anything is applied: a bad one refuses the whole batch with a 400.
    const batch = checkBatch(body.toString('utf8'));
    if (!batch.ok) throw new HttpError(400, batch.error, batch.rejected);
    const fault = faults.next();
    const latency = faults.latency();
    if (latency > 0) await wait(latency);
    if (fault === 'error500' || fault === 'unavailable503' || fault === 'tooMany429') {
      const status = { error500: 500, unavailable503: 503, tooMany429: 429 }[fault];
      if (status !== 500) response.setHeader('retry-after', String(faults.options.retryAfterSeconds ?? 1));
      sendJson(response, status, { error: `Injected fault: ${fault}` });
      return fault;
    }
    if (fault === 'timeout') await wait(faults.options.hangMs ?? 30_000);
    if (fault === 'timeout' || fault === 'reset') {
      request.socket.destroy();
      return fault;
    }
    const rejectedId = fault === 'reject' ? faults.pick(batch.valid)?.id : undefined;
    const reply = await applyBatch(
      entityType,
      batchId,
      batch.valid,
      (item) => (item.id === rejectedId ? { error: INJECTED_REJECT_REASON, retryable: false } : undefined),
      batch.digest,
    );
    const sent = new Map(batch.valid.map((item) => [item.id, item.version]));
    const results: WireResult[] = [
      ...batch.unusableVersion.map(
        ({ id, error }): WireResult => ({ id, status: 'rejected', reason: error, retryable: false }),
      ),
      ...reply.map((result) => toWire(result, sent.get(result.id) ?? 0)),
    ];
    if (fault === 'dropReply') {
      // Committed, but the client never hears: it must retry with the same key and not apply twice.
      request.socket.destroy();
      return fault;
    }
    if (fault === 'malformed') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"results": [{"id": ');
      return fault;
    }
    const payload: SyncResponseBody = { results };
    if (fault === 'slowDrip') {
      const text = JSON.stringify(payload);
      response.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      for (let i = 0; i < text.length; i += 64) {
        if (response.destroyed) return fault;
        response.write(text.slice(i, i + 64));
        await wait(faults.options.dripIntervalMs ?? 5);
      }
      response.end();
      return fault;
    }
    sendJson(response, 200, payload);
    return fault;
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<string | undefined> {
    requests += 1;
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (request.method === 'GET' && url.pathname === '/healthz') {
      sendJson(response, 200, { ok: true });
      return undefined;
    }
    const match = /^\/v1\/(sync|items|changes)\/([^/]+)$/.exec(url.pathname);
    if (!match) throw new HttpError(404, 'Not found');
    const entityType = decodePathSegment(match[2] as string);
    if (entityType === undefined || !isEntityTypeName(entityType)) {
      throw new HttpError(400, 'Invalid entity type');
    }
    if (!authorized(request)) {
      response.setHeader('www-authenticate', 'Bearer');
      throw new HttpError(401, 'A valid bearer token is required');
    }
    if (match[1] === 'items') {
      if (request.method !== 'GET') throw new HttpError(405, 'Use GET');
      sendJson(response, 200, { items: state.list(entityType) satisfies StoredItem[] });
      return undefined;
    }
    if (match[1] === 'changes') {
      if (request.method !== 'GET') throw new HttpError(405, 'Use GET');
      return handleChanges(request, response, url, entityType);
    }
    if (request.method !== 'POST') throw new HttpError(405, 'Use POST');
    return handleSync(request, response, entityType);
  }

  const reportError = (error: unknown, request: IncomingMessage, path: string) => {
    try {
      options.onError?.(error, { method: request.method ?? '', path });
    } catch {
      // A failing logger must not take the server down with it.
    }
  };

  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    handle(request, response).then(
      (fault) =>
        options.onRequest?.({ method: request.method ?? '', path, status: response.statusCode, fault }),
      (error: unknown) => {
        const status = error instanceof HttpError ? error.status : 500;
        const message =
          error instanceof HttpError || error instanceof PersistError ? error.message : 'Internal error';
        if (status === 500) reportError(error instanceof PersistError ? error.cause : error, request, path);
        if (!response.headersSent && !response.destroyed) {
          // A request we stop reading (413) must not keep the connection.
          if (status === 413) response.setHeader('connection', 'close');
          const rejected = error instanceof HttpError ? error.rejected : undefined;
          sendJson(response, status, rejected ? { error: message, rejected } : { error: message });
        }
        options.onRequest?.({ method: request.method ?? '', path, status, fault: undefined });
      },
    );
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    token,
    state,
    faults,
    pullFaults,
    stats: () => ({
      requests,
      syncRequests,
      changeRequests,
      longPolls: longPolls.size,
      batchesApplied: state.batchesApplied,
      duplicateBatches: state.duplicateBatches,
      faultsInjected: { ...faults.injected },
      pullFaultsInjected: { ...pullFaults.injected },
    }),
    close: async () => {
      closing = true;
      stopWatching();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Held long-polls get their (empty) page now rather than at the end of their wait.
      await Promise.all([...longPolls].map((poll) => poll.end()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await writes.catch(() => {});
    },
  };
}

/** The plan of `pullFaults`: every kind but `reject`, which has no meaning for a read. */
function pullFaultPlan(options: FaultOptions = {}): FaultPlan {
  const named = [...(options.kinds ?? []), ...Object.keys(options.rates ?? {}), ...(options.script ?? [])];
  if (named.includes('reject')) throw new InvalidOptionsError('pullFaults cannot inject "reject"');
  return new FaultPlan({
    ...options,
    kinds: options.kinds ?? FAULT_KINDS.filter((kind) => kind !== 'reject'),
  });
}

/** Sends `text` 64 characters at a time, `dripIntervalMs` apart (fault `slowDrip`). */
async function drip(
  response: ServerResponse,
  text: string,
  plan: FaultPlan,
  wait: (ms: number) => Promise<void>,
): Promise<void> {
  response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  for (let i = 0; i < text.length; i += 64) {
    if (response.destroyed) return;
    response.write(text.slice(i, i + 64));
    await wait(plan.options.dripIntervalMs ?? 5);
  }
  response.end();
}

/** `undefined` for a malformed percent-encoding (a client error, not a 500). */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (declared > maxBytes) return Promise.reject(new HttpError(413, `Body larger than ${maxBytes} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.removeAllListeners('data');
        request.resume();
        reject(new HttpError(413, `Body larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function openPersistence(file: string): DurableJSONFile<SyncServerSnapshot> {
  return new DurableJSONFile<SyncServerSnapshot>(file, (data) => {
    const snapshot = data as Partial<SyncServerSnapshot> | null;
    const isMap = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value);
    if (snapshot?.format !== 'actorsync-server' || !isMap(snapshot.items) || !isMap(snapshot.replies)) {
      throw new StoreCorruptError(file, 'it is not an actorsync server file');
    }
    return snapshot as SyncServerSnapshot;
  });
}
