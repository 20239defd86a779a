import { INJECTED_REJECT_REASON } from '../server/faults.js';
import type { AgreementReport } from './agreement.js';
import type { TypeRunStats } from './run-stats.js';
import { formatCount, formatDuration, formatTable, plural } from './table.js';

/** One entity type at the end of the demo: the local store's view plus what its runs did. */
export interface TypeSummary extends TypeRunStats {
  records: number;
  /** Local records the server acknowledged at their current version. */
  syncedItems: number;
  deadLettered: number;
  /** Still pending and not dead-lettered (due, or waiting for a retry). */
  waiting: number;
}

/**
 * One client's per-type table plus a total row, whose duration is the sync's wall-clock time (types run at once).
 */
export function formatSummary(types: readonly TypeSummary[], wallMs: number): string[] {
  const sum = (key: keyof Omit<TypeSummary, 'entityType'>) => types.reduce((n, t) => n + t[key], 0);
  const total: TypeSummary = {
    entityType: 'total',
    records: sum('records'),
    syncedItems: sum('syncedItems'),
    deadLettered: sum('deadLettered'),
    waiting: sum('waiting'),
    runs: sum('runs'),
    pushed: sum('pushed'),
    pulled: sum('pulled'),
    removed: sum('removed'),
    failedItems: sum('failedItems'),
    retries: sum('retries'),
    conflicts: sum('conflicts'),
    activeMs: wallMs,
  };
  const row = (t: TypeSummary) => [
    t.entityType,
    formatCount(t.records),
    formatCount(t.pushed),
    formatCount(t.pulled),
    formatCount(t.removed),
    formatCount(t.conflicts),
    formatCount(t.waiting),
    formatCount(t.deadLettered),
    formatCount(t.runs),
    formatCount(t.retries),
    formatCount(t.failedItems),
    formatDuration(t.activeMs),
  ];
  const right = (header: string) => ({ header, align: 'right' as const });
  return formatTable(
    [
      { header: 'entity type' },
      right('records'),
      right('pushed'),
      right('pulled'),
      right('removed'),
      right('conflicts'),
      right('pending'),
      right('dead-lettered'),
      right('runs'),
      right('retries'),
      right('failed'),
      right('duration'),
    ],
    [...types.map(row), row(total)],
  );
}

export const SUMMARY_LEGEND = [
  'pushed: changes the server acknowledged, deletes included · pulled: changes of the other client stored',
  "removed: records deleted by the other client's deletes · conflicts: resolved by the policy, both directions",
  'pending: not yet acknowledged, dead letters excluded · retries: pushes and pulls retried after a fault',
  'failed: item failures a run recorded (a later run retries them unless they are dead-lettered)',
  'duration: time spent in runs (total: wall clock)',
];

/** Faults the server injected, by kind: `error500 ×2, reset ×1`. */
export function formatFaults(injected: Readonly<Record<string, number>>): string {
  const hits = Object.entries(injected).filter(([, n]) => n > 0);
  if (hits.length === 0) return 'none';
  const total = hits.reduce((sum, [, n]) => sum + n, 0);
  return `${total} (${hits.map(([kind, n]) => `${kind} ×${n}`).join(', ')})`;
}

/** Per-type lines, dead letters with their reasons and the differences (capped); `verdict` follows them. */
export function formatAgreement(report: AgreementReport, maxDifferences = 20): string[] {
  const everyone = `${joinNames(report.clients)} and the server`;
  const lines = report.types.map(
    (t) =>
      `  ${t.entityType.padEnd(14)} ${formatCount(t.matched)} live on ${everyone} at the same version and content, ` +
      `${formatCount(t.deleted)} deleted, ${t.appliedTwice} applied twice, ${t.deadLettered} dead-lettered`,
  );
  if (report.deadLetters.length > 0) {
    lines.push('  dead letters (kept locally as failed):');
    for (const d of report.deadLetters) {
      const held = d.heldByServer ? ' (yet the server holds this exact version, see below)' : '';
      lines.push(`    ${d.client}: ${d.entityType}/${d.id} v${d.version}: ${d.reason}${held}`);
    }
    if (report.deadLetters.some((d) => d.heldByServer)) {
      lines.push(
        '    (the server applied it in a batch whose reply never reached the client, then its injected reject',
        '    fault refused the same version in a later batch: the data agrees, but the client keeps it as failed',
        '    until it is retried, e.g. with coordinator.retryFailed(), which would mark it synced)',
      );
    }
  }
  for (const d of report.differences.slice(0, maxDifferences)) {
    lines.push(`  ✘ ${d.entityType}/${d.id}: ${d.problem}`);
  }
  if (report.differences.length > maxDifferences) {
    lines.push(`  … and ${report.differences.length - maxDifferences} more differences`);
  }
  return lines;
}

/** The conflicts the clients' runs resolved, and the policy that resolved them. */
export interface ConflictTally {
  conflicts: number;
  policy: string;
}

/**
 * The last line: `✔ phone, laptop and server agree: 2,972 live records, 48 deleted; 18 conflicts resolved
 * (server-wins); 0 applied twice, 0 dead-lettered`, or how many differences there are.
 */
export function verdict(report: AgreementReport, tally?: ConflictTally): string {
  const who = `${joinNames(report.clients)} and server`;
  if (!report.agree) {
    const n = report.differences.length;
    return `✘ ${who} disagree: ${n} difference${n === 1 ? '' : 's'} (listed above)`;
  }
  const dead = report.deadLetters.length;
  const why =
    dead === 0
      ? ''
      : report.deadLetters.every((d) => d.reason === INJECTED_REJECT_REASON)
        ? ' (rejected by the server)'
        : ' (reasons above)';
  const held = report.deadLetters.filter((d) => d.heldByServer).length;
  const conflicts = tally ? `; ${plural(tally.conflicts, 'conflict')} resolved (${tally.policy})` : '';
  return (
    `✔ ${who} agree: ${plural(report.matched, 'live record')}, ${formatCount(report.deleted)} deleted${conflicts}; ` +
    `${report.appliedTwice} applied twice, ${dead} dead-lettered${why}` +
    (held > 0 ? `, ${held} of them held by the server at the same version` : '')
  );
}

/** `phone`, `phone, laptop`: the names joined with commas (the caller adds "and server"). */
function joinNames(names: readonly string[]): string {
  return names.length === 0 ? 'the client' : names.join(', ');
}
