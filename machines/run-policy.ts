import type { ConflictPolicy, RetryPolicy } from '../src/domain/types.js';

/** Pushes of one run in flight at once unless the options say otherwise (docs/performance.md). */
export const DEFAULT_MAX_BATCHES_IN_FLIGHT = 2;

/**
 * How every run goes: the coordinator's options, resolved once by the facade and handed down the three machines
 * unchanged (coordinator → entity actor → batch actor), so a new setting is added in one place.
 */
export interface RunPolicy {
  /** Items per batch. */
  batchSize: number;
  retry: RetryPolicy;
  conflicts: ConflictPolicy;
  /**
   * Pushes of one run in flight at once, any positive integer. Pages are loaded and pushed ahead while earlier
   * batches' requests are out; results are still handled strictly in batch order.
   */
  maxBatchesInFlight: number;
  pull: PullPolicy;
}

/** Changes asked for per pulled page unless the options say otherwise (the reference server's most). */
export const DEFAULT_PULL_PAGE_SIZE = 1_000;

/** The pull settings unless the options say otherwise. */
export const DEFAULT_PULL_POLICY: PullPolicy = {
  pageSize: DEFAULT_PULL_PAGE_SIZE,
  liveWaitSeconds: 25,
  maxResets: 3,
  resetWindowMs: 60 * 60 * 1000,
};

/** How pulls go (the push's retry policy applies to their requests too). */
export interface PullPolicy {
  /** Changes asked for per page; a server may send fewer. */
  pageSize: number;
  /** Seconds a live type's held request may wait for a change (the server may answer sooner). */
  liveWaitSeconds: number;
  /**
   * Resets (pulls from the beginning the server asked for) allowed per entity type within `resetWindowMs`; one
   * more ends the run with `PULL_RESET_LIMIT` until the window has passed. A server that answered reset to every
   * request would otherwise have a client re-download everything in a loop.
   */
  maxResets: number;
  resetWindowMs: number;
}

/**
 * The clock and the id and jitter sources of `SyncDeps` (`runSources(deps)`), handed down with the policy: the
 * machines read time, mint batch keys and draw jitter only through these, never from globals.
 */
export interface RunSources {
  /** Epoch ms. */
  now: () => number;
  /** A fresh unique key per run, the stem of its batch ids (the server's idempotency keys). */
  newBatchKey: () => string;
  /** Jitter for backoff, in [0, 1). */
  random: () => number;
}
