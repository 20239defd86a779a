import { MAX_CHECKPOINT_CHARS } from './checkpoint.js';

/** The most changes one page holds; a larger `limit` is served as this. */
export const MAX_CHANGES_LIMIT = 1000;
export const DEFAULT_CHANGES_LIMIT = 100;
/** The longest long-poll, in seconds; a larger `wait` is served as this. */
export const MAX_WAIT_SECONDS = 60;

/** The query of `GET /v1/changes/{entityType}`, checked, or why it is a 400. */
export type ChangesQuery =
  | { ok: true; since: string | undefined; limit: number; waitMs: number }
  | { ok: false; error: string };

/**
 * Reads `since`, `limit` and `wait` (docs/protocol.md, "Pulling changes"). Pure; never throws for any input. Too
 * large a `limit` or `wait` is lowered to the maximum (a client must rely on `hasMore`, not on the page size);
 * anything that is not a number in range is refused.
 */
export function parseChangesQuery(params: URLSearchParams): ChangesQuery {
  const since = params.get('since') ?? undefined;
  if (since !== undefined && since.length > MAX_CHECKPOINT_CHARS) {
    return { ok: false, error: 'since is not a checkpoint of this server' };
  }
  const limit = params.get('limit');
  if (limit !== null && limit !== '' && !/^[0-9]{1,20}$/.test(limit)) {
    return { ok: false, error: `limit must be a whole number from 1 to ${MAX_CHANGES_LIMIT}` };
  }
  const pageSize = limit === null || limit === '' ? DEFAULT_CHANGES_LIMIT : Number(limit);
  if (pageSize < 1)
    return { ok: false, error: `limit must be a whole number from 1 to ${MAX_CHANGES_LIMIT}` };
  const wait = params.get('wait');
  if (wait !== null && wait !== '' && !/^[0-9]{1,20}(\.[0-9]{1,3})?$/.test(wait)) {
    return { ok: false, error: `wait must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}` };
  }
  const waitSeconds = wait === null || wait === '' ? 0 : Number(wait);
  return {
    ok: true,
    since,
    limit: Math.min(pageSize, MAX_CHANGES_LIMIT),
    waitMs: Math.round(Math.min(waitSeconds, MAX_WAIT_SECONDS) * 1000),
  };
}
