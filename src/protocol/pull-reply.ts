import { describeShape, MAX_CHECKPOINT_CHARS } from '../domain/entity.js';
import { MalformedReplyError } from '../domain/errors.js';
import type { PulledChange, PullReply } from '../domain/types.js';

/**
 * Checks what a remote's `pullChanges` resolved, asked from `since`, before the pull machine acts on it:
 * `{ reset: true }`, or a page of at most `limit` changes with a checkpoint string of 1 to `MAX_CHECKPOINT_CHARS`
 * characters and a boolean `hasMore`; a page that says `hasMore` must hold changes and move the checkpoint (a
 * client following a page that does neither would ask forever). Anything else is a `MalformedReplyError` and nothing
 * of it is applied. The changes themselves are record data, checked one by one by the store's `planPulledPage` (a
 * bad change is refused on its own, the rest of the page stored). This is the check of any remote (the HTTP remote
 * checks its wire format by schema before this).
 */
export function validatePullReply(reply: unknown, limit: number, since?: string): PullReply {
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) {
    throw new MalformedReplyError(`Pull reply must be an object, got ${describeShape(reply)}`);
  }
  const r = reply as Record<string, unknown>;
  if (r.reset === true) return { reset: true };
  if (r.reset !== undefined && r.reset !== false) {
    throw new MalformedReplyError(`Pull reply has reset ${describeShape(r.reset)}, not a boolean`);
  }
  if (!Array.isArray(r.changes)) {
    throw new MalformedReplyError(`Pull reply has no changes array (${describeShape(r.changes)})`);
  }
  if (r.changes.length > limit) {
    throw new MalformedReplyError(
      `Pull reply holds ${r.changes.length} changes, more than the ${limit} asked for`,
    );
  }
  if (
    typeof r.checkpoint !== 'string' ||
    r.checkpoint.length === 0 ||
    r.checkpoint.length > MAX_CHECKPOINT_CHARS
  ) {
    throw new MalformedReplyError(`Pull reply has no checkpoint string (${describeShape(r.checkpoint)})`);
  }
  if (typeof r.hasMore !== 'boolean') {
    throw new MalformedReplyError(`Pull reply has hasMore ${describeShape(r.hasMore)}, not a boolean`);
  }
  if (r.hasMore && r.changes.length === 0) {
    throw new MalformedReplyError('Pull reply says more changes wait but holds none');
  }
  if (r.hasMore && since !== undefined && r.checkpoint === since) {
    throw new MalformedReplyError('Pull reply says more changes wait but its checkpoint did not move');
  }
  return { changes: r.changes as PulledChange[], checkpoint: r.checkpoint, hasMore: r.hasMore };
}
