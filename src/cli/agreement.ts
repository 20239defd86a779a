/**
 * The demo's agreement check, a test oracle: do the server and every client hold the same live records, each at the
 * same version with the same content? Kept apart from the tables that print its report (summary.ts), so the rule
 * reads on its own.
 */
import { isTombstone } from '../domain/entity.js';
import type { FailureRecord, RepositoryEntity } from '../domain/types.js';
import type { StoredItem } from '../server/server-state.js';

/** One client's side of one entity type. */
export interface ClientRecords {
  /** The client's name in messages (`phone`). */
  client: string;
  /** Every record the client's store holds, tombstones included (`getAll({ includeDeleted: true })`). */
  local: readonly RepositoryEntity[];
  failures: readonly FailureRecord[];
}

/** Everything the check compares for one entity type. */
export interface AgreementInput {
  entityType: string;
  /** The server's live records (`GET /v1/items/{type}`). */
  server: readonly StoredItem[];
  /**
   * The deletes the server keeps (its tombstones, as its change feed serves them): counted, and named when a client
   * still holds the record.
   */
  tombstones?: readonly RepositoryEntity[];
  clients: readonly ClientRecords[];
}

export interface DeadLetter {
  entityType: string;
  client: string;
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
  /** The client the difference is about; absent for the server's own (a version applied twice). */
  client?: string;
  id: string;
  problem: string;
}

export interface TypeAgreement {
  entityType: string;
  /** Live server records that every client holds at the same version with the same content. */
  matched: number;
  /** The server's tombstones: deletes that reached it. */
  deleted: number;
  deadLettered: number;
  /** Server records with a version applied more than once. */
  appliedTwice: number;
}

export interface AgreementReport {
  agree: boolean;
  /** The clients compared, in input order. */
  clients: string[];
  types: TypeAgreement[];
  matched: number;
  deleted: number;
  appliedTwice: number;
  deadLetters: DeadLetter[];
  differences: Difference[];
}

/**
 * Compares every client's store with the server. They agree when, for every client, each record that is not
 * dead-lettered is synced and on the server at the same version with the same content (a synced delete: not live on
 * the server), every live server record is in the client's store, no version was applied twice, and the server
 * holds no dead letter at a newer version or other content. Two clients that each agree with the server agree
 * with each other.
 */
export function checkAgreement(inputs: readonly AgreementInput[]): AgreementReport {
  const types = inputs.map(checkType);
  const sum = (key: 'matched' | 'deleted' | 'appliedTwice') => types.reduce((n, t) => n + t.summary[key], 0);
  const differences = types.flatMap((t) => t.differences);
  return {
    agree: differences.length === 0,
    clients: [...new Set(inputs.flatMap((input) => input.clients.map((c) => c.client)))],
    types: types.map((t) => t.summary),
    matched: sum('matched'),
    deleted: sum('deleted'),
    appliedTwice: sum('appliedTwice'),
    deadLetters: types.flatMap((t) => t.deadLetters),
    differences,
  };
}

function checkType(input: AgreementInput) {
  const { entityType } = input;
  const server = new Map(input.server.map((stored) => [stored.item.id, stored.item]));
  const tombstones = new Map(input.tombstones?.map((tombstone) => [tombstone.id, tombstone]));
  const deadLetters: DeadLetter[] = [];
  const differences: Difference[] = [];
  /** Ids of server records some client does not hold at the same version and content. */
  const unmatched = new Set<string>();
  for (const side of input.clients) {
    const { client } = side;
    const differ = (id: string, problem: string) => {
      differences.push({ entityType, client, id, problem });
      unmatched.add(id);
    };
    const held = new Set<string>();
    for (const record of side.local) {
      held.add(record.id);
      const remote = server.get(record.id) ?? tombstones.get(record.id);
      const dead = side.failures.find(
        (f) => f.id === record.id && f.version === record.version && f.deadLettered,
      );
      if (dead) {
        unmatched.add(record.id);
        const same = remote?.version === record.version && isTombstone(remote) === isTombstone(record);
        deadLetters.push({
          entityType,
          client,
          id: record.id,
          version: record.version,
          reason: dead.lastError,
          heldByServer: same,
        });
        const fields = same && remote ? differingFields(record, remote) : [];
        if (remote && remote.version > record.version) {
          differ(
            record.id,
            `dead-lettered on the ${client} at v${record.version}, yet the server holds v${remote.version}`,
          );
        } else if (fields.length > 0) {
          differ(
            record.id,
            `dead-lettered on the ${client} at v${record.version}; the server's v${record.version} differs (${fields.join(', ')})`,
          );
        }
        continue;
      }
      const problem = compareRecord(client, record, server.get(record.id), tombstones.get(record.id));
      if (problem) differ(record.id, problem);
    }
    for (const id of server.keys()) {
      if (!held.has(id)) differ(id, `on the server but not on the ${client}`);
    }
  }
  let appliedTwice = 0;
  for (const stored of input.server) {
    const repeated = stored.appliedVersions.filter((v, i) => stored.appliedVersions.indexOf(v) !== i);
    if (repeated.length === 0) continue;
    appliedTwice += 1;
    unmatched.add(stored.item.id);
    differences.push({
      entityType,
      id: stored.item.id,
      problem: `applied twice by the server (versions applied: ${stored.appliedVersions.join(', ')})`,
    });
  }
  const matched = input.server.filter((stored) => !unmatched.has(stored.item.id)).length;
  const summary: TypeAgreement = {
    entityType,
    matched,
    deleted: tombstones.size,
    deadLettered: deadLetters.length,
    appliedTwice,
  };
  return { summary, deadLetters, differences };
}

/**
 * Why a client's record that should be synced does not match the server, or `undefined` if it does. A tombstone
 * matches when the server holds no live record of its id: an acknowledged delete stays hidden in the store until a
 * pull brings its echo.
 */
function compareRecord(
  client: string,
  record: RepositoryEntity,
  live: RepositoryEntity | undefined,
  tombstone: RepositoryEntity | undefined,
): string | undefined {
  const deleted = isTombstone(record);
  const what = deleted ? 'deleted' : 'synced';
  if (record.syncPending) {
    const there = live
      ? `the server holds v${live.version}`
      : tombstone
        ? `the server deleted it at v${tombstone.version}`
        : 'the server does not have it';
    return `${deleted ? 'delete' : 'change'} still pending on the ${client} at v${record.version} (${there})`;
  }
  if (deleted) {
    return live
      ? `deleted on the ${client} at v${record.version}, live on the server at v${live.version}`
      : undefined;
  }
  if (!live) {
    const why = tombstone ? `deleted on the server at v${tombstone.version}` : 'missing on the server';
    return `${what} on the ${client} at v${record.version}, but ${why}`;
  }
  if (live.version !== record.version) return `${client} v${record.version}, server v${live.version}`;
  const fields = differingFields(record, live);
  return fields.length > 0
    ? `content differs on the ${client} at v${record.version} (${fields.join(', ')})`
    : undefined;
}

/**
 * Top-level fields whose values differ, ignoring `syncPending` and `baseVersion` (client bookkeeping the server's
 * copy never has).
 */
export function differingFields(a: RepositoryEntity, b: RepositoryEntity): string[] {
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  const keys = new Set([...Object.keys(left), ...Object.keys(right)]);
  keys.delete('syncPending');
  keys.delete('baseVersion');
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
