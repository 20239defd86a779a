import {
  array,
  boolean,
  integer,
  number,
  object,
  oneOf,
  optional,
  parse,
  range,
  type Shape,
  type ShapeOf,
  string,
  variant,
} from '../core/shape.js';
import type { SyncProgress, SyncResult } from '../domain/types.js';

/**
 * What tabs of one app say to each other over their channel (docs/browser.md, "One syncing tab"). Every message
 * names its version and its sender; one for one tab names it in `to`. None carries a token or a record: progress
 * and results are counts, states and redacted messages, and a failed item is its id and reason.
 */
export const TAB_MESSAGE_VERSION = 1;

/** A tab id, a request id, an entity type name: short text. */
const name = string(1, 200);
const count = integer(0);
const text = string(0, 10_000);
const state = oneOf('idle', 'syncing', 'synced', 'error');
const phase = oneOf('push', 'pull');
/** Lists are capped: a result lists at most 1,000 failures (`MAX_LISTED_FAILURES`), and no app has more types. */
const listOf = <T>(item: Shape<T>) => array(item, 0, 1_000);

const counts = {
  entityType: name,
  state,
  runId: count,
  totalItems: count,
  syncedItems: count,
  failedItems: count,
  conflicts: count,
  retries: count,
  pulledItems: count,
  deletedItems: count,
  refusedItems: count,
  resets: count,
  phase: optional(phase),
  errorMessage: optional(text),
  errorCode: optional(name),
  lastError: optional(text),
  nextRetryAt: optional(number),
  cancelled: boolean,
};

const progress = object({
  ...counts,
  percent: range(0, 100),
  isComplete: boolean,
});

const result = object({
  ...counts,
  failures: listOf(object({ id: name, error: text, attempts: count, deadLettered: boolean })),
  refused: listOf(object({ id: name, error: text, kind: oneOf('invalid', 'unresolved') })),
  durationMs: range(0),
});

const base = { v: oneOf(TAB_MESSAGE_VERSION), from: name };
const types = listOf(name);

const tabMessageShape = variant('kind', {
  /** The leader is alive; `syncing` lists the types with a run active. Every `heartbeatIntervalMs`. */
  heartbeat: object({ ...base, kind: oneOf('heartbeat'), syncing: types }),
  /** The leader's progress, as its coordinator published it. */
  progress: object({ ...base, kind: oneOf('progress'), progress }),
  /** A tab that just started asks the leader for the latest progress of every type. */
  'progress-request': object({ ...base, kind: oneOf('progress-request') }),
  /** The leader's answer to `progress-request`. */
  'progress-snapshot': object({
    ...base,
    kind: oneOf('progress-snapshot'),
    to: name,
    progress: listOf(progress),
    syncing: types,
  }),
  /** A follower asks the leader to sync one type, or every type (`entityType` absent). */
  'sync-request': object({
    ...base,
    kind: oneOf('sync-request'),
    requestId: name,
    entityType: optional(name),
  }),
  /** The leader has the request and will answer it while it stays leader. */
  'sync-accepted': object({ ...base, kind: oneOf('sync-accepted'), to: name, requestId: name }),
  /** The leader's answer: the results of the runs that covered the request. */
  'sync-reply': object({
    ...base,
    kind: oneOf('sync-reply'),
    to: name,
    requestId: name,
    results: listOf(result),
  }),
  /** The leader could not run the request (an unknown type, say): the error's code and message. */
  'sync-failed': object({
    ...base,
    kind: oneOf('sync-failed'),
    to: name,
    requestId: name,
    error: object({ code: name, message: text }),
  }),
  /** A follower saved local changes of a type: the leader queues a sync of it. */
  'local-change': object({ ...base, kind: oneOf('local-change'), entityType: name }),
});

export type TabMessage = ShapeOf<typeof tabMessageShape>;
export type TabMessageKind = TabMessage['kind'];

/** A message with its version and sender filled in by the sending tab. */
export type OutgoingTabMessage = TabMessage extends infer M
  ? M extends TabMessage
    ? Omit<M, 'v' | 'from'>
    : never
  : never;

/**
 * A message received from the channel, checked against the schema; `undefined` for anything else (another version,
 * an unknown kind, a missing or ill-typed field). Unknown fields are dropped. Progress and results come out typed as
 * the coordinator's own (`SyncProgress`, `SyncResult`).
 */
export function parseTabMessage(data: unknown): TabMessage | undefined {
  return parse(tabMessageShape, data);
}

// The schemas above must describe exactly what the coordinator publishes: these fail to compile if a field of
// `SyncProgress` or `SyncResult` is added that the messages would drop or mistype.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const progressMatches: Exact<ShapeOf<typeof progress>, SyncProgress> = true;
const resultMatches: Exact<ShapeOf<typeof result>, SyncResult> = true;
void progressMatches;
void resultMatches;
