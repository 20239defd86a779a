/**
 * The demo's agreement check, a test oracle: does the server hold exactly what the client says it synced? Kept apart
 * from the tables that print its report (summary.ts), so the rule reads on its own.
 */
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import type { StoredItem } from '../server/server-state.js';

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
