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
