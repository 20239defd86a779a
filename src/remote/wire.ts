import {
  anyNumber,
  array,
  boolean,
  describeMismatch,
  matches,
  number,
  object,
  oneOf,
  optional,
  type Shape,
  string,
  variant,
} from '../core/shape.js';
import { MAX_CHECKPOINT_CHARS } from '../domain/entity.js';
import { MalformedReplyError } from '../domain/errors.js';
import type { ItemResult, RepositoryEntity } from '../domain/types.js';

/** The body of `POST /v1/sync/{entityType}` (see docs/protocol.md). */
export interface SyncRequestBody {
  batchId: string;
  items: unknown[];
}

/** One item's result on the wire. */
export type WireResult =
  | { id: string; status: 'ok'; version: number }
  | { id: string; status: 'conflict'; remote: { id: string; version: number; [field: string]: unknown } }
  | { id: string; status: 'rejected'; reason: string; retryable: boolean };

export interface SyncResponseBody {
  results: WireResult[];
}

const ok = object({ id: string(), status: oneOf('ok'), version: number });
const conflict = object({
  id: string(),
  status: oneOf('conflict'),
  // The copy's version is checked with the copy (adoptRemoteRecord): a 1e999 fails that item, not the reply.
  remote: object({ id: string(), version: anyNumber }),
});
const rejected = object({
  id: string(),
  status: oneOf('rejected'),
  reason: string(),
  retryable: optional(boolean),
});

/** What a server must answer with; anything else is a malformed reply. */
export const syncResponseShape = object({
  results: array(variant('status', { ok, conflict, rejected })),
});

/**
 * The body of `GET /v1/changes/{entityType}` (docs/protocol.md, "Pulling changes"), as a whole. Each change only
 * has to be an object here (a page holding anything else, an array included, is malformed): an object that is not
 * a valid change is refused on its own by the store's `planPulledPage` (and reported), rather than failing every
 * page after it forever.
 */
export const pullResponseShape = object({
  changes: array(object({})),
  checkpoint: string(1, MAX_CHECKPOINT_CHARS),
  hasMore: boolean,
});

/** The body of a 410 that means "pull again from the beginning". */
export const resetReplyShape = object({ reset: oneOf(true) });

/**
 * The server's half of the codec: one item's result as it goes on the wire (`failed`/`error` become
 * `rejected`/`reason`; an acknowledgement names the version it applied).
 */
export function toWire(result: ItemResult, sentVersion: number): WireResult {
  if (result.status === 'ok') return { id: result.id, status: 'ok', version: sentVersion };
  if (result.status === 'conflict')
    return { id: result.id, status: 'conflict', remote: { ...result.remote } };
  return { id: result.id, status: 'rejected', reason: result.error, retryable: result.retryable };
}

/**
 * What the client's half needs to keep a server's text out of messages. Only messages: a conflict's copy is record
 * data and is never rewritten (docs/protocol.md, "A server copy before it becomes a local record").
 */
export interface WireTextFilter {
  /** Redacts every secret the remote has seen. */
  redact(text: string): string;
}

/**
 * The client's half of the codec: a reply body decoded into item results. Only the shape is checked here (anything
 * else is a `MalformedReplyError`); whether the results match the batch that was sent (ids, repeats, the version
 * acknowledged) is `validateReply`'s, the one check for every remote (src/protocol/reply.ts). Ids that were not sent
 * are the server's text and leave redacted, like reasons. A conflict's copy leaves as the server sent it: it may
 * become the local record, and data rewritten here would be stored as synced while the server holds other content.
 */
export function fromWire<T extends RepositoryEntity>(
  json: unknown,
  sentIds: ReadonlySet<string>,
  filter: WireTextFilter,
): ItemResult<T>[] {
  const { results } = expectShape(syncResponseShape, json, 'Server reply');
  return results.map((result): ItemResult<T> => {
    const id = sentIds.has(result.id) ? result.id : filter.redact(result.id);
    if (result.status === 'ok') return { id, status: 'ok', version: result.version };
    // The server's copy may become the local record: data, passed on unchanged. Whatever refuses it (the copy
    // checks, adoptRemoteRecord) describes it without quoting it.
    if (result.status === 'conflict')
      return { id, status: 'conflict', remote: result.remote as unknown as T };
    return {
      id,
      status: 'failed',
      error: clip(filter.redact(result.reason), MAX_REASON_CHARS),
      retryable: result.retryable ?? false,
    };
  });
}

/**
 * `json` as `shape` describes it, or a `MalformedReplyError` that names the field and what was expected (never the
 * value: the server's text stays out of messages); `what` names the reply.
 */
export function expectShape<T>(shape: Shape<T>, json: unknown, what: string): T {
  const mismatch = shape(json);
  if (mismatch)
    throw new MalformedReplyError(`${what} does not match the protocol: ${describeMismatch(mismatch)}`);
  return json as T;
}

/** The longest item reason kept from a reply: reasons end up in failure records on disk. */
export const MAX_REASON_CHARS = 500;

/** The longest batch-level `{"error"}` text of an error reply kept for a message. */
export const MAX_DETAIL_CHARS = 200;

/**
 * `text` cut to `max` characters, marked with `…` when cut. Only for text already redacted: a secret cut short no
 * longer matches what a redactor looks for whole.
 */
export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * The body of a 400 that names invalid items: `{ "rejected": [{ "id", "error" }, …] }`. Such a server applied
 * nothing of the batch; the client fails those items and sends the rest again.
 */
const batchRejectShape = object({ rejected: array(object({ id: string(), error: optional(string()) }), 1) });

/**
 * The invalid items a 400 reply names (id → reason), or `undefined` when it names none, an id twice or an id not
 * in the batch: then the request as a whole was refused.
 */
export function batchRejects(
  json: unknown,
  items: readonly { id: string }[],
): ReadonlyMap<string, string> | undefined {
  if (!matches(batchRejectShape, json)) return undefined;
  const sent = new Set(items.map((item) => item.id));
  const rejects = new Map<string, string>();
  for (const { id, error } of json.rejected) {
    if (!sent.has(id) || rejects.has(id)) return undefined;
    rejects.set(id, error || 'Rejected by the server as invalid (400)');
  }
  return rejects;
}

/**
 * A `Retry-After` header (whole seconds or an HTTP date) as a wait in ms, capped at `maxMs`; `undefined` for a
 * missing, negative, past or unreadable one, which then leaves the wait to the backoff.
 */
export function retryAfterMs(header: string | null, now: number, maxMs: number): number | undefined {
  const value = header?.trim();
  if (!value) return undefined;
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  // HTTP dates, all three RFC 9110 forms, start with the day name; Date.parse would read "-5" or "12" as a year.
  else if (/^[A-Za-z]{3}/.test(value)) ms = Date.parse(value) - now;
  else return undefined;
  if (!Number.isFinite(ms) && ms !== Number.POSITIVE_INFINITY) return undefined;
  if (ms < 0) return undefined;
  return Math.min(ms, maxMs);
}
