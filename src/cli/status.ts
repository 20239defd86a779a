import { isEntityTypeName } from '../domain/names.js';
import type { FailureRecord, OutboxSnapshot } from '../domain/types.js';
import type { LowdbLocalStore } from '../store/lowdb-store.js';
import { openExistingStore, withStore } from './store-file.js';
import { formatCount, formatDuration, formatTable, plural } from './table.js';

/** The sync state of one entity type in a store. */
export interface TypeStatus {
  entityType: string;
  records: number;
  pending: number;
  dueNow: number;
  /** Failed records whose next attempt is still ahead (see `countFailures`). */
  waiting: number;
  /** Failed records whose next attempt has come: part of `dueNow`. */
  dueAgain: number;
  deadLettered: number;
  nextRetryAt: number | undefined;
  /** Failure records: scheduled retries first, then dead letters. */
  failures: readonly FailureRecord[];
}

/**
 * `actorsync status --json`: a stable shape for scripts. Times are ISO 8601 strings, absent ones `null`; new
 * fields may be added, existing ones keep their meaning while `version` is 1.
 */
export interface StatusReport {
  format: 'actorsync-status';
  version: 1;
  /** The store file, as an absolute path. */
  store: string;
  /** When the report was made: "due now" and "waiting" are relative to it. */
  at: string;
  entityTypes: EntityTypeStatusJson[];
}

export interface EntityTypeStatusJson {
  entityType: string;
  records: number;
  /** Not yet acknowledged by the server: due now, waiting for a retry and dead letters. */
  pending: number;
  dueNow: number;
  waitingForRetry: number;
  deadLettered: number;
  /** When the first record waiting for a retry becomes due. */
  nextRetryAt: string | null;
  /** Every failure record: scheduled retries first, then dead letters. */
  failures: FailureJson[];
}

export interface FailureJson {
  id: string;
  /** The version that failed; a newer local edit makes the record due again at once. */
  version: number;
  /** Runs this version failed in. */
  attempts: number;
  deadLettered: boolean;
  /** The last error, as the server or the network gave it. */
  error: string;
  failedAt: string;
  /** When a run may try again; `null` for a dead letter. */
  nextAttemptAt: string | null;
}

/** Failures listed per entity type in the text output; `--json` lists them all. */
const LISTED_FAILURES = 20;

/** Prints each entity type's outbox and its failures. Opens the store read-only: nothing is written. */
export async function runStatus(options: { db: string; json?: boolean }): Promise<number> {
  return withStore(
    () => openExistingStore(options.db, { readOnly: true }),
    async (store) => {
      const now = Date.now();
      const statuses = await readStatuses(store, now);
      if (options.json) {
        process.stdout.write(`${JSON.stringify(statusReport(store.file, statuses, now), null, 2)}\n`);
        return 0;
      }
      console.log(`Store ${store.file}`);
      for (const line of formatStatus(statuses, now)) console.log(line);
      for (const line of formatFailures(statuses, store.file, now)) console.log(line);
      return 0;
    },
  );
}

export function readStatuses(store: LowdbLocalStore, now: number): Promise<TypeStatus[]> {
  return Promise.all(store.entityTypes.map((entityType) => readTypeStatus(store, entityType, now)));
}

export async function readTypeStatus(
  store: LowdbLocalStore,
  entityType: string,
  now: number,
): Promise<TypeStatus> {
  const collection = store.collection(entityType);
  const [records, outbox, failures] = await Promise.all([
    collection.getAll(),
    collection.outbox(now),
    collection.failures(),
  ]);
  return typeStatus(entityType, records.length, outbox, failures, now);
}

export function typeStatus(
  entityType: string,
  records: number,
  outbox: OutboxSnapshot,
  failures: readonly FailureRecord[],
  now: number,
): TypeStatus {
  return {
    entityType,
    records,
    pending: outbox.pending,
    dueNow: outbox.total,
    ...countFailures(failures, now),
    nextRetryAt: outbox.nextDueAt,
    failures,
  };
}

/**
 * The one place failure records are counted, so `status`, `status --json` and what `sync` says is left over agree:
 * a failure is waiting only while its next attempt is still ahead; once due it counts as due now, like any
 * pending record (the outbox includes it), and is neither waiting nor dead.
 */
export function countFailures(
  failures: readonly FailureRecord[],
  now: number,
): { waiting: number; dueAgain: number; deadLettered: number } {
  let waiting = 0;
  let deadLettered = 0;
  for (const failure of failures) {
    if (failure.deadLettered) deadLettered += 1;
    else if ((failure.nextAttemptAt ?? 0) > now) waiting += 1;
  }
  return { waiting, dueAgain: failures.length - waiting - deadLettered, deadLettered };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function statusReport(store: string, statuses: readonly TypeStatus[], now: number): StatusReport {
  return {
    format: 'actorsync-status',
    version: 1,
    store,
    at: new Date(now).toISOString(),
    entityTypes: statuses.map((s) => ({
      entityType: s.entityType,
      records: s.records,
      pending: s.pending,
      dueNow: s.dueNow,
      waitingForRetry: s.waiting,
      deadLettered: s.deadLettered,
      nextRetryAt: iso(s.nextRetryAt),
      failures: s.failures.map((f) => ({
        id: f.id,
        version: f.version,
        attempts: f.attempts,
        deadLettered: f.deadLettered,
        error: f.lastError,
        failedAt: new Date(f.failedAt).toISOString(),
        nextAttemptAt: f.deadLettered ? null : iso(f.nextAttemptAt),
      })),
    })),
  };
}

export function formatStatus(statuses: readonly TypeStatus[], now: number): string[] {
  if (statuses.length === 0) return ['  (no records)'];
  const right = (header: string) => ({ header, align: 'right' as const });
  const rows = statuses.map((s) => [
    printableName(s.entityType),
    formatCount(s.records),
    formatCount(s.pending),
    formatCount(s.dueNow),
    formatCount(s.waiting),
    formatCount(s.deadLettered),
    s.nextRetryAt === undefined
      ? '-'
      : `${new Date(s.nextRetryAt).toISOString()} (in ${formatDuration(Math.max(0, s.nextRetryAt - now))})`,
  ]);
  const table = formatTable(
    [
      { header: 'entity type' },
      right('records'),
      right('pending'),
      right('due now'),
      right('waiting for retry'),
      right('dead-lettered'),
      { header: 'next retry' },
    ],
    rows,
  );
  return table.map((line) => `  ${line}`);
}

/** The failure records of each type with their reasons, and how to re-queue them. */
export function formatFailures(statuses: readonly TypeStatus[], storeFile: string, now: number): string[] {
  const lines: string[] = [];
  for (const s of statuses) {
    if (s.failures.length === 0) continue;
    lines.push('', `  ${printableName(s.entityType)}: ${describeCounts(s)}`);
    for (const failure of s.failures.slice(0, LISTED_FAILURES))
      lines.push(`    ${describeFailure(failure, now)}`);
    if (s.failures.length > LISTED_FAILURES) {
      lines.push(
        `    … and ${formatCount(s.failures.length - LISTED_FAILURES)} more (--json lists every one)`,
      );
    }
    lines.push(`    Re-queue them: ${retryFailedCommand(storeFile, s.entityType)}`);
  }
  return lines;
}

function describeCounts(status: TypeStatus): string {
  const parts = [];
  if (status.deadLettered > 0) parts.push(`${formatCount(status.deadLettered)} dead-lettered`);
  if (status.waiting > 0) parts.push(`${formatCount(status.waiting)} waiting for a retry`);
  if (status.dueAgain > 0) parts.push(`${formatCount(status.dueAgain)} due again now`);
  return parts.join(', ');
}

function describeFailure(failure: FailureRecord, now: number): string {
  const runs = plural(failure.attempts, 'failed run');
  const when =
    failure.deadLettered || failure.nextAttemptAt === undefined
      ? `dead-lettered after ${runs}`
      : failure.nextAttemptAt > now
        ? `retried from ${new Date(failure.nextAttemptAt).toISOString()} (${runs})`
        : `due again now (${runs})`;
  return `${failure.deadLettered ? '✘' : '↻'} ${failure.id} v${failure.version}  ${when}: ${oneLine(failure.lastError)}`;
}

function oneLine(text: string, max = 200): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The command that re-queues one type's failures, for the user to paste. */
export function retryFailedCommand(storeFile: string, entityType: string): string {
  return `actorsync retry-failed --db ${shellWord(storeFile)} --entity ${shellWord(entityType)}`;
}

/** Quotes a word for a POSIX shell only when it needs it. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * An entity-type name as one safe token: a store written by an earlier version may hold names with spaces, control
 * characters or none at all, which would break the table or the terminal; those are shown quoted and escaped.
 */
export function printableName(name: string): string {
  return isEntityTypeName(name) ? name : JSON.stringify(name);
}
