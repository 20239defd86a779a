import type { FailureRecord, OutboxSnapshot } from '../domain/types.js';
import { openExistingStore } from './store-file.js';
import { formatCount, formatDuration, formatTable } from './table.js';

/** The sync state of one entity type in a store. */
export interface TypeStatus {
  entityType: string;
  records: number;
  pending: number;
  dueNow: number;
  waiting: number;
  deadLettered: number;
  nextRetryAt: number | undefined;
}

/** Prints each entity type's outbox. Reads the store without changing it. */
export async function runStatus(file: string): Promise<number> {
  const store = await openExistingStore(file);
  try {
    const now = Date.now();
    const statuses = await Promise.all(
      store.entityTypes.map(async (entityType) => {
        const collection = store.collection(entityType);
        const [records, outbox, failures] = await Promise.all([
          collection.getAll(),
          collection.outbox(now),
          collection.failures(),
        ]);
        return typeStatus(entityType, records.length, outbox, failures, now);
      }),
    );
    console.log(`Store ${store.file}`);
    for (const line of formatStatus(statuses, now)) console.log(line);
    return 0;
  } finally {
    await store.close();
  }
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
    waiting: failures.filter((f) => !f.deadLettered && (f.nextAttemptAt ?? 0) > now).length,
    deadLettered: failures.filter((f) => f.deadLettered).length,
    nextRetryAt: outbox.nextDueAt,
  };
}

export function formatStatus(statuses: readonly TypeStatus[], now: number): string[] {
  if (statuses.length === 0) return ['  (no records)'];
  const right = (header: string) => ({ header, align: 'right' as const });
  const rows = statuses.map((s) => [
    s.entityType,
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
