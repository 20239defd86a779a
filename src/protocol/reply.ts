import { MalformedReplyError } from '../domain/errors.js';
import type { ItemResult, RepositoryEntity } from '../domain/types.js';

const STATUSES: ReadonlySet<unknown> = new Set<ItemResult['status']>(['ok', 'failed', 'conflict']);
const isStatus = (value: unknown): value is ItemResult['status'] => STATUSES.has(value);

/**
 * Checks a remote's reply against the batch that was sent and returns it keyed by id. Anything off (not an array,
 * an unknown or repeated id, a bad status, a conflict without a usable server copy) makes the whole reply
 * untrustworthy: a `MalformedReplyError`, and nothing in it is marked synced. This is the one check of a reply
 * against its batch, whatever the remote: the HTTP remote runs it on the reply `fromWire` decoded, and the batch
 * actor on what any remote returns. An `ok` that names a version must name the one sent. Ids the reply leaves out are simply
 * absent from the map; the caller treats them as retryable failures. A conflict's copy is only checked for its id
 * and a numeric version here (the protocol allows a minimal `{ id, version }`): `adoptRemoteRecord` checks and
 * completes the rest before it can become a local record, failing just that item if it cannot.
 */
export function validateReply<T extends RepositoryEntity>(
  sent: readonly T[],
  reply: unknown,
): Map<string, ItemResult<T>> {
  if (!Array.isArray(reply)) {
    throw new MalformedReplyError(`Remote reply must be an array of item results, got ${kindOf(reply)}`);
  }
  const sentVersions = new Map(sent.map((item) => [item.id, item.version]));
  const results = new Map<string, ItemResult<T>>();
  reply.forEach((raw: unknown, index) => {
    const where = `Remote reply item ${index}`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new MalformedReplyError(`${where} must be an object, got ${kindOf(raw)}`);
    }
    const entry = raw as Record<string, unknown>;
    const { id, status } = entry;
    if (typeof id !== 'string' || id.length === 0) throw new MalformedReplyError(`${where} has no string id`);
    if (!sentVersions.has(id))
      throw new MalformedReplyError(`${where} names id "${id}", which was not in the batch`);
    if (results.has(id)) throw new MalformedReplyError(`${where} repeats id "${id}"`);
    if (!isStatus(status)) {
      throw new MalformedReplyError(`${where} (id "${id}") has unknown status ${JSON.stringify(status)}`);
    }
    if (status === 'ok') {
      const { version } = entry;
      const sentVersion = sentVersions.get(id);
      if (version !== undefined && version !== sentVersion) {
        // Only the exact version sent may be marked synced.
        throw new MalformedReplyError(
          `${where} acknowledged version ${JSON.stringify(version)} of "${id}", but version ${sentVersion} was sent`,
        );
      }
      results.set(id, { id, status });
    } else if (status === 'failed') {
      if (typeof entry.error !== 'string')
        throw new MalformedReplyError(`${where} (id "${id}") failed without an error message`);
      if (typeof entry.retryable !== 'boolean')
        throw new MalformedReplyError(`${where} (id "${id}") failed without a boolean retryable`);
      results.set(id, { id, status, error: entry.error, retryable: entry.retryable });
    } else {
      const remote = entry.remote as Record<string, unknown> | null | undefined;
      if (
        typeof remote !== 'object' ||
        remote === null ||
        remote.id !== id ||
        typeof remote.version !== 'number'
      ) {
        throw new MalformedReplyError(
          `${where} (id "${id}") is a conflict without a server copy of that id and a version`,
        );
      }
      results.set(id, { id, status, remote: remote as unknown as T });
    }
  });
  return results;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `a string (${JSON.stringify(value.slice(0, 60))})` : typeof value;
}
