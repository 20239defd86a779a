import type { ProgressStream, Subscription } from '../core/progress-stream.js';
import type { SyncProgress } from '../domain/types.js';

/** What the runs of one entity type did, summed: the raw material of the summary table. */
export interface TypeRunStats {
  entityType: string;
  /** Runs that did something: pushed, pulled, retried or failed. */
  runs: number;
  /** Items acknowledged by the server, edits and deletes (an item edited mid-sync and pushed again counts twice). */
  pushed: number;
  /** Other clients' changes the pulls stored. */
  pulled: number;
  /** Local records the pulls removed: other clients' deletes (and records a reset found gone). */
  removed: number;
  /** Item failures recorded at the end of a run (retried by a later run unless dead-lettered). */
  failedItems: number;
  /** Batch pushes and page pulls that failed and were retried within a run. */
  retries: number;
  conflicts: number;
  /** Time spent in runs (in-run backoffs included, waits between runs not). */
  activeMs: number;
}

interface RunRecord {
  startedAt: number;
  endedAt: number | undefined;
  last: SyncProgress;
}

/** Whether a run pushed or pulled anything, retried, or ended in error: empty runs are left out of the figures. */
export function didSomething(progress: SyncProgress): boolean {
  return (
    progress.totalItems > 0 ||
    progress.retries > 0 ||
    progress.pulledItems > 0 ||
    progress.deletedItems > 0 ||
    progress.conflicts > 0 ||
    progress.refusedItems > 0 ||
    progress.state === 'error'
  );
}

/**
 * The figures of several trackers summed: a client whose app stopped its coordinator while offline and started a
 * new one when back has one tracker per coordinator.
 */
export function sumRunStats(entityType: string, parts: readonly TypeRunStats[]): TypeRunStats {
  const sum = (key: keyof Omit<TypeRunStats, 'entityType'>) => parts.reduce((n, p) => n + p[key], 0);
  return {
    entityType,
    runs: sum('runs'),
    pushed: sum('pushed'),
    pulled: sum('pulled'),
    removed: sum('removed'),
    failedItems: sum('failedItems'),
    retries: sum('retries'),
    conflicts: sum('conflicts'),
    activeMs: sum('activeMs'),
  };
}

/** Records every run from the progress stream, including the retry runs the coordinator starts by itself. */
export class RunTracker {
  readonly #runs = new Map<string, Map<number, RunRecord>>();
  readonly #subscription: Subscription;
  readonly #now: () => number;

  constructor(progress: ProgressStream, now: () => number = Date.now) {
    this.#now = now;
    this.#subscription = progress.subscribe((p) => this.#record(p));
  }

  stats(entityType: string): TypeRunStats {
    const stats: TypeRunStats = {
      entityType,
      runs: 0,
      pushed: 0,
      pulled: 0,
      removed: 0,
      failedItems: 0,
      retries: 0,
      conflicts: 0,
      activeMs: 0,
    };
    for (const run of this.#runs.get(entityType)?.values() ?? []) {
      const { last } = run;
      if (!didSomething(last)) continue;
      stats.runs += 1;
      stats.pushed += last.syncedItems;
      stats.pulled += last.pulledItems;
      stats.removed += last.deletedItems;
      stats.failedItems += last.failedItems;
      stats.retries += last.retries;
      stats.conflicts += last.conflicts;
      stats.activeMs += (run.endedAt ?? this.#now()) - run.startedAt;
    }
    return stats;
  }

  stop(): void {
    this.#subscription.unsubscribe();
  }

  #record(progress: SyncProgress): void {
    let runs = this.#runs.get(progress.entityType);
    if (!runs) {
      runs = new Map();
      this.#runs.set(progress.entityType, runs);
    }
    const now = this.#now();
    const run = runs.get(progress.runId) ?? { startedAt: now, endedAt: undefined, last: progress };
    run.last = progress;
    if (progress.state !== 'syncing') run.endedAt ??= now;
    runs.set(progress.runId, run);
  }
}
