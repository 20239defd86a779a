import { assertEntity, describeShape, type StorableCopyOptions, storableCopy } from '../domain/entity.js';
import { errorMessage } from '../domain/errors.js';
import type { RepositoryEntity } from '../domain/types.js';

/** A record that may be written to a store, or why the candidate cannot be one. */
export type RecordCheck<T extends RepositoryEntity> = { ok: true; record: T } | { ok: false; error: string };

export interface AdoptRemoteOptions {
  /**
   * The lowest version accepted. For a conflict over a change without a base it is the version sent: the server
   * holds that version (with other content) or a newer one, so anything lower breaks the protocol. A change with a
   * base (`baseVersion`) conflicts with any other version the server holds, lower ones included (`conflictFloor`).
   */
  minVersion: number;
  /** Whether the adopted record still has to be pushed (it is ours to set, never the remote's). */
  syncPending: boolean;
  /** `updatedAt` when the remote's own is missing or unusable. */
  now: number;
  /**
   * What messages call the copy; by default `The server's copy of "{local id}"`. A record the client does not hold
   * yet has only the server's id, which a message must not quote: the caller names it another way.
   */
  describedAs?: string;
  /**
   * The copy is the caller's to give away: parsed from a reply a moment ago and held by no one else (a page the
   * HTTP remote handed over). It is then completed, checked and frozen where it is and becomes the record itself,
   * instead of being copied; one that cannot be (frozen already: adopted before) is copied as usual.
   */
  inPlace?: boolean;
}

/** The local side of an adoption: the stored record, or just the id of a record the client does not hold yet. */
export interface AdoptionTarget {
  id: string;
  /** The local record's; absent for a new record, which takes the remote's own (if usable) or `now`. */
  createdAt?: number;
}

/**
 * Turns a record a remote sent (a conflict's server copy, a pulled change) into a local record, or
 * says why it cannot become one. Nothing in it is trusted: its id must be the local one and its version a safe
 * whole number of at least `minVersion`; the bookkeeping the server does not own is ours (`createdAt` from the
 * local record when there is one, `syncPending` from `options`, `updatedAt` the remote's only if usable, never a
 * `baseVersion`); and the result must pass
 * every check a stored record passes, so writing it can never stop a store from opening. A minimal
 * `{ id, version }` copy, which the protocol allows, is completed that way.
 *
 * The copy is data: it is never rewritten (a string of the app's that happens to hold a secret is still the app's
 * string). Its refusals are messages, stored in failure records and results: they say what is wrong and where by
 * structure (a field nested too deep, a version that is a string of 200 characters) and never quote the server's
 * text, field names included.
 */
export function adoptRemoteRecord<T extends RepositoryEntity>(
  local: AdoptionTarget,
  remote: unknown,
  options: AdoptRemoteOptions,
): RecordCheck<T> {
  const where = options.describedAs ?? `The server's copy of "${local.id}"`;
  try {
    return adopt(local, remote, options, where);
  } catch (error) {
    // A getter or a proxy that throws, in a copy from a custom remote (its code, not a server's text).
    return { ok: false, error: `${where} cannot be read: ${errorMessage(error)}` };
  }
}

function adopt<T extends RepositoryEntity>(
  local: AdoptionTarget,
  remote: unknown,
  options: AdoptRemoteOptions,
  where: string,
): RecordCheck<T> {
  if (typeof remote !== 'object' || remote === null || Array.isArray(remote)) {
    return { ok: false, error: `${where} is not a record (${describeShape(remote)})` };
  }
  const copy = remote as Record<string, unknown>;
  if (copy.id !== local.id)
    return { ok: false, error: `${where} names another id (${describeShape(copy.id)})` };
  const { version, updatedAt, createdAt } = copy;
  // The upper bound leaves room for the next local edit's version + 1 to still count up exactly.
  if (!Number.isSafeInteger(version) || (version as number) < options.minVersion || version === MAX_VERSION) {
    const sent = options.minVersion > 0 ? ' (the version sent)' : '';
    return {
      ok: false,
      error: `${where} has version ${describeShape(version)}, not a whole number from ${options.minVersion}${sent} to ${MAX_VERSION - 1}`,
    };
  }
  const created = local.createdAt ?? (isTimestamp(createdAt) ? createdAt : options.now);
  const updated = isTimestamp(updatedAt) ? updatedAt : options.now;
  if (options.inPlace && Object.isExtensible(copy)) {
    // The record the copy below makes, key order included: fields present keep their place, the rest follow.
    if (Object.hasOwn(copy, 'baseVersion')) delete copy.baseVersion;
    if (Object.hasOwn(copy, 'ownVersions')) delete copy.ownVersions;
    copy.id = local.id;
    copy.version = version;
    copy.createdAt = created;
    copy.updatedAt = updated;
    copy.syncPending = options.syncPending;
    return storableRecord<T>(copy, where, { inPlace: true });
  }
  // A base is a pending change's bookkeeping: the server's record is synced and carries none, whatever it sent.
  const { baseVersion: _, ownVersions: _own, ...fields } = copy;
  return storableRecord<T>(
    {
      ...fields,
      id: local.id,
      version,
      createdAt: created,
      updatedAt: updated,
      syncPending: options.syncPending,
    },
    where,
  );
}

/**
 * A JSON copy of `candidate` that any store accepts and reads back the same, or why there is none: it must be
 * JSON-safe (no functions, non-finite numbers or nesting past `MAX_ENTITY_DEPTH`) and a valid entity. For what
 * comes from outside our control: remote copies and the records conflict resolvers return (built from a remote
 * copy). Why not never quotes the candidate's text (see `adoptRemoteRecord`).
 */
export function storableRecord<T extends RepositoryEntity>(
  candidate: unknown,
  where: string,
  options: StorableCopyOptions = {},
): RecordCheck<T> {
  try {
    const copy = storableCopy(candidate, where, false, options);
    assertEntity(copy, where, false);
    return { ok: true, record: copy as T };
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  }
}

const MAX_VERSION = Number.MAX_SAFE_INTEGER;

function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
