import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import type { StoredItem } from '../server/server-state.js';
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

/** The per-type table plus a total row, whose duration is the sync phase's wall-clock time (types run at once). */
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
    failedItems: sum('failedItems'),
    retries: sum('retries'),
    conflicts: sum('conflicts'),
    activeMs: wallMs,
  };
  const row = (t: TypeSummary) => [
    t.entityType,
    formatCount(t.records),
    formatCount(t.syncedItems),
    formatCount(t.waiting),
    formatCount(t.runs),
    formatCount(t.retries),
    formatCount(t.failedItems),
    formatCount(t.deadLettered),
    formatCount(t.conflicts),
    formatDuration(t.activeMs),
    t.activeMs > 0 ? formatCount(Math.round(t.pushed / (t.activeMs / 1000))) : '-',
  ];
  const right = (header: string) => ({ header, align: 'right' as const });
  return formatTable(
    [
      { header: 'entity type' },
      right('records'),
      right('synced'),
      right('pending'),
      right('runs'),
      right('retries'),
      right('failed'),
      right('dead-lettered'),
      right('conflicts'),
      right('duration'),
      right('records/s'),
    ],
    [...types.map(row), row(total)],
  );
}

export const SUMMARY_LEGEND = [
  'pending: not yet acknowledged, dead letters excluded · retries: batch pushes retried after a fault',
  'failed: item failures a run recorded (a later run retries them unless they are dead-lettered)',
  'duration: time spent in runs (total: wall clock) · records/s: acknowledged pushes per second of it',
];

/** Faults the server injected, by kind: `error500 ×2, reset ×1`. */
export function formatFaults(injected: Readonly<Record<string, number>>): string {
  const hits = Object.entries(injected).filter(([, n]) => n > 0);
  if (hits.length === 0) return 'none';
  const total = hits.reduce((sum, [, n]) => sum + n, 0);
  return `${total} (${hits.map(([kind, n]) => `${kind} ×${n}`).join(', ')})`;
}

// ---- Agreement check ----

/** Everything the check compares for one entity type. */
export interface AgreementInput {
  entityType: string;
  local: readonly RepositoryEntity[];
  failures: readonly FailureRecord[];
  server: readonly StoredItem[];
}

export interface DeadLetter {
  entityType: string;
  id: string;
  version: number;
  reason: string;
  /**
   * The server holds this exact version and content anyway: it applied it in an earlier batch whose reply was
   * lost, then rejected it when it came again. The data agrees; the client still counts it as failed.
   */
  heldByServer: boolean;
}

export interface Difference {
  entityType: string;
  id: string;
  problem: string;
}

export interface TypeAgreement {
  entityType: string;
  /** Local records the server holds at the same version with the same content. */
  matched: number;
  deadLettered: number;
  /** Server records with a version applied more than once. */
  appliedTwice: number;
}

export interface AgreementReport {
  agree: boolean;
  types: TypeAgreement[];
  matched: number;
  appliedTwice: number;
  deadLetters: DeadLetter[];
  differences: Difference[];
}

/**
 * Compares the local store with the server. They agree when every local record that is not dead-lettered is
 * synced and on the server at the same version with the same content, the server holds nothing the client does
 * not, no version was applied twice, and the server holds no dead letter at a newer version or other content.
 */
export function checkAgreement(inputs: readonly AgreementInput[]): AgreementReport {
  const types = inputs.map(checkType);
  const differences = types.flatMap((t) => t.differences);
  const deadLetters = types.flatMap((t) => t.deadLetters);
  return {
    agree: differences.length === 0,
    types: types.map((t) => t.summary),
    matched: types.reduce((sum, t) => sum + t.summary.matched, 0),
    appliedTwice: types.reduce((sum, t) => sum + t.summary.appliedTwice, 0),
    deadLetters,
    differences,
  };
}

function checkType(input: AgreementInput) {
  const { entityType } = input;
  const server = new Map(input.server.map((stored) => [stored.item.id, stored]));
  const deadLetters: DeadLetter[] = [];
  const differences: Difference[] = [];
  const differ = (id: string, problem: string) => differences.push({ entityType, id, problem });
  let matched = 0;
  for (const record of input.local) {
    const remote = server.get(record.id)?.item;
    const dead = input.failures.find(
      (f) => f.id === record.id && f.version === record.version && f.deadLettered,
    );
    if (dead) {
      const held = remote !== undefined && remote.version === record.version;
      const fields = held ? differingFields(record, remote) : [];
      deadLetters.push({
        entityType,
        id: record.id,
        version: record.version,
        reason: dead.lastError,
        heldByServer: held,
      });
      if (remote && remote.version > record.version) {
        differ(
          record.id,
          `dead-lettered locally at v${record.version}, yet the server holds v${remote.version}`,
        );
      } else if (fields.length > 0) {
        differ(
          record.id,
          `dead-lettered locally at v${record.version}; the server's v${record.version} differs (${fields.join(', ')})`,
        );
      }
      continue;
    }
    const problem = compareRecord(record, remote);
    if (problem) differ(record.id, problem);
    else matched += 1;
  }
  const local = new Set(input.local.map((record) => record.id));
  let appliedTwice = 0;
  for (const stored of input.server) {
    if (!local.has(stored.item.id)) differ(stored.item.id, 'on the server but not in the local store');
    const repeated = stored.appliedVersions.filter((v, i) => stored.appliedVersions.indexOf(v) !== i);
    if (repeated.length > 0) {
      appliedTwice += 1;
      differ(
        stored.item.id,
        `applied twice by the server (versions applied: ${stored.appliedVersions.join(', ')})`,
      );
    }
  }
  const summary: TypeAgreement = { entityType, matched, deadLettered: deadLetters.length, appliedTwice };
  return { summary, deadLetters, differences };
}

/** Why a local record that should be synced does not match the server's copy, or `undefined` if it does. */
function compareRecord(record: RepositoryEntity, remote: RepositoryEntity | undefined): string | undefined {
  if (record.syncPending) {
    const there = remote ? `the server holds v${remote.version}` : 'the server does not have it';
    return `still pending locally at v${record.version} (${there})`;
  }
  if (!remote) return `synced locally at v${record.version}, but missing on the server`;
  if (remote.version !== record.version) {
    return `local v${record.version}, server v${remote.version}`;
  }
  const fields = differingFields(record, remote);
  return fields.length > 0 ? `content differs at v${record.version} (${fields.join(', ')})` : undefined;
}

/** Top-level fields whose values differ, ignoring `syncPending` (the server's copy is never pending). */
export function differingFields(a: RepositoryEntity, b: RepositoryEntity): string[] {
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  keys.delete('syncPending');
  return [...keys].filter((key) => canonical(left[key]) !== canonical(right[key])).sort();
}

/** JSON with object keys sorted, so key order does not count as a difference. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
      : v,
  );
}

/** Per-type lines, dead letters with their reasons and the differences (capped); `verdict` follows them. */
export function formatAgreement(report: AgreementReport, maxDifferences = 20): string[] {
  const lines = report.types.map(
    (t) =>
      `  ${t.entityType.padEnd(14)} ${formatCount(t.matched)} on the server at the local version and content, ` +
      `${t.appliedTwice} applied twice, ${t.deadLettered} dead-lettered`,
  );
  if (report.deadLetters.length > 0) {
    lines.push('  dead letters (kept locally as failed):');
    for (const d of report.deadLetters) {
      const held = d.heldByServer ? ' (yet the server holds this exact version, see below)' : '';
      lines.push(`    ${d.entityType}/${d.id} v${d.version}: ${d.reason}${held}`);
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

const INJECTED_REJECT = 'Injected fault: item rejected';

export function verdict(report: AgreementReport): string {
  if (!report.agree) {
    const n = report.differences.length;
    return `✘ server and client disagree: ${n} difference${n === 1 ? '' : 's'} (listed above)`;
  }
  const dead = report.deadLetters.length;
  const why =
    dead === 0
      ? ''
      : report.deadLetters.every((d) => d.reason === INJECTED_REJECT)
        ? ' (rejected by the server)'
        : ' (reasons above)';
  const held = report.deadLetters.filter((d) => d.heldByServer).length;
  return (
    `✔ server and client agree: ${plural(report.matched, 'record')}, ` +
    `${report.appliedTwice} applied twice, ${dead} dead-lettered${why}` +
    (held > 0 ? `, ${held} of them held by the server at the same version` : '')
  );
}
