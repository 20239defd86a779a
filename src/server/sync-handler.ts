import { createHash, randomBytes } from 'node:crypto';
import { readCappedText } from '../core/capped-text.js';
import { clampDelay } from '../core/timers.js';
import { ActorSyncError, InvalidOptionsError } from '../domain/errors.js';
import { isEntityTypeName } from '../domain/names.js';
import type { RepositoryEntity } from '../domain/types.js';
import { type SyncResponseBody, toWire, type WireResult } from '../remote/wire.js';
import { checkBatch, type ItemRejection } from './batch-checks.js';
import type { ChangesPage, ChangesResetBody } from './change-feed.js';
import { parseChangesQuery } from './changes-query.js';
import { FAULT_KINDS, type FaultOptions, FaultPlan, INJECTED_REJECT_REASON } from './faults.js';
import { DEFAULT_PARTITION, PersistError } from './memory-server-store.js';
import type { ChangesRead, StoredItem } from './server-state.js';
import { type Scope, type ServerStore, SHARED_PARTITION, StoreUnavailableError } from './server-store.js';

/** Who a request is from: its records and change feeds are its own (`id` names its partition). */
export interface Principal {
  /** 1-200 characters, no NUL. Requests of the same principal see the same records. */
  id: string;
}

/** Finds the principal of a request, or `undefined` to answer 401. May not throw for a bad request. */
export type Authenticate = (request: Request) => Principal | undefined | Promise<Principal | undefined>;

export interface CorsOptions {
  /** Origins allowed to call the server from a browser, exactly as a browser sends them: `https://app.example`. */
  origins: readonly string[];
  /** How long a browser may cache a preflight answer. Default 600. */
  maxAgeSeconds?: number;
  /**
   * Called with the origin of each preflight refused (403): the page only sees a network error ("Failed to fetch"),
   * the same as offline, so only the server can tell that an origin is missing from `origins`.
   */
  onOriginRefused?: (origin: string) => void;
}

export interface SyncHandlerOptions {
  store: ServerStore;
  /**
   * The bearer token of the default principal (`"default"`), compared in constant time. Default: a random one
   * (`handler.token`). Unused when `authenticate` is given.
   */
  token?: string;
  /** More principals: bearer token → principal id. Unused when `authenticate` is given. */
  tokens?: Readonly<Record<string, string>>;
  /** Replaces the bearer tokens: finds the principal of each request (a session cookie, a JWT, …). */
  authenticate?: Authenticate;
  /** Entity types every principal shares (one partition for all); every other type is per principal. */
  sharedTypes?: readonly string[];
  /** Browser origins allowed to call the server. Default: none (no CORS headers, preflights refused). */
  cors?: CorsOptions;
  /** Largest request body accepted, in bytes as received; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number;
  /** The most long-poll requests (`wait` > 0) held at once; one more is answered 503. Default 1,000. */
  maxLongPolls?: number;
  /** The most other requests handled at once; one more is answered 503 with Retry-After. Default 256. */
  maxConcurrentRequests?: number;
  faults?: FaultOptions;
  /**
   * Faults for `GET /v1/changes` requests, drawn apart from `faults` (so a push script is not shifted by pulls).
   * Kinds: every kind but `reject`; `dropReply` drops the connection once the page is read. Default none.
   */
  pullFaults?: FaultOptions;
  /**
   * Called for each request (CORS preflights included), for logs; never given the token. `status` 0: the connection
   * was dropped.
   */
  onRequest?: (entry: { method: string; path: string; status: number; fault: string | undefined }) => void;
  /**
   * Called with the cause of every 500 (and failed health check) the server answers on its own; injected faults
   * are not errors. The client only hears that the batch was not applied.
   */
  onError?: (error: unknown, request: { method: string; path: string }) => void;
}

export interface SyncHandlerStats {
  requests: number;
  syncRequests: number;
  /** Requests for `GET /v1/changes/{entityType}`. */
  changeRequests: number;
  /** Long-poll requests held right now. */
  longPolls: number;
  /** Batches this handler applied (not those answered from the idempotency store). */
  batchesApplied: number;
  /** Batches answered from the idempotency store instead of being applied. */
  duplicateBatches: number;
  faultsInjected: Record<string, number>;
  /** Faults injected into `GET /v1/changes` requests (`pullFaults`). */
  pullFaultsInjected: Record<string, number>;
}

/**
 * The server side of the sync protocol (docs/protocol.md) as a Web-standard handler: mount `handler.fetch` in
 * Hono, a Next.js route handler, Bun or Deno, or on `node:http` (`createSyncServer`). State lives in `store`.
 */
export interface SyncHandler {
  fetch(request: Request): Promise<Response>;
  /** The default principal's bearer token (given or generated); `''` when `authenticate` replaces tokens. */
  readonly token: string;
  readonly faults: FaultPlan;
  /** The fault plan of `GET /v1/changes` requests (`pullFaults`); `queue()` steers it. */
  readonly pullFaults: FaultPlan;
  stats(): SyncHandlerStats;
  /**
   * Stops taking requests (503 from now on), answers held long-polls with what the feed holds, ends injected
   * waits, and resolves once every batch being applied is done. Does not close the store.
   */
  close(): Promise<void>;
}

/** A request the server refuses with `status`; its code is `HTTP_<status>`, like every actorsync error's. */
export class HttpError extends ActorSyncError {
  constructor(
    readonly status: number,
    message: string,
    /** For a 400 that refuses named items of a batch: every one of them, with its reason. */
    readonly rejected?: ItemRejection[],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(`HTTP_${status}`, message);
  }
}

/** Bodies of JSON responses, kept so `node:http` can send the text without reading the stream back. */
const responseText = new WeakMap<Response, string>();

/** The text of a response `json()` made, if it is one. */
export function textOf(response: Response): string | undefined {
  return responseText.get(response);
}

const MAX_PRINCIPAL_CHARS = 200;

export function createSyncHandler(options: SyncHandlerOptions): SyncHandler {
  const { store } = options;
  const maxBodyBytes = wholeOption('maxBodyBytes', options.maxBodyBytes ?? 1024 * 1024, 1);
  const maxLongPolls = wholeOption('maxLongPolls', options.maxLongPolls ?? 1000, 0);
  const maxConcurrent = wholeOption('maxConcurrentRequests', options.maxConcurrentRequests ?? 256, 1);
  const auth = options.authenticate
    ? { token: '', authenticate: options.authenticate }
    : tokenAuth(options.token, options.tokens);
  const shared = new Set(options.sharedTypes ?? []);
  for (const type of shared) {
    if (!isEntityTypeName(type))
      throw new InvalidOptionsError(`sharedTypes: ${JSON.stringify(type)} is not an entity type name`);
  }
  const cors = corsPolicy(options.cors);
  const faults = new FaultPlan(options.faults);
  const pullFaults = pullFaultPlan(options.pullFaults);
  const timers = new Map<NodeJS.Timeout, () => void>();
  const longPolls = new Set<LongPoll>();
  /** Batches being applied: close() waits for them. */
  const applying = new Set<Promise<unknown>>();
  let closing = false;
  let active = 0;
  const counts = { requests: 0, syncRequests: 0, changeRequests: 0, batchesApplied: 0, duplicateBatches: 0 };

  /** Resolves after `ms`, or at once when the handler closes. */
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        timers.delete(timer);
        resolve();
      };
      const timer = setTimeout(done, clampDelay(ms));
      timers.set(timer, done);
    });

  const report = (error: unknown, request: Request, path: string) => {
    try {
      options.onError?.(error, { method: request.method, path });
    } catch {
      // A failing logger must not take the server down with it.
    }
  };

  // Writes committed by any process sharing the store wake the polls held for that scope.
  const stopWatching = store.watch((scope) => {
    // After the commit, never inside it: answering a poll must not be able to fail a batch halfway.
    queueMicrotask(() => {
      for (const poll of longPolls) if (sameScope(poll.scope, scope)) poll.wake();
    });
  });

  async function principalOf(request: Request): Promise<Principal> {
    const principal = await auth.authenticate(request);
    if (principal === undefined) {
      throw new HttpError(401, 'A valid bearer token is required', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    const id = (principal as Partial<Principal> | null)?.id;
    if (
      typeof id !== 'string' ||
      id.length === 0 ||
      id.length > MAX_PRINCIPAL_CHARS ||
      id.includes('\u0000')
    ) {
      // The app's hook is wrong, not the request: a 500 with the cause given to onError.
      throw new Error(`authenticate returned an unusable principal id: ${JSON.stringify(id)?.slice(0, 80)}`);
    }
    return { id };
  }

  async function handleChanges(request: Request, url: URL, scope: Scope): Promise<Answer> {
    counts.changeRequests += 1;
    const query = parseChangesQuery(url.searchParams);
    if (!query.ok) throw new HttpError(400, query.error);
    const fault = pullFaults.next();
    const early = await injectedEarly(fault, pullFaults, wait);
    if (early) return { response: early, fault };
    const answer = (read: ChangesRead): Response => {
      if (read.status === 'malformed') throw new HttpError(400, read.error);
      if (read.status === 'reset')
        return json(410, { error: read.error, reset: true } satisfies ChangesResetBody);
      if (fault === 'dropReply') return Response.error();
      if (fault === 'malformed') return truncated('{"changes": [{"id": ');
      if (fault === 'slowDrip')
        return dripped(JSON.stringify(read.page satisfies ChangesPage), pullFaults, wait);
      return json(200, read.page satisfies ChangesPage);
    };
    const read = () => store.changes(scope, query.since, query.limit);
    const first = await read();
    if (first.status !== 'page' || first.page.changes.length > 0 || query.waitMs === 0 || closing) {
      return { response: answer(first), fault };
    }
    if (longPolls.size >= maxLongPolls) {
      throw new HttpError(
        503,
        `Too many long-poll requests held (${maxLongPolls}); try again later`,
        undefined,
        {
          'retry-after': '1',
        },
      );
    }
    if (request.signal.aborted) return { response: Response.error(), fault };
    // Held until a write to this scope, `wait`, the client leaving or close(): whichever comes first.
    const held = await new Promise<ChangesRead | undefined>((resolve, reject) => {
      let done = false;
      const finish = (next: Promise<ChangesRead> | undefined) => {
        if (done) return;
        done = true;
        longPolls.delete(poll);
        clearTimeout(timer);
        request.signal.removeEventListener('abort', left);
        if (next) next.then(resolve, reject);
        else resolve(undefined);
      };
      const left = () => finish(undefined);
      const timer = setTimeout(() => finish(read()), clampDelay(query.waitMs));
      const poll: LongPoll = {
        scope,
        wake: () => {
          // A read that finds nothing new (a write the page already held) keeps the poll.
          void read().then(
            (next) => {
              if (next.status !== 'page' || next.page.changes.length > 0) finish(Promise.resolve(next));
            },
            (error: unknown) => finish(Promise.reject(error)),
          );
        },
        end: () => finish(read()),
      };
      longPolls.add(poll);
      request.signal.addEventListener('abort', left, { once: true });
    });
    return { response: held ? answer(held) : Response.error(), fault };
  }

  async function handleSync(request: Request, scope: Scope): Promise<Answer> {
    counts.syncRequests += 1;
    const batchId = request.headers.get('idempotency-key');
    if (batchId === null || batchId.length === 0 || batchId.length > 200) {
      throw new HttpError(400, 'An Idempotency-Key header (the batch id) is required');
    }
    const body = await readBody(request, maxBodyBytes);
    // Every item is checked before anything is applied: a bad one refuses the whole batch with a 400.
    const batch = checkBatch(body);
    if (!batch.ok) throw new HttpError(400, batch.error, batch.rejected);
    const fault = faults.next();
    const early = await injectedEarly(fault, faults, wait);
    if (early) return { response: early, fault };
    if (closing) throw shuttingDown();
    const rejectedId = fault === 'reject' ? faults.pick(batch.valid)?.id : undefined;
    const applied = store.applyBatch({
      scope,
      batchId,
      digest: batch.digest,
      items: batch.valid,
      reject: (item: RepositoryEntity) =>
        item.id === rejectedId ? { error: INJECTED_REJECT_REASON, retryable: false } : undefined,
    });
    applying.add(applied);
    const outcome = await applied.finally(() => applying.delete(applied));
    if (outcome.status === 'keyReused') {
      throw new HttpError(422, 'Idempotency-Key was already used for a different batch');
    }
    if (outcome.status === 'applied') counts.batchesApplied += 1;
    else counts.duplicateBatches += 1;
    const sent = new Map(batch.valid.map((item) => [item.id, item.version]));
    const results: WireResult[] = [
      ...batch.unusableVersion.map(
        ({ id, error }): WireResult => ({ id, status: 'rejected', reason: error, retryable: false }),
      ),
      ...outcome.reply.map((result) => toWire(result, sent.get(result.id) ?? 0)),
    ];
    // Committed, but the client never hears: it must retry with the same key and not apply twice.
    if (fault === 'dropReply') return { response: Response.error(), fault };
    if (fault === 'malformed') return { response: truncated('{"results": [{"id": '), fault };
    const payload: SyncResponseBody = { results };
    if (fault === 'slowDrip') return { response: dripped(JSON.stringify(payload), faults, wait), fault };
    return { response: json(200, payload), fault };
  }

  async function route(request: Request, url: URL): Promise<Answer> {
    if (request.method === 'GET' && url.pathname === '/healthz') {
      try {
        await store.check();
        return { response: json(200, { ok: true }), fault: undefined };
      } catch (error) {
        report(error, request, url.pathname);
        return { response: json(503, { ok: false, error: 'The store is not available' }), fault: undefined };
      }
    }
    const match = /^\/v1\/(sync|items|changes)\/([^/]+)$/.exec(url.pathname);
    if (!match) throw new HttpError(404, 'Not found');
    const entityType = decodePathSegment(match[2] as string);
    if (entityType === undefined || !isEntityTypeName(entityType)) {
      throw new HttpError(400, 'Invalid entity type');
    }
    const principal = await principalOf(request);
    const scope: Scope = {
      partition: shared.has(entityType) ? SHARED_PARTITION : principal.id,
      entityType,
    };
    if (match[1] === 'items') {
      if (request.method !== 'GET') throw new HttpError(405, 'Use GET');
      return {
        response: json(200, { items: (await store.list(scope)) satisfies StoredItem[] }),
        fault: undefined,
      };
    }
    if (match[1] === 'changes') {
      if (request.method !== 'GET') throw new HttpError(405, 'Use GET');
      return handleChanges(request, url, scope);
    }
    if (request.method !== 'POST') throw new HttpError(405, 'Use POST');
    return handleSync(request, scope);
  }

  async function handle(request: Request): Promise<Response> {
    counts.requests += 1;
    const url = new URL(request.url);
    const origin = request.headers.get('origin');
    if (
      request.method === 'OPTIONS' &&
      origin !== null &&
      request.headers.has('access-control-request-method')
    ) {
      const response = cors.preflight(origin);
      logRequest(request.method, url.pathname, response.status, undefined);
      return response;
    }
    let answer: Answer;
    const counted = !isLongPoll(url) && url.pathname !== '/healthz';
    try {
      if (closing && url.pathname !== '/healthz') throw shuttingDown();
      if (counted && active >= maxConcurrent) {
        throw new HttpError(503, `Too many requests at once (${maxConcurrent}); try again later`, undefined, {
          'retry-after': '1',
        });
      }
      if (counted) active += 1;
      try {
        answer = await route(request, url);
      } finally {
        if (counted) active -= 1;
      }
    } catch (caught) {
      // A store out of reach is the server out of reach: 503, so clients retry without counting it against items.
      let error = caught;
      if (caught instanceof StoreUnavailableError) {
        report(caught, request, url.pathname);
        error = new HttpError(503, 'The server cannot reach its store; try again later', undefined, {
          'retry-after': '1',
        });
      }
      const status = error instanceof HttpError ? error.status : 500;
      const message =
        error instanceof HttpError || error instanceof PersistError ? error.message : 'Internal error';
      if (status === 500) report(error instanceof PersistError ? error.cause : error, request, url.pathname);
      const rejected = error instanceof HttpError ? error.rejected : undefined;
      const response = json(status, rejected ? { error: message, rejected } : { error: message });
      for (const [name, value] of Object.entries(error instanceof HttpError ? error.headers : {})) {
        response.headers.set(name, value);
      }
      // A request we stop reading (413) must not keep the connection.
      if (status === 413) response.headers.set('connection', 'close');
      answer = { response, fault: undefined };
    }
    if (origin !== null) cors.decorate(answer.response, origin);
    logRequest(request.method, url.pathname, answer.response.status, answer.fault);
    return answer.response;
  }

  function logRequest(method: string, path: string, status: number, fault: string | undefined): void {
    try {
      options.onRequest?.({ method, path, status, fault });
    } catch {
      // A failing logger must not fail the request.
    }
  }

  return {
    fetch: handle,
    token: auth.token,
    faults,
    pullFaults,
    stats: () => ({
      ...counts,
      longPolls: longPolls.size,
      faultsInjected: { ...faults.injected },
      pullFaultsInjected: { ...pullFaults.injected },
    }),
    close: async () => {
      closing = true;
      stopWatching();
      for (const done of [...timers.values()]) done();
      // Held long-polls get their (empty) page now rather than at the end of their wait.
      for (const poll of [...longPolls]) poll.end();
      await Promise.allSettled([...applying]);
    },
  };
}

/** A request's response and the fault injected into it, for the log. */
interface Answer {
  response: Response;
  fault: string | undefined;
}

/** A held `GET /v1/changes/{entityType}?wait=…`. */
interface LongPoll {
  scope: Scope;
  /** A write to `scope` was committed: answer if it is after the poll's checkpoint. */
  wake: () => void;
  /** Answer now with whatever the feed holds (close()). */
  end: () => void;
}

function sameScope(a: Scope, b: Scope): boolean {
  return a.partition === b.partition && a.entityType === b.entityType;
}

function isLongPoll(url: URL): boolean {
  const wait = url.searchParams.get('wait');
  return url.pathname.startsWith('/v1/changes/') && wait !== null && Number(wait) > 0;
}

function shuttingDown(): HttpError {
  return new HttpError(503, 'The server is shutting down; try again later', undefined, {
    'retry-after': '1',
  });
}

/**
 * The faults answered before the request is served: an error status, or a connection dropped (at once, or after
 * holding it `hangMs`). `undefined` when the request goes on (after the fault plan's latency).
 */
async function injectedEarly(
  fault: string | undefined,
  plan: FaultPlan,
  wait: (ms: number) => Promise<void>,
): Promise<Response | undefined> {
  const latency = plan.latency();
  if (latency > 0) await wait(latency);
  if (fault === 'error500' || fault === 'unavailable503' || fault === 'tooMany429') {
    const status = { error500: 500, unavailable503: 503, tooMany429: 429 }[fault];
    const response = json(status, { error: `Injected fault: ${fault}` });
    if (status !== 500) response.headers.set('retry-after', String(plan.options.retryAfterSeconds ?? 1));
    return response;
  }
  if (fault === 'timeout') await wait(plan.options.hangMs ?? 30_000);
  if (fault === 'timeout' || fault === 'reset') return Response.error();
  return undefined;
}

/** Default authentication: bearer tokens, compared by digest so the time taken says nothing of the token. */
function tokenAuth(
  token: string | undefined,
  tokens: Readonly<Record<string, string>> | undefined,
): { token: string; authenticate: Authenticate } {
  const main = token ?? randomToken();
  const byDigest = new Map<string, string>();
  for (const [given, principal] of [[main, DEFAULT_PARTITION], ...Object.entries(tokens ?? {})] as const) {
    if (given.length < 8) throw new InvalidOptionsError('A server token must be at least 8 characters');
    if (principal.length === 0 || principal.length > MAX_PRINCIPAL_CHARS || principal.includes('\u0000')) {
      throw new InvalidOptionsError('tokens: a principal id must be 1-200 characters without NUL');
    }
    byDigest.set(digestOf(given), principal);
  }
  return {
    token: main,
    authenticate: (request) => {
      const match = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '');
      const principal = match ? byDigest.get(digestOf(match[1] as string)) : undefined;
      return principal === undefined ? undefined : { id: principal };
    },
  };
}

/**
 * Whether `text` is a web origin as browsers send it (`scheme://host[:port]`, no path): what `cors.origins` must
 * hold. `null` (a file or a sandboxed frame) is not one.
 */
export function isOrigin(text: string): boolean {
  try {
    return new URL(text).origin === text;
  } catch {
    return false;
  }
}

function corsPolicy(options: CorsOptions | undefined) {
  const origins = new Set(options?.origins ?? []);
  for (const origin of origins) {
    if (!isOrigin(origin)) {
      throw new InvalidOptionsError(
        `cors.origins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path)`,
      );
    }
  }
  const maxAge = String(options?.maxAgeSeconds ?? 600);
  return {
    preflight(origin: string): Response {
      if (!origins.has(origin)) {
        try {
          options?.onOriginRefused?.(origin);
        } catch {
          // A failing logger must not fail the request.
        }
        return json(403, { error: 'Origin not allowed' });
      }
      return new Response(null, {
        status: 204,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'authorization, content-type, idempotency-key',
          'access-control-max-age': maxAge,
          vary: 'origin',
        },
      });
    },
    decorate(response: Response, origin: string): void {
      // A dropped connection (an injected fault) has no headers to add.
      if (response.type === 'error' || !origins.has(origin)) return;
      response.headers.set('access-control-allow-origin', origin);
      response.headers.set('access-control-expose-headers', 'retry-after');
      response.headers.append('vary', 'origin');
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

function json(status: number, body: unknown): Response {
  const text = JSON.stringify(body);
  const response = new Response(text, { status, headers: { 'content-type': 'application/json' } });
  responseText.set(response, text);
  return response;
}

/** A 200 whose JSON body stops halfway (fault `malformed`). */
function truncated(text: string): Response {
  return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
}

/** Sends `text` 64 characters at a time, `dripIntervalMs` apart (fault `slowDrip`). */
function dripped(text: string, plan: FaultPlan, wait: (ms: number) => Promise<void>): Response {
  const encoder = new TextEncoder();
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= text.length) {
        controller.close();
        return;
      }
      if (at > 0) await wait(plan.options.dripIntervalMs ?? 5);
      controller.enqueue(encoder.encode(text.slice(at, at + 64)));
      at += 64;
    },
  });
  return new Response(body, {
    status: 200,
    headers: { 'content-type': 'application/json', 'content-length': String(byteLength(text)) },
  });
}

/** The body as text, refusing more than `maxBytes` as received (a declared length above it is refused unread). */
async function readBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length'));
  if (declared > maxBytes) throw new HttpError(413, `Body larger than ${maxBytes} bytes`);
  if (!request.body) return '';
  const text = await readCappedText(request.body, maxBytes);
  if (text === undefined) throw new HttpError(413, `Body larger than ${maxBytes} bytes`);
  return text;
}

/** `undefined` for a malformed percent-encoding (a client error, not a 500). */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function wholeOption(name: string, value: number, min: number): number {
  // NaN would compare false with every size and lift the limit altogether.
  if (!(Number.isSafeInteger(value) && value >= min)) {
    throw new InvalidOptionsError(`${name} must be a whole number of at least ${min}, got ${value}`);
  }
  return value;
}

function byteLength(text: string): number {
  return Buffer.byteLength(text);
}

function digestOf(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

function randomToken(): string {
  return randomBytes(24).toString('base64url');
}
