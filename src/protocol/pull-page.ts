import { describeShape, isTombstone } from '../domain/entity.js';
import type { ConflictPolicy, PulledChange, PulledPageResult, RepositoryEntity } from '../domain/types.js';
import { resolveConflict } from './conflicts.js';
import { recordDigest, serverContent, stableJson } from './record-digest.js';
import { type AdoptionTarget, adoptRemoteRecord } from './remote-record.js';

/** A stored record as the planner sees it: tombstones included, with whether it waits to be pushed. */
export interface LocalRecordState<T extends RepositoryEntity> {
  record: T;
  /** In the outbox: a local change (edit or delete) the remote has not acknowledged. */
  pending: boolean;
}

/** What one pulled change does. */
export type ChangeDecision<T extends RepositoryEntity> =
  /** Nothing changes. */
  | { kind: 'echo'; id: string }
  /** The server's record becomes the local one, synced. */
  | { kind: 'pull'; id: string; record: T }
  /** A pulled tombstone: the local record becomes the server's synced tombstone (hidden from apps). */
  | { kind: 'delete'; id: string; tombstone: T }
  /** A pending local change met the pulled one; `resolution` says what is stored. */
  | { kind: 'conflict'; id: string; resolution: ConflictOutcome<T> }
  /** Refused: nothing is stored. */
  | { kind: 'invalid'; id: string; error: string };

export type ConflictOutcome<T extends RepositoryEntity> =
  /** The server's side is taken: its record, synced, or, for a tombstone, the local record removed. */
  | { kind: 'accept-remote'; record: T | undefined }
  /** The local side (or a merge) is stored pending, above the server's version, to be pushed. */
  | { kind: 'push'; record: T }
  /** The policy could not resolve it (a merge function threw): the local record stays as it was, pending. */
  | { kind: 'unresolved'; error: string };

export interface PagePlanInput<T extends RepositoryEntity> {
  changes: readonly PulledChange[];
  /** The stored record of an id (tombstones included), or `undefined`. Asked once per distinct id. */
  local: (id: string) => LocalRecordState<T> | undefined;
  conflicts: ConflictPolicy<T>;
  now: number;
  /**
   * The version of an acknowledged tombstone of `id` the store removed before the collection's first pull, if it
   * remembers one: a pulled version up to it is the deleted record's past, never stored again.
   */
  purged?: (id: string) => number | undefined;
  /**
   * The page belongs to a pull from the beginning after a reset: the server serves its state whole and has lost
   * some of its past (deletes purged past their retention, a state restored from an older copy), so a record with
   * nothing pending takes the server's copy whenever it differs, whatever the numbers: another client's write may
   * have drawn a number at or below one this client holds (versions are per-writer counters).
   */
  reset?: boolean;
  /**
   * The changes were handed over (`handOverChanges`): their items become the stored records themselves, checked,
   * completed and frozen where they are, instead of copies. Never for a pending local change's conflict, whose
   * resolver is given the server's copy as it came.
   */
  adoptInPlace?: boolean;
}

/** Changes arrays given away by the remote that parsed them (`handOverChanges`). */
const handedOver = new WeakSet<readonly unknown[]>();

/**
 * Gives `changes` away: a remote that parsed them from a reply itself and keeps no reference to them marks them so,
 * and a store that plans them adopts each item where it is (checked, completed and frozen) instead of copying it.
 * Whoever receives them must not change them. Returns `changes`.
 */
export function handOverChanges<C extends readonly unknown[]>(changes: C): C {
  handedOver.add(changes);
  return changes;
}

/** Whether `changes` were handed over (`handOverChanges`). */
export function isHandedOver(changes: readonly unknown[]): boolean {
  return handedOver.has(changes);
}

/** A page's net effect on the store, and what each change did. */
export interface PagePlan<T extends RepositoryEntity> {
  /** Records to write (synced ones, and pending conflict resolutions), at most one per id. */
  writes: Map<string, T>;
  /** Ids to remove; never also in `writes`. */
  removed: Set<string>;
  decisions: ChangeDecision<T>[];
  counts: Omit<PulledPageResult, 'dropped' | 'checkpoint'>;
}

/**
 * Decides what every change of a pulled page does to the local records, without touching them: stores plan with it
 * inside their write, then persist the writes, the removals and the page's checkpoint together. Changes are taken
 * in page order, each against the local state the earlier ones left, so an id repeated in a page (which the
 * protocol does not send) cannot move a version down either.
 *
 * - **invalid**: `id`, `version` and `deleted` must match the item's, and a live item must pass `adoptRemoteRecord`
 *   (a storable record at a version from the local one up). Never stored; reported in `refused`.
 * - **echo**: without a pending local change, a version the client holds or has moved past (`version` at or below
 *   the local one; the same version only as a tombstone where a tombstone is held, or live where a live record is),
 *   including its own pushed writes coming back; in a reset only the version held with the same content, since the
 *   server has lost some of its past and its copy is taken whatever the numbers. With one, a version the change is built on (at or
 *   below its `baseVersion`), or the pending version itself with the same content (its push coming back, the ack
 *   on its way). A tombstone of a record the client does not hold is an echo too, and so is a version at or below
 *   that of an acknowledged tombstone the store removed before its first pull (`purged`). An acknowledged
 *   tombstone stays as it is.
 * - **pull / delete**: no pending local change and a newer version: the server's record is stored synced, or, for
 *   a tombstone, the server's synced tombstone (hidden from apps; a record saved again is built on it).
 * - **conflict**: a pending local change (edit or delete) and any other version: one another client wrote after the
 *   change's base (lower or higher than the local version: versions are per-writer counters), or, for a change
 *   without a base (a create), any version but its own echo. Resolved by `resolveConflict` with the push's
 *   policies (docs/protocol.md, "Client side of a pull"). A pulled change never replaces a pending local change
 *   unless the policy says so.
 */
export function planPulledPage<T extends RepositoryEntity>(input: PagePlanInput<T>): PagePlan<T> {
  const plan: PagePlan<T> = {
    writes: new Map(),
    removed: new Set(),
    decisions: [],
    counts: { pulled: 0, deleted: 0, conflicts: 0, echoes: 0, invalid: 0, refused: [], repush: [] },
  };
  // The local state as the page's earlier changes left it: `null` once removed.
  const working = new Map<string, LocalRecordState<T> | null>();
  const current = (id: string): LocalRecordState<T> | undefined => {
    if (!working.has(id)) working.set(id, input.local(id) ?? null);
    return working.get(id) ?? undefined;
  };
  input.changes.forEach((change, index) => {
    const decision = decideChange(change, index, current, input);
    plan.decisions.push(decision);
    record(plan, decision, decision.kind === 'delete' ? current(decision.id) : undefined, working);
  });
  return plan;
}

function decideChange<T extends RepositoryEntity>(
  change: PulledChange,
  index: number,
  current: (id: string) => LocalRecordState<T> | undefined,
  input: PagePlanInput<T>,
): ChangeDecision<T> {
  const problem = changeProblem(change, index);
  if (problem) return { kind: 'invalid', id: problemId(change, index), error: problem };
  const { id, version } = change;
  // The id is the server's text: a refusal lists it as data (`refused[].id`); its message names the change by
  // position and never quotes it.
  const describedAs = `The server's copy in pulled change ${index}`;
  /** The change's item as the record to store, synced, or why it cannot be one. */
  const adopt = (target: AdoptionTarget, minVersion: number): ChangeDecision<T> => {
    const adopted = adoptRemoteRecord<T>(target, change.item, {
      minVersion,
      syncPending: false,
      now: input.now,
      describedAs,
      inPlace: input.adoptInPlace === true,
    });
    return adopted.ok
      ? { kind: 'pull', id, record: adopted.record }
      : { kind: 'invalid', id, error: adopted.error };
  };
  const local = current(id);
  if (!local) {
    if (change.deleted) return { kind: 'echo', id };
    // The record this client deleted, at a version from before its delete (a page fetched before the delete reached
    // the server): stored, it would come back to life.
    const purgedAt = input.purged?.(id);
    if (purgedAt !== undefined && version <= purgedAt) return { kind: 'echo', id };
    return adopt({ id }, 0);
  }
  const held = local.record;
  if (!local.pending) {
    const reset = input.reset === true;
    if (version < held.version && !reset) return { kind: 'echo', id };
    // The same version as a delete where the client holds a live record, or live where it holds its acknowledged
    // delete, is another client's write that drew the same number (versions are per-writer counters; the server
    // took it after it forgot the delete past its retention): the server's copy, not an echo. In a reset, other
    // content at the same number is too.
    const same =
      change.deleted === isTombstone(held) && (!reset || change.deleted || sameContent(held, change.item));
    if (version === held.version && same) return { kind: 'echo', id };
    if (change.deleted) return { kind: 'delete', id, tombstone: syncedTombstone(held, change, input.now) };
    return adopt(held, reset ? 0 : held.version);
  }
  // A pending local change: a version it is built on is behind it (its push goes on top), the same version and
  // content is the push's own write coming back. Any other version was written by someone else after the change's
  // base, whether its number is below the local one or not: taken for an echo, the push would overwrite it unseen.
  const base = held.baseVersion;
  if (base !== undefined && version <= base) return { kind: 'echo', id };
  // A version this client pushed and never heard back about: the server applied it; the pending change is newer.
  if (version < held.version && isOwnVersion(held, version, change.item)) {
    return { kind: 'echo', id };
  }
  if (version === held.version && change.deleted === isTombstone(held) && sameContent(held, change.item)) {
    return { kind: 'echo', id };
  }
  // Checked first so an unusable copy is refused as invalid, whatever the policy would have done with it.
  const adopted = adoptRemoteRecord<T>(held, change.item, {
    minVersion: 0,
    syncPending: false,
    now: input.now,
    describedAs,
  });
  if (!adopted.ok) return { kind: 'invalid', id, error: adopted.error };
  const resolution = resolveConflict(input.conflicts, held, change.item, input.now, 0);
  switch (resolution.kind) {
    case 'accept-remote':
      return {
        kind: 'conflict',
        id,
        resolution: {
          kind: 'accept-remote',
          // A server tombstone is kept as a synced tombstone, as a pulled delete is.
          record: resolution.entity,
        },
      };
    case 'push':
      return { kind: 'conflict', id, resolution: { kind: 'push', record: resolution.entity } };
    default:
      return { kind: 'conflict', id, resolution: { kind: 'unresolved', error: resolution.error } };
  }
}

/**
 * The server's delete as the local record: a synced tombstone, hidden from apps, kept so that a record saved again
 * under its id counts on from it and is built on it (`baseVersion`), as the server expects; a reset drops it once
 * the server has forgotten the delete.
 */
function syncedTombstone<T extends RepositoryEntity>(held: T, change: PulledChange, now: number): T {
  const updatedAt = (change.item as { updatedAt?: unknown }).updatedAt;
  return {
    id: held.id,
    createdAt: held.createdAt,
    updatedAt:
      typeof updatedAt === 'number' && Number.isFinite(updatedAt) && updatedAt >= 0 ? updatedAt : now,
    version: change.version,
    syncPending: false,
    deleted: true,
  } as T;
}

/** Updates the plan's writes, removals and counts for one decision, and the working local state. */
function record<T extends RepositoryEntity>(
  plan: PagePlan<T>,
  decision: ChangeDecision<T>,
  local: LocalRecordState<T> | undefined,
  working: Map<string, LocalRecordState<T> | null>,
): void {
  const { counts } = plan;
  switch (decision.kind) {
    case 'echo':
      counts.echoes += 1;
      return;
    case 'pull':
      counts.pulled += 1;
      planWrite(plan, working, decision.record);
      return;
    case 'delete':
      // Replacing an acknowledged tombstone changes nothing an app sees: only a live record counts as deleted.
      if (local && !isTombstone(local.record)) counts.deleted += 1;
      else counts.echoes += 1;
      planWrite(plan, working, decision.tombstone);
      return;
    case 'invalid':
      counts.invalid += 1;
      counts.refused.push({ id: decision.id, error: decision.error, kind: 'invalid' });
      return;
    case 'conflict': {
      counts.conflicts += 1;
      const { resolution } = decision;
      if (resolution.kind === 'unresolved') {
        counts.refused.push({ id: decision.id, error: resolution.error, kind: 'unresolved' });
      } else if (resolution.kind === 'push') {
        planWrite(plan, working, resolution.record);
        if (!counts.repush.includes(decision.id)) counts.repush.push(decision.id);
      } else if (resolution.record) planWrite(plan, working, resolution.record);
      else planRemoval(plan, working, decision.id);
      return;
    }
    default:
      decision satisfies never;
  }
}

// Module functions rather than closures made per change: a page plans a thousand changes.
function planWrite<T extends RepositoryEntity>(
  plan: PagePlan<T>,
  working: Map<string, LocalRecordState<T> | null>,
  entity: T,
): void {
  plan.writes.set(entity.id, entity);
  plan.removed.delete(entity.id);
  working.set(entity.id, { record: entity, pending: entity.syncPending });
}

function planRemoval<T extends RepositoryEntity>(
  plan: PagePlan<T>,
  working: Map<string, LocalRecordState<T> | null>,
  id: string,
): void {
  plan.writes.delete(id);
  plan.removed.add(id);
  working.set(id, null);
}

/**
 * Why a change cannot be taken at face value, or `undefined`: its `id`, `version` and `deleted` must be well
 * formed and repeat the item's (the client decides on them before reading the item). The reason names the change
 * by its position and describes values by their kind and size: it never quotes the server's text, its id
 * included (the refusal lists the id as data).
 */
export function changeProblem(change: unknown, index: number): string | undefined {
  const where = `Pulled change ${index}`;
  if (typeof change !== 'object' || change === null || Array.isArray(change)) {
    return `${where} is not an object (${describeShape(change)})`;
  }
  const c = change as Record<string, unknown>;
  if (typeof c.id !== 'string' || c.id.length === 0)
    return `${where} has no usable id (${describeShape(c.id)})`;
  if (!Number.isSafeInteger(c.version) || (c.version as number) < 0) {
    return `${where} has version ${describeShape(c.version)}, not a whole number`;
  }
  if (typeof c.deleted !== 'boolean')
    return `${where} has deleted ${describeShape(c.deleted)}, not a boolean`;
  const item = c.item;
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return `${where} has no record as its item (${describeShape(item)})`;
  }
  const record = item as Record<string, unknown>;
  if (record.id !== c.id) return `${where} carries a record of another id (${describeShape(record.id)})`;
  if (record.version !== c.version) {
    return `${where} says version ${c.version} but its record has ${describeShape(record.version)}`;
  }
  if ((record.deleted === true) !== c.deleted) {
    return `${where} says deleted ${c.deleted} but its record ${record.deleted === true ? 'is' : 'is not'} a tombstone`;
  }
  return undefined;
}

function problemId(change: unknown, index: number): string {
  const id = (change as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 ? id : `#${index}`;
}

/**
 * Whether a pulled item holds the same record as the pending local one, bookkeeping the server does not own
 * (`syncPending`, `baseVersion`, `ownVersions`) aside. Compared with sorted keys: a server may store fields in
 * another order.
 */
function sameContent(local: RepositoryEntity, item: unknown): boolean {
  try {
    return stableJson(serverContent(local)) === stableJson(serverContent(item as object));
  } catch {
    return false;
  }
}

/** Whether a pulled version is one this client pushed without hearing back (`ownVersions`): its own write. */
function isOwnVersion(local: RepositoryEntity, version: number, item: unknown): boolean {
  const own = local.ownVersions?.find((entry) => entry.version === version);
  if (!own) return false;
  try {
    return recordDigest(item as object) === own.digest;
  } catch {
    return false;
  }
}
