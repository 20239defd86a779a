/** Pulled changes and pages as the reference server sends them, for the store contract and lowdb pull tests. */
import type { PulledChange, PulledPage } from '../../src/index.js';

/** A live record's change at `version` (its title names id and version unless given). */
export const live = (id: string, version: number, title = `${id}@${version}`): PulledChange => ({
  id,
  version,
  deleted: false,
  item: { id, version, createdAt: 1, updatedAt: 2, syncPending: false, title },
});

/** A tombstone's change: bookkeeping only, `deleted: true`. */
export const tombstone = (id: string, version: number): PulledChange => ({
  id,
  version,
  deleted: true,
  item: { id, version, createdAt: 1, updatedAt: 3, syncPending: false, deleted: true },
});

/** A page pulled from the beginning unless `more.since` says otherwise, with nothing after it. */
export const page = (
  changes: PulledChange[],
  checkpoint: string,
  more: Partial<PulledPage> = {},
): PulledPage => ({
  since: undefined,
  changes,
  checkpoint,
  hasMore: false,
  ...more,
});
