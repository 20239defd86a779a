import ky, { type KyInstance } from 'ky';
import * as v from 'valibot';
import {
  errorMessage,
  FatalSyncError,
  MalformedReplyError,
  PermanentSyncError,
  TransientSyncError,
} from '../domain/errors.js';
import type { ItemResult, RemoteDataSource, RepositoryEntity, SyncBatchContext } from '../domain/types.js';
import { describeIssues, type SyncRequestBody, syncResponseSchema } from './wire.js';

export interface HttpRemoteOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /**
   * Supplies the bearer token. Called with `refresh: true` once after a 401, to get a fresh one; the batch is then
   * sent again once. With `refresh: false` it returns the current token, which after a refresh is the refreshed
   * one. Requests refused with the same token (two batches in flight) share one refresh and its outcome; a request
   * leaving while a refresh runs waits for it. Tokens never appear in errors, logs or progress.
   */
  getToken?: (options: { refresh: boolean }) => string | undefined | Promise<string | undefined>;
  /** Per request, reading the reply included. Default 10,000. */
  timeoutMs?: number;
  /** Largest reply accepted. Default 16 MiB. */
  maxResponseBytes?: number;
  /** Longest Retry-After honoured. Default 300,000 (5 minutes). */
  maxRetryAfterMs?: number;
  /** A fetch implementation (tests, proxies). Default the global one. */
  fetch?: typeof fetch;
}

/**
 * The remote end over HTTP (docs/protocol.md): one `POST /v1/sync/{entityType}` per batch, the batch id as the
 * `Idempotency-Key`. Classifies every failure for the batch machine, which owns retries (ky's are off).
 */
export class HttpRemoteDataSource<T extends RepositoryEntity = RepositoryEntity>
  implements RemoteDataSource<T>
{
  readonly #http: KyInstance;
  readonly #getToken: HttpRemoteOptions['getToken'];
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #maxRetryAfterMs: number;
  /** Bumped when a refresh starts: a 401 to a request whose token was read before it needs no refresh of its own. */
  #tokenGeneration = 0;
  /** The latest refresh (running or done): what a request refused with an older token resends with. */
  #lastRefresh: Promise<string | undefined> | undefined;

  constructor(options: HttpRemoteOptions) {
    const base = new URL(options.baseUrl);
    this.#getToken = options.getToken;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 300_000;
    this.#http = ky.create({
      prefixUrl: base.href,
      retry: 0,
      // ky's timeout ends at the response headers; the deadline in syncBatch also covers the body.
      timeout: false,
      throwHttpErrors: false,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async syncBatch(items: readonly T[], context: SyncBatchContext): Promise<ItemResult<T>[]> {
    const deadline = new Deadline(this.#timeoutMs, context.signal);
    try {
      return await this.#exchange(items, { ...context, signal: deadline.signal }, deadline);
    } finally {
      deadline.clear();
    }
  }

  async #exchange(
    items: readonly T[],
    context: SyncBatchContext,
    deadline: Deadline,
  ): Promise<ItemResult<T>[]> {
    const body: SyncRequestBody = { batchId: context.batchId, items: [...items] };
    // A request leaving while a refresh runs waits for it, rather than going out with the token being replaced.
    if (this.#lastRefresh)
      await abortable(
        this.#lastRefresh.catch(() => {}),
        context.signal,
      );
    const sentInGeneration = this.#tokenGeneration;
    let response = await this.#post(context, body, await abortable(this.#token(false), context.signal));
    if (response.status === 401 && this.#getToken) {
      await response.body?.cancel();
      deadline.restart();
      const token = await abortable(this.#tokenAfter401(sentInGeneration), context.signal);
      response = await this.#post(context, body, token);
    }
    const status = response.status;
    if (status === 200) return this.#results(items, await this.#readJson(response, context));
    const detail = await this.#readDetail(response);
    const what = `Server answered ${status}${detail ? ` (${detail})` : ''}`;
    if (status === 413) return this.#bisect(items, context, deadline, what);
    if (status === 401) throw new FatalSyncError(`Authentication failed: ${what}`);
    if (status === 403) throw new FatalSyncError(`Not allowed to sync "${context.entityType}": ${what}`);
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfterMs = this.#retryAfter(response.headers.get('retry-after'));
      throw new TransientSyncError(what, retryAfterMs === undefined ? {} : { retryAfterMs });
    }
    // 400, 422 and the rest of 4xx: sending the same batch again would get the same answer.
    throw new PermanentSyncError(what);
  }

  /**
   * A batch too large for the server is sent again in halves, so one oversized record fails alone instead of
   * taking its batch with it. The halves get ids derived from the batch id: a retried batch splits the same way,
   * so the server's idempotency still holds.
   */
  async #bisect(
    items: readonly T[],
    context: SyncBatchContext,
    deadline: Deadline,
    what: string,
  ): Promise<ItemResult<T>[]> {
    const [only] = items;
    if (items.length === 1 && only) return [{ id: only.id, status: 'failed', error: what, retryable: false }];
    const middle = Math.ceil(items.length / 2);
    const results: ItemResult<T>[] = [];
    for (const [index, half] of [items.slice(0, middle), items.slice(middle)].entries()) {
      deadline.restart();
      results.push(
        ...(await this.#exchange(half, { ...context, batchId: `${context.batchId}/${index}` }, deadline)),
      );
    }
    return results;
  }

  async #token(refresh: boolean): Promise<string | undefined> {
    return this.#getToken ? this.#getToken({ refresh }) : undefined;
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
    const refresh = (async () => this.#token(true))();
    this.#lastRefresh = refresh;
    return refresh;
  }

  async #post(
    context: SyncBatchContext,
    body: SyncRequestBody,
    token: string | undefined,
  ): Promise<Response> {
    // fetch would refuse it with an error that quotes the header, token included: refuse it without the token.
    if (token && !isHeaderSafe(token)) {
      throw new FatalSyncError(
        'Authentication failed: the token from getToken is not a valid HTTP header value',
      );
    }
    try {
      return await this.#http.post(`v1/sync/${encodeURIComponent(context.entityType)}`, {
        json: body,
        signal: context.signal,
        headers: {
          'idempotency-key': context.batchId,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      });
    } catch (error) {
      throw this.#networkError(error, context.signal);
    }
  }

  /** Maps a transport failure; never includes request headers, so no token can leak. */
  #networkError(error: unknown, signal: AbortSignal): unknown {
    // The caller's abort (cancel, stop) or the deadline's TransientSyncError.
    if (signal.aborted) return signal.reason ?? error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? errorMessage(error);
    return new TransientSyncError(`Network error: ${reason}`);
  }

  async #readJson(response: Response, context: SyncBatchContext): Promise<unknown> {
    let text: string;
    try {
      text = await this.#readText(response);
    } catch (error) {
      throw error instanceof MalformedReplyError ? error : this.#networkError(error, context.signal);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new MalformedReplyError(`Server reply is not valid JSON (${text.length} bytes)`);
    }
  }

  /** Reads the body, refusing one larger than the cap instead of buffering it. */
  async #readText(response: Response): Promise<string> {
    const declared = Number(response.headers.get('content-length'));
    if (declared > this.#maxResponseBytes) {
      await response.body?.cancel();
      throw new MalformedReplyError(
        `Server reply of ${declared} bytes exceeds the ${this.#maxResponseBytes} byte limit`,
      );
    }
    if (!response.body) return '';
    // With a declared length (checked against the cap above) fetch reads exactly that many bytes, so the body can
    // be read in one call; the chunk loop below, much slower per reply, is for replies without one.
    if (response.headers.get('content-length') !== null && Number.isFinite(declared)) return response.text();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > this.#maxResponseBytes) {
        throw new MalformedReplyError(`Server reply exceeds the ${this.#maxResponseBytes} byte limit`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** A short reason from an error reply, for the message. */
  async #readDetail(response: Response): Promise<string | undefined> {
    try {
      const text = (await this.#readText(response)).slice(0, 500);
      const parsed = JSON.parse(text) as { error?: unknown };
      return typeof parsed.error === 'string' ? parsed.error.slice(0, 200) : undefined;
    } catch {
      return undefined;
    }
  }

  #results(items: readonly T[], json: unknown): ItemResult<T>[] {
    const parsed = v.safeParse(syncResponseSchema, json);
    if (!parsed.success) {
      throw new MalformedReplyError(
        `Server reply does not match the protocol: ${describeIssues(parsed.issues)}`,
      );
    }
    const sent = new Map(items.map((item) => [item.id, item.version]));
    return parsed.output.results.map((result): ItemResult<T> => {
      if (result.status === 'ok') {
        const version = sent.get(result.id);
        // Only the exact version sent may be marked synced.
        if (version !== undefined && result.version !== version) {
          throw new MalformedReplyError(
            `Server acknowledged version ${result.version} of "${result.id}", but version ${version} was sent`,
          );
        }
        return { id: result.id, status: 'ok' };
      }
      if (result.status === 'conflict')
        return { id: result.id, status: 'conflict', remote: result.remote as unknown as T };
      return { id: result.id, status: 'failed', error: result.reason, retryable: result.retryable };
    });
  }

  #retryAfter(header: string | null): number | undefined {
    if (!header) return undefined;
    const seconds = Number(header);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    if (!Number.isFinite(ms) || ms < 0) return undefined;
    return Math.min(ms, this.#maxRetryAfterMs);
  }
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
  #timer: NodeJS.Timeout | undefined;

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
      this.#ms,
    );
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#outer.removeEventListener('abort', this.#onOuterAbort);
  }
}
