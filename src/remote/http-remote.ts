import ky, { type KyInstance } from 'ky';
import { readCappedText } from '../core/capped-text.js';
import { matches } from '../core/shape.js';
import { clampDelay, MAX_TIMER_DELAY_MS } from '../core/timers.js';
import {
  ActorSyncError,
  errorMessage,
  FatalSyncError,
  InvalidOptionsError,
  MalformedReplyError,
  PermanentSyncError,
  RemoteUnavailableError,
  TransientSyncError,
} from '../domain/errors.js';
import type {
  ItemResult,
  PullReply,
  PullRequest,
  RemoteDataSource,
  RepositoryEntity,
  SyncBatchContext,
} from '../domain/types.js';
import { handOverChanges } from '../protocol/pull-page.js';
import { validatePullReply } from '../protocol/pull-reply.js';
import { validateReply } from '../protocol/reply.js';
import { base64, printableUrl, Redactor } from './redactor.js';
import {
  batchRejects,
  clip,
  expectShape,
  fromWire,
  MAX_DETAIL_CHARS,
  MAX_REASON_CHARS,
  pullResponseShape,
  resetReplyShape,
  retryAfterMs,
  type SyncRequestBody,
} from './wire.js';

export interface HttpRemoteOptions {
  /**
   * The server's base URL, e.g. `http://127.0.0.1:8080`. Credentials in it (`http://user:password@host`) are never
   * part of the request URL: without `getToken` they are sent as `Authorization: Basic …`; with `getToken` as well
   * they are refused (`InvalidOptionsError`), since it would be unclear which one the server should get. They never
   * appear in a message.
   */
  baseUrl: string;
  /**
   * Supplies the bearer token. Called with `refresh: true` once after a 401, to get a fresh one; the batch is then
   * sent again once. With `refresh: false` it returns the current token, which after a refresh is the refreshed
   * one. Requests refused with the same token (two batches in flight) share one refresh and its outcome; a request
   * leaving while a refresh runs waits for it. A `getToken` that throws ends the run (`FatalSyncError`). Tokens
   * never appear in errors, logs, progress or failure records: every token it returns is redacted from every
   * message, and so is anything after `Bearer ` in the message of a `getToken` that threw.
   */
  getToken?: (options: { refresh: boolean }) => string | undefined | Promise<string | undefined>;
  /**
   * More values to redact from every message (an API key a proxy might echo, say), like the tokens. Values shorter
   * than 4 characters are ignored.
   */
  secrets?: readonly string[];
  /** Per request, reading the reply included. Default 10,000; at most 2^31-1. */
  timeoutMs?: number;
  /** Largest reply accepted, counted in decoded bytes (after gzip, deflate or br). Default 16 MiB. */
  maxResponseBytes?: number;
  /** Longest Retry-After honoured. Default 300,000 (5 minutes); values above 2^31-1 (24.8 days) are capped. */
  maxRetryAfterMs?: number;
  /**
   * A fetch implementation (tests, proxies). Default the global one. A reply it returns is always read chunk by
   * chunk and counted against `maxResponseBytes`: its `Content-Length` need not match the body it hands over.
   */
  fetch?: typeof fetch;
}

/** The longest long-poll wait asked of a server, in seconds (the protocol's cap). */
const MAX_WAIT_SECONDS = 60;

/** Statuses that say the request was fine but the server could not take it now. */
const TRANSIENT_4XX = new Set([408, 429]);

/** Statuses that say the server (or a gateway in front of it) is unavailable for now, whatever was sent. */
const UNAVAILABLE_STATUSES = new Set([429, 502, 503, 504]);

/**
 * The remote end over HTTP (docs/protocol.md): one `POST /v1/sync/{entityType}` per batch, the batch id as the
 * `Idempotency-Key`. Classifies every failure for the batch machine, which owns retries (ky's are off), and redacts
 * every secret it has seen from every message it produces.
 *
 * One instance serves every entity type: `syncBatch` is generic, so the remote fits `RemoteDataSource<T>` for any
 * `T` (`T` of the class only narrows it, for callers that want to).
 */
export class HttpRemoteDataSource<T extends RepositoryEntity = RepositoryEntity>
  implements RemoteDataSource<T>
{
  readonly #http: KyInstance;
  /** Where requests go, without credentials, query or fragment: for messages. */
  readonly #printableBase: string;
  readonly #getToken: HttpRemoteOptions['getToken'];
  /** `Basic …` from the base URL's credentials, sent when there is no `getToken`. */
  readonly #basicAuth: string | undefined;
  readonly #redactor: Redactor;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  /**
   * Whether an unencoded reply's `Content-Length` bounds its body: only with the global fetch, whose HTTP parser
   * refuses a body longer than declared. A custom fetch (a proxy that inflates and keeps the compressed length,
   * say) may hand over any body under any header.
   */
  readonly #trustsContentLength: boolean;
  readonly #maxRetryAfterMs: number;
  /** Bumped when a refresh starts: a 401 to a request whose token was read before it needs no refresh of its own. */
  #tokenGeneration = 0;
  /** The latest refresh (running or done): what a request refused with an older token resends with. */
  #lastRefresh: Promise<string | undefined> | undefined;

  constructor(options: HttpRemoteOptions) {
    const base = parseBaseUrl(options.baseUrl);
    const username = decodeUserinfo(base.username);
    const password = decodeUserinfo(base.password);
    this.#redactor = new Redactor([
      ...(options.secrets ?? []),
      base.username,
      base.password,
      username,
      password,
      ...(username || password ? [`${username}:${password}`] : []),
    ]);
    if ((username || password) && options.getToken) {
      throw new InvalidOptionsError(
        `baseUrl ${printableUrl(base)} carries credentials and getToken is set too: pass one of them`,
      );
    }
    this.#basicAuth = username || password ? `Basic ${base64(`${username}:${password}`)}` : undefined;
    base.username = '';
    base.password = '';
    const printable = printableUrl(base);
    this.#printableBase = printable.endsWith('/') ? printable : `${printable}/`;
    this.#getToken = options.getToken;
    this.#timeoutMs = checkedMs('timeoutMs', options.timeoutMs, 10_000, 1);
    this.#maxRetryAfterMs = checkedMs('maxRetryAfterMs', options.maxRetryAfterMs, 300_000, 0);
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.#trustsContentLength = options.fetch === undefined;
    if (!Number.isFinite(this.#maxResponseBytes) || this.#maxResponseBytes < 1) {
      throw new InvalidOptionsError(
        `maxResponseBytes must be a positive number, got ${options.maxResponseBytes}`,
      );
    }
    this.#http = ky.create({
      prefixUrl: base.href,
      retry: 0,
      // ky's timeout ends at the response headers; the deadline in syncBatch also covers the body.
      timeout: false,
      throwHttpErrors: false,
      // A redirected batch would be posted to another host, without its token, and that host's "ok" trusted.
      redirect: 'manual',
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async syncBatch<U extends T>(items: readonly U[], context: SyncBatchContext): Promise<ItemResult<U>[]> {
    const deadline = new Deadline(this.#timeoutMs, context.signal);
    try {
      return await this.#exchange(items, { ...context, signal: deadline.signal }, deadline);
    } catch (error) {
      throw this.#redactedError(error, context.signal);
    } finally {
      deadline.clear();
    }
  }

  async #exchange<U extends T>(
    items: readonly U[],
    context: SyncBatchContext,
    deadline: Deadline,
  ): Promise<ItemResult<U>[]> {
    const body: SyncRequestBody = { batchId: context.batchId, items: [...items] };
    const where = `${this.#printableBase}v1/sync/${encodeURIComponent(context.entityType)}`;
    const response = await this.#send(
      (token) => this.#post(context, body, token),
      { where, method: 'POST', signal: context.signal },
      deadline,
    );
    const status = response.status;
    if (status >= 200 && status < 300)
      return this.#results(items, await this.#readJson(response, context.signal));
    const reply = await this.#readErrorReply(response);
    const what = `Server answered ${status}${reply.detail ? ` (${reply.detail})` : ''}`;
    if (status === 413) return this.#bisect(items, context, deadline, what);
    if (status === 400) {
      const rejects = batchRejects(reply.json, items);
      if (rejects) return this.#resendValid(items, rejects, context, deadline);
    }
    // 422: this batch's content was refused (an Idempotency-Key reused for other items); its items fail.
    if (status === 422) throw new PermanentSyncError(what);
    // 400 for the batch as a whole, 404, 405 and the rest: the endpoint or the request is wrong, for every batch
    // alike. Failing the items would dead-letter the whole outbox over a mistyped URL; stop the run instead.
    throw this.#refused(response, what, { where, method: 'POST', action: `sync "${context.entityType}"` });
  }

  /**
   * One page of the server's change feed: `GET /v1/changes/{entityType}?since&limit&wait` (docs/protocol.md,
   * "Pulling changes"), with the push's hardening: the token and one refresh after a 401, no redirects, the decoded
   * size cap, `timeoutMs` (plus `wait`, which the server may hold the request for) over the whole exchange, every
   * message redacted (the changes are record data and pass on unchanged). `410` with `reset: true` resolves `{ reset: true }`; 408, 429 and 5xx are
   * transient (with `Retry-After`), network errors and timeouts too; 400, 404, 405 and the rest are fatal, naming
   * the URL. A reply that is not a page (not JSON, more changes than `limit`, no checkpoint) is a
   * `MalformedReplyError`; each change inside it is checked by the store when the page is applied. The changes are
   * handed over (`handOverChanges`): a store that applies the page keeps their items as its records, frozen, rather
   * than copies, so a caller that wants to change one copies it first.
   */
  async pullChanges(request: PullRequest): Promise<PullReply> {
    const { limit, wait = 0, since } = request;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidOptionsError(`pullChanges needs a whole number limit of at least 1, got ${limit}`);
    }
    if (typeof wait !== 'number' || !Number.isFinite(wait) || wait < 0 || wait > MAX_WAIT_SECONDS) {
      throw new InvalidOptionsError(
        `pullChanges needs a wait of 0 to ${MAX_WAIT_SECONDS} seconds, got ${wait}`,
      );
    }
    if (since !== undefined && (typeof since !== 'string' || since.length === 0)) {
      throw new InvalidOptionsError('pullChanges needs since to be a checkpoint string, or absent');
    }
    const waitMs = Math.round(wait * 1000);
    const deadline = new Deadline(this.#timeoutMs + waitMs, request.signal);
    try {
      return await this.#pull(request, waitMs, deadline);
    } catch (error) {
      throw this.#redactedError(error, request.signal);
    } finally {
      deadline.clear();
    }
  }

  async #pull(request: PullRequest, waitMs: number, deadline: Deadline): Promise<PullReply> {
    const { entityType, limit, since } = request;
    const signal = deadline.signal;
    const path = `v1/changes/${encodeURIComponent(entityType)}`;
    const query = new URLSearchParams();
    if (since !== undefined) query.set('since', since);
    query.set('limit', String(limit));
    // Whole milliseconds as seconds: at most three decimals, as the protocol allows.
    if (waitMs > 0) query.set('wait', String(waitMs / 1000));
    const where = `${this.#printableBase}${path}`;
    const response = await this.#send(
      (token) => this.#get(path, query, signal, token),
      { where, method: 'GET', signal },
      deadline,
    );
    const status = response.status;
    if (status >= 200 && status < 300) {
      return this.#page(await this.#readJson(response, signal), limit, request.since);
    }
    const reply = await this.#readErrorReply(response);
    if (status === 410 && matches(resetReplyShape, reply.json)) return { reset: true };
    const what = `Server answered ${status}${reply.detail ? ` (${reply.detail})` : ''}`;
    // 400 (a checkpoint this server never wrote, a bad limit), 404, 405, a 410 without reset, and the rest: the
    // endpoint or the request is wrong, and retrying would not change that.
    throw this.#refused(response, what, { where, method: 'GET', action: `pull "${entityType}"` });
  }

  /**
   * A checked page: the wire envelope by schema, then the page rules any remote's reply must keep
   * (`validatePullReply`: no more than `limit` changes, progress when it says `hasMore`); its changes are record
   * data and pass on unchanged (the store's `planPulledPage` checks each one and never quotes a server's text).
   */
  #page(json: unknown, limit: number, since: string | undefined): PullReply {
    const page = expectShape(pullResponseShape, json, 'Server page');
    // Parsed here and held by no one else: a store may keep the items themselves rather than copies.
    handOverChanges(page.changes);
    return validatePullReply(page, limit, since);
  }

  async #get(
    path: string,
    query: URLSearchParams,
    signal: AbortSignal,
    token: string | undefined,
  ): Promise<Response> {
    const authorization = this.#authorization(token);
    try {
      return await this.#http.get(path, {
        searchParams: query,
        signal,
        headers: authorization ? { authorization } : {},
      });
    } catch (error) {
      throw this.#networkError(error, signal);
    }
  }

  /**
   * A batch too large for the server is sent again in halves, so one oversized record fails alone instead of
   * taking its batch with it. The halves get ids derived from the batch id: a retried batch splits the same way,
   * so the server's idempotency still holds.
   */
  async #bisect<U extends T>(
    items: readonly U[],
    context: SyncBatchContext,
    deadline: Deadline,
    what: string,
  ): Promise<ItemResult<U>[]> {
    const [only] = items;
    if (items.length === 1 && only) return [{ id: only.id, status: 'failed', error: what, retryable: false }];
    const middle = Math.ceil(items.length / 2);
    const results: ItemResult<U>[] = [];
    for (const [index, half] of [items.slice(0, middle), items.slice(middle)].entries()) {
      deadline.restart();
      results.push(
        ...(await this.#exchange(half, { ...context, batchId: `${context.batchId}/${index}` }, deadline)),
      );
    }
    return results;
  }

  /**
   * A 400 naming invalid items applied nothing: those items fail for good and the rest go out again at once,
   * under a batch id derived from this one (`{batchId}/valid`), so a retried batch resends the same way.
   */
  async #resendValid<U extends T>(
    items: readonly U[],
    rejects: ReadonlyMap<string, string>,
    context: SyncBatchContext,
    deadline: Deadline,
  ): Promise<ItemResult<U>[]> {
    const failed: ItemResult<U>[] = [];
    const valid: U[] = [];
    for (const item of items) {
      const reason = rejects.get(item.id);
      if (reason === undefined) valid.push(item);
      else failed.push({ id: item.id, status: 'failed', error: this.#reason(reason), retryable: false });
    }
    if (valid.length === 0) return failed;
    deadline.restart();
    const rest = await this.#exchange(valid, { ...context, batchId: `${context.batchId}/valid` }, deadline);
    return [...failed, ...rest];
  }

  /**
   * Sends a request with the current token, and once more with a refreshed one after a 401; a redirect ends the
   * run. The one way every request goes out: push and pull share the token rules and the hardening.
   */
  async #send(
    send: (token: string | undefined) => Promise<Response>,
    request: { where: string; method: 'GET' | 'POST'; signal: AbortSignal },
    deadline: Deadline,
  ): Promise<Response> {
    const { signal } = request;
    // A request leaving while a refresh runs waits for it, rather than going out with the token being replaced.
    if (this.#lastRefresh)
      await abortable(
        this.#lastRefresh.catch(() => {}),
        signal,
      );
    const sentInGeneration = this.#tokenGeneration;
    let response = await send(await abortable(this.#token(false), signal));
    if (response.status === 401 && this.#getToken) {
      await response.body?.cancel();
      deadline.restart();
      response = await send(await abortable(this.#tokenAfter401(sentInGeneration), signal));
    }
    if (response.redirected || (response.status >= 300 && response.status < 400)) {
      await response.body?.cancel();
      throw new FatalSyncError(this.#redirectMessage(response, request.where, request.method));
    }
    return response;
  }

  /**
   * The error for a refusal the caller does not handle itself: 401 and 403 end the run, 408, 429 and 5xx are
   * transient, and anything else means the endpoint or the request is wrong, naming the URL.
   */
  #refused(
    response: Response,
    what: string,
    request: { where: string; method: 'GET' | 'POST'; action: string },
  ): Error {
    const { status } = response;
    if (status === 401) return new FatalSyncError(`Authentication failed: ${what}`);
    if (status === 403) return new FatalSyncError(`Not allowed to ${request.action}: ${what}`);
    if (TRANSIENT_4XX.has(status) || status >= 500) return this.#transient(status, what, response);
    const endpoint = request.method === 'POST' ? 'sync' : 'changes';
    return new FatalSyncError(
      `${what} for ${request.method} ${request.where}: the ${endpoint} endpoint or the request is wrong; check baseUrl and the server`,
    );
  }

  #redirectMessage(response: Response, where: string, method: 'GET' | 'POST'): string {
    const location = response.headers.get('location');
    let target = 'no Location';
    if (response.redirected) target = printableUrl(response.url);
    else if (location !== null) {
      try {
        target = printableUrl(new URL(location, where));
      } catch {
        target = 'an invalid Location';
      }
    }
    return (
      `Server redirected ${method} ${where} (${response.status}) to ${target}: a sync request is never redirected; ` +
      'point baseUrl at the sync server itself'
    );
  }

  /** The current (or refreshed) token; a `getToken` that throws ends the run, its message redacted. */
  async #token(refresh: boolean): Promise<string | undefined> {
    if (!this.#getToken) return undefined;
    let token: unknown;
    try {
      token = await this.#getToken({ refresh });
    } catch (error) {
      throw new FatalSyncError(`getToken failed: ${this.#redactor.redactLoose(errorMessage(error))}`);
    }
    if (token === undefined || token === null || token === '') return undefined;
    if (typeof token !== 'string') {
      throw new FatalSyncError(`Authentication failed: getToken returned a ${typeof token}, not a string`);
    }
    this.#redactor.remember(token);
    return token;
  }

  /**
   * The token to resend with after a 401. One refresh serves every request that was refused with the token it
   * replaced: with two batches in flight both can get a 401, and a rotating refresh token must not be spent twice.
   * A request whose token was read before the latest refresh started shares that refresh's outcome, its failure
   * included, instead of resending a token already known to be stale.
   */
  #tokenAfter401(sentInGeneration: number): Promise<string | undefined> {
    if (this.#tokenGeneration !== sentInGeneration && this.#lastRefresh) return this.#lastRefresh;
    this.#tokenGeneration += 1;
    const refresh = this.#token(true);
    this.#lastRefresh = refresh;
    return refresh;
  }

  /** The Authorization header for a request: the bearer token, else the base URL's Basic credentials, else none. */
  #authorization(token: string | undefined): string | undefined {
    // fetch would refuse it with an error that quotes the header, token included: refuse it without the token.
    if (token && !isHeaderSafe(token)) {
      throw new FatalSyncError(
        'Authentication failed: the token from getToken is not a valid HTTP header value',
      );
    }
    return token ? `Bearer ${token}` : this.#basicAuth;
  }

  async #post(
    context: SyncBatchContext,
    body: SyncRequestBody,
    token: string | undefined,
  ): Promise<Response> {
    const authorization = this.#authorization(token);
    try {
      return await this.#http.post(`v1/sync/${encodeURIComponent(context.entityType)}`, {
        json: body,
        signal: context.signal,
        headers: {
          'idempotency-key': context.batchId,
          ...(authorization ? { authorization } : {}),
        },
      });
    } catch (error) {
      throw this.#networkError(error, context.signal);
    }
  }

  /**
   * A status worth retrying: the server says it is unavailable for now (429, 502, 503, 504: nothing about the
   * request), or something went wrong that the request may have caused (408, 500 and the other 5xx).
   */
  #transient(status: number, what: string, response: Response): TransientSyncError {
    const wait = retryAfterMs(response.headers.get('retry-after'), Date.now(), this.#maxRetryAfterMs);
    const options = wait === undefined ? {} : { retryAfterMs: wait };
    return UNAVAILABLE_STATUSES.has(status)
      ? new RemoteUnavailableError(what, options)
      : new TransientSyncError(what, options);
  }

  /** Maps a transport failure; never includes request headers, so no token can leak. */
  #networkError(error: unknown, signal: AbortSignal): unknown {
    // The caller's abort (cancel, stop) or the deadline's TransientSyncError.
    if (signal.aborted) return signal.reason ?? error;
    if (error instanceof ActorSyncError) return error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? errorMessage(error);
    // The request got no answer at all: the remote is out of reach (offline, refused, reset), not the items' doing.
    return new RemoteUnavailableError(
      `Network error: ${this.#redactor.redact(reason)}${cause === undefined ? inPageHint(error) : ''}`,
    );
  }

  /**
   * Every error leaves with its secrets redacted and without a cause chain (a cause could quote what the message
   * no longer does). The caller's own abort reason is returned as it is.
   */
  #redactedError(error: unknown, outer: AbortSignal): unknown {
    if (outer.aborted && error === outer.reason) return error;
    const message = this.#redactor.redact(errorMessage(error));
    if (error instanceof ActorSyncError && error.cause === undefined && message === error.message)
      return error;
    if (error instanceof TransientSyncError) {
      const options = error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs };
      return error instanceof RemoteUnavailableError
        ? new RemoteUnavailableError(message, options)
        : new TransientSyncError(message, options);
    }
    if (error instanceof FatalSyncError) return new FatalSyncError(message);
    if (error instanceof PermanentSyncError) return new PermanentSyncError(message);
    if (error instanceof MalformedReplyError) return new MalformedReplyError(message);
    // Anything else is unexpected here (a bug or a fetch that throws oddly): retried like a network error.
    return new TransientSyncError(`Unexpected error: ${message}`);
  }

  /** A server's reason for one item: redacted, then kept short, since it is stored in failure records. */
  #reason(text: string): string {
    return clip(this.#redactor.redact(text), MAX_REASON_CHARS);
  }

  async #readJson(response: Response, signal: AbortSignal): Promise<unknown> {
    let text: string;
    try {
      text = await this.#readText(response);
    } catch (error) {
      throw error instanceof MalformedReplyError ? error : this.#networkError(error, signal);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new MalformedReplyError(`Server reply is not valid JSON (${text.length} bytes)`);
    }
  }

  /**
   * Reads the body, refusing one larger than the cap as soon as the decoded bytes pass it. `Content-Length` counts
   * the bytes on the wire, so it bounds the body only when there is no `Content-Encoding`: a gzip reply of 200 KB
   * can inflate to 200 MB.
   */
  async #readText(response: Response): Promise<string> {
    const declared = response.headers.get('content-length');
    const declaredBytes = declared === null ? Number.NaN : Number(declared);
    const identity = isIdentityEncoding(response.headers.get('content-encoding'));
    if (identity && declaredBytes > this.#maxResponseBytes) {
      await response.body?.cancel();
      throw new MalformedReplyError(
        `Server reply of ${declaredBytes} bytes exceeds the ${this.#maxResponseBytes} byte limit`,
      );
    }
    if (!response.body) return '';
    // Unencoded with a declared length (checked against the cap above), the global fetch reads exactly that many
    // bytes, so the body can be read in one call; the chunk loop below, much slower per reply, counts decoded bytes
    // otherwise. Each UTF-16 unit of the text took at least one byte, so a longer text means a longer body anyway.
    if (this.#trustsContentLength && identity && Number.isFinite(declaredBytes)) {
      const text = await response.text();
      if (text.length > this.#maxResponseBytes) throw this.#tooLarge();
      return text;
    }
    // Counted as decoded: a small compressed reply cannot inflate past the cap.
    const text = await readCappedText(response.body, this.#maxResponseBytes);
    if (text === undefined) throw this.#tooLarge();
    return text;
  }

  #tooLarge(): MalformedReplyError {
    return new MalformedReplyError(`Server reply exceeds the ${this.#maxResponseBytes} byte limit`);
  }

  /** An error reply's JSON (for a 400's list of invalid items) and a short reason from it, for the message. */
  async #readErrorReply(response: Response): Promise<{ json?: unknown; detail?: string }> {
    try {
      const json: unknown = JSON.parse(await this.#readText(response));
      const error = (json as { error?: unknown } | null)?.error;
      const detail =
        typeof error === 'string' ? clip(this.#redactor.redact(error), MAX_DETAIL_CHARS) : undefined;
      return detail === undefined ? { json } : { json, detail };
    } catch {
      return {};
    }
  }

  /** The reply decoded (`fromWire`) and checked against the items sent (`validateReply`), in reply order. */
  #results<U extends T>(items: readonly U[], json: unknown): ItemResult<U>[] {
    const decoded = fromWire<U>(json, new Set(items.map((item) => item.id)), this.#redactor);
    return [...validateReply(items, decoded).values()];
  }
}

/** The base URL, or an `InvalidOptionsError` that does not quote it (it may carry credentials). */
function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidOptionsError('baseUrl is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionsError(`baseUrl must be an http: or https: URL, got ${url.protocol}`);
  }
  // The sync path is appended to the base URL, so a query or fragment would swallow it.
  if (url.search || url.hash) {
    throw new InvalidOptionsError(`baseUrl ${printableUrl(url)} must not have a query or fragment`);
  }
  return url;
}

function decodeUserinfo(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** A millisecond option: finite, at least `least`; above what a timer can wait it is capped. */
function checkedMs(name: string, value: number | undefined, fallback: number, least: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
    throw new InvalidOptionsError(`${name} must be a finite number of at least ${least}, got ${value}`);
  }
  return Math.min(value, MAX_TIMER_DELAY_MS);
}

/** Whether the body arrives as sent: no `Content-Encoding`, or `identity`. */
function isIdentityEncoding(header: string | null): boolean {
  return header === null || header.trim() === '' || header.trim().toLowerCase() === 'identity';
}

/**
 * `work`, or a rejection with the signal's reason as soon as it aborts: a `getToken` that hangs holds neither a
 * cancelled or stopped run nor a request past its deadline.
 */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Whether fetch accepts `text` in a header value: no NUL, CR or LF, and nothing beyond Latin-1. */
function isHeaderSafe(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code === 0 || code === 10 || code === 13 || code > 255) return false;
  }
  return true;
}

/**
 * Aborts `signal` when the caller's signal aborts, or with a `TransientSyncError` once `ms` pass without a
 * `restart()`: a reply whose body stalls or trickles is abandoned like one that never starts. (A plain listener,
 * not `AbortSignal.any`, which costs more per request and keeps composite signals alive until collected.)
 */
class Deadline {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  readonly #ms: number;
  readonly #outer: AbortSignal;
  readonly #onOuterAbort = () => this.#controller.abort(this.#outer.reason);
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number, outer: AbortSignal) {
    this.#ms = ms;
    this.#outer = outer;
    if (outer.aborted) this.#onOuterAbort();
    else outer.addEventListener('abort', this.#onOuterAbort, { once: true });
    this.restart();
  }

  restart(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => this.#controller.abort(new TransientSyncError(`No reply within ${this.#ms} ms`)),
      clampDelay(this.#ms),
    );
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#outer.removeEventListener('abort', this.#onOuterAbort);
  }
}

/**
 * A browser's fetch rejects with a bare TypeError ("Failed to fetch", "Load failed", …) for every way a request
 * can fail, a refused CORS origin included, which would read like being offline: say which cases it may be.
 */
function inPageHint(error: unknown): string {
  if (!(error instanceof TypeError) || typeof document === 'undefined') return '';
  if (globalThis.navigator?.onLine === false) return ' (the browser is offline)';
  return (
    " (the browser gives no reason: the server is down or unreachable, or it refuses this page's origin: " +
    'CORS; the server says which origin it refused)'
  );
}
