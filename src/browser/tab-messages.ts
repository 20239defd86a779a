import * as v from 'valibot';
import type { SyncProgress, SyncResult } from '../domain/types.js';

/**
 * What tabs of one app say to each other over their channel (docs/browser.md, "One syncing tab"). Every message
 * names its version and its sender; one for one tab names it in `to`. None carries a token or a record: progress
 * and results are counts, states and redacted messages, and a failed item is its id and reason.
 */
export const TAB_MESSAGE_VERSION = 1;

/** A tab id, a request id, an entity type name: short text. */
const name = v.pipe(v.string(), v.minLength(1), v.maxLength(200));
const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const text = v.pipe(v.string(), v.maxLength(10_000));
const state = v.picklist(['idle', 'syncing', 'synced', 'error']);
const phase = v.picklist(['push', 'pull']);
/** Lists are capped: a result lists at most 1,000 failures (`MAX_LISTED_FAILURES`), and no app has more types. */
const listOf = <T extends v.GenericSchema>(item: T) => v.pipe(v.array(item), v.maxLength(1_000));

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
  phase: v.optional(phase),
  errorMessage: v.optional(text),
  errorCode: v.optional(name),
  lastError: v.optional(text),
  nextRetryAt: v.optional(v.number()),
  cancelled: v.boolean(),
};

const progress = v.object({
  ...counts,
  percent: v.pipe(v.number(), v.minValue(0), v.maxValue(100)),
  isComplete: v.boolean(),
});

const result = v.object({
  ...counts,
  failures: listOf(v.object({ id: name, error: text, attempts: count, deadLettered: v.boolean() })),
  refused: listOf(v.object({ id: name, error: text, kind: v.picklist(['invalid', 'unresolved']) })),
  durationMs: v.pipe(v.number(), v.minValue(0)),
});

const base = { v: v.literal(TAB_MESSAGE_VERSION), from: name };
const types = listOf(name);

const tabMessageSchema = v.variant('kind', [
  /** The leader is alive; `syncing` lists the types with a run active. Every `heartbeatIntervalMs`. */
  v.object({ ...base, kind: v.literal('heartbeat'), syncing: types }),
  /** The leader's progress, as its coordinator published it. */
  v.object({ ...base, kind: v.literal('progress'), progress }),
  /** A tab that just started asks the leader for the latest progress of every type. */
  v.object({ ...base, kind: v.literal('progress-request') }),
  /** The leader's answer to `progress-request`. */
  v.object({
    ...base,
    kind: v.literal('progress-snapshot'),
    to: name,
    progress: listOf(progress),
    syncing: types,
  }),
  /** A follower asks the leader to sync one type, or every type (`entityType` absent). */
  v.object({ ...base, kind: v.literal('sync-request'), requestId: name, entityType: v.optional(name) }),
  /** The leader has the request and will answer it while it stays leader. */
  v.object({ ...base, kind: v.literal('sync-accepted'), to: name, requestId: name }),
  /** The leader's answer: the results of the runs that covered the request. */
  v.object({ ...base, kind: v.literal('sync-reply'), to: name, requestId: name, results: listOf(result) }),
  /** The leader could not run the request (an unknown type, say): the error's code and message. */
  v.object({
    ...base,
    kind: v.literal('sync-failed'),
    to: name,
    requestId: name,
    error: v.object({ code: name, message: text }),
  }),
  /** A follower saved local changes of a type: the leader queues a sync of it. */
  v.object({ ...base, kind: v.literal('local-change'), entityType: name }),
]);

export type TabMessage = v.InferOutput<typeof tabMessageSchema>;
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
  const parsed = v.safeParse(tabMessageSchema, data);
  return parsed.success ? parsed.output : undefined;
}

// The schemas above must describe exactly what the coordinator publishes: these fail to compile if a field of
// `SyncProgress` or `SyncResult` is added that the messages would drop or mistype.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const progressMatches: Exact<v.InferOutput<typeof progress>, SyncProgress> = true;
const resultMatches: Exact<v.InferOutput<typeof result>, SyncResult> = true;
void progressMatches;
void resultMatches;
