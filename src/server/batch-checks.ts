import { createHash } from 'node:crypto';
import { entityFieldProblem, jsonProblem, MAX_ENTITY_DEPTH } from '../domain/entity.js';
import type { RepositoryEntity } from '../domain/types.js';

/** The deepest nesting the reference server accepts in an item, the item itself being level 1. */
export const MAX_ITEM_DEPTH = MAX_ENTITY_DEPTH;

/** One item the server refuses to store, as listed in a 400's `rejected` (docs/protocol.md). */
export interface ItemRejection {
  id: string;
  error: string;
}

/** A batch the server may apply, or why it must refuse all of it. */
export type BatchCheck =
  | {
      ok: true;
      /** Items to apply, in the batch's order. */
      valid: RepositoryEntity[];
      /** Items answered `rejected` on their own (an unusable version); the rest of the batch is applied. */
      unusableVersion: ItemRejection[];
      /** Identifies the batch's items (`id@version` in order) for the idempotency check. */
      digest: string;
    }
  /** A 400: nothing is applied. `rejected` names every item the server cannot store; absent for a batch-level fault. */
  | { ok: false; error: string; rejected?: ItemRejection[] };

/**
 * Checks a whole sync request body before anything of it is applied: the envelope, then EVERY item (bookkeeping
 * types, JSON-safe content, at most `MAX_ITEM_DEPTH` levels), so a bad item can never fail the batch halfway
 * through. Pure; never throws for any input.
 */
export function checkBatch(body: string): BatchCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, error: 'The body is not valid JSON' };
  }
  const items =
    typeof parsed === 'object' && parsed !== null ? (parsed as { items?: unknown }).items : undefined;
  if (!Array.isArray(items)) return { ok: false, error: 'The body must be { "batchId", "items": [...] }' };
  const seen = new Set<string>();
  for (const item of items as unknown[]) {
    const id =
      typeof item === 'object' && item !== null && !Array.isArray(item)
        ? (item as { id?: unknown }).id
        : undefined;
    if (typeof id !== 'string' || id.length === 0)
      return { ok: false, error: 'Every item needs a string id' };
    if (seen.has(id)) return { ok: false, error: `Item "${id}" appears twice in the batch` };
    seen.add(id);
  }
  const records = items as Record<string, unknown>[];
  const valid: RepositoryEntity[] = [];
  const unusableVersion: ItemRejection[] = [];
  const rejected: ItemRejection[] = [];
  for (const record of records) {
    const id = record.id as string;
    // An item with an unusable version is never stored, so it is answered on its own whatever else it holds.
    const versionError = versionProblem(record.version);
    if (versionError) {
      unusableVersion.push({ id, error: versionError });
      continue;
    }
    const error = itemProblem(record);
    if (error) rejected.push({ id, error });
    else valid.push(record as unknown as RepositoryEntity);
  }
  if (rejected.length > 0) {
    const count = rejected.length === 1 ? 'One item' : `${rejected.length} items`;
    return { ok: false, error: `${count} of the batch cannot be stored; nothing was applied`, rejected };
  }
  return { ok: true, valid, unusableVersion, digest: digestOf(records) };
}

/**
 * Why the server cannot store `item` (its `id` and `version` already checked), or `undefined`: JSON-safe content
 * within `MAX_ITEM_DEPTH`, then the bookkeeping fields by the rule every store applies (`assertEntity`'s), worded
 * for a client reading a 400.
 */
function itemProblem(item: Record<string, unknown>): string | undefined {
  const content = jsonProblem(item, MAX_ITEM_DEPTH);
  if (content) return content;
  const field = entityFieldProblem(item);
  if (field) return `${field.field ?? 'the item'} must be ${field.expected}`;
  if ('deleted' in item && typeof item.deleted !== 'boolean') return 'deleted must be a boolean when present';
  return undefined;
}

/** Why `version` is not a whole number of at least 1 that the next edit can still count past exactly. */
function versionProblem(version: unknown): string | undefined {
  if (!Number.isInteger(version) || (version as number) < 1)
    return 'version must be a whole number of at least 1';
  if ((version as number) >= Number.MAX_SAFE_INTEGER)
    return `version must be below ${Number.MAX_SAFE_INTEGER}`;
  return undefined;
}

/**
 * `id@version` of every item in order, `id@version~deleted` for a tombstone (so a delete and an edit at the same
 * version are different batches; digests of batches without deletes stay as before). A version that is not a
 * number counts by its type only.
 */
function digestOf(items: readonly Record<string, unknown>[]): string {
  const lines = items.map(
    ({ id, version, deleted }) =>
      `${id as string}@${typeof version === 'number' ? version : typeof version}${deleted === true ? '~deleted' : ''}`,
  );
  return createHash('sha256').update(lines.join('\n')).digest('base64url');
}
