/**
 * Pure functions over one run's pull: what the pull machine's guards and actions compute, kept apart so the
 * machine file reads as the design and each rule can be tested alone. No XState here.
 */
import { type ErrorInfo, ITEM_FAILED } from '../src/domain/errors.js';
import type { PulledPageResult, RefusedChange } from '../src/domain/types.js';
import { MAX_LISTED_FAILURES } from './batch-run.js';
import type { PullContext, PullCounts, PullInput, PullOutput } from './pull.types.js';
import { NO_PULL_COUNTS } from './pull.types.js';
import type { PullPolicy } from './run-policy.js';

export function initialPullContext(input: PullInput): PullContext {
  return {
    input,
    since: undefined,
    resetting: false,
    reply: undefined,
    page: undefined,
    more: false,
    ahead: undefined,
    counts: NO_PULL_COUNTS,
    refused: [],
    attempt: 0,
    backoffMs: 0,
    stalePages: 0,
    error: undefined,
    lastError: undefined,
    completed: false,
  };
}

/** The counts and refusal list after one applied page. */
export function addPage(
  counts: PullCounts,
  refused: readonly RefusedChange[],
  result: PulledPageResult,
): { counts: PullCounts; refused: RefusedChange[] } {
  const room = Math.max(0, MAX_LISTED_FAILURES - refused.length);
  return {
    counts: {
      ...counts,
      pulledItems: counts.pulledItems + result.pulled,
      deletedItems: counts.deletedItems + result.deleted + result.dropped,
      conflicts: counts.conflicts + result.conflicts,
      refusedItems: counts.refusedItems + result.refused.length,
      repushItems: counts.repushItems + result.repush.length,
      pages: counts.pages + 1,
      receivedChanges:
        counts.receivedChanges +
        result.pulled +
        result.deleted +
        result.conflicts +
        result.echoes +
        result.invalid,
    },
    refused:
      room > 0 && result.refused.length > 0 ? [...refused, ...result.refused.slice(0, room)] : [...refused],
  };
}

/** The error a pull that refused changes reports: the last refusal's reason, as an item failure. */
export function refusalError(refused: readonly RefusedChange[], refusedItems: number): ErrorInfo | undefined {
  const last = refused.at(-1);
  if (refusedItems === 0 || !last) return undefined;
  return { code: ITEM_FAILED, message: last.error, retryable: false };
}

export function pullOutput(context: PullContext, outcome: PullOutput['outcome']): PullOutput {
  return {
    outcome,
    counts: context.counts,
    refused: context.refused,
    error:
      outcome === 'aborted'
        ? (context.error ?? { code: 'UNEXPECTED', message: 'pull stopped', retryable: true })
        : refusalError(context.refused, context.counts.refusedItems),
    lastError: context.lastError,
  };
}

/** Epoch ms of the resets still inside the window at `now`, oldest first. */
export function recentResets(resetTimes: readonly number[], now: number, policy: PullPolicy): number[] {
  return resetTimes.filter((at) => now - at < policy.resetWindowMs).slice(-policy.maxResets);
}

/** Resets a run starting at `now` may still do. */
export function resetsAllowed(resetTimes: readonly number[], now: number, policy: PullPolicy): number {
  return Math.max(0, policy.maxResets - recentResets(resetTimes, now, policy).length);
}

/** When the oldest reset in the window leaves it: the earliest time a capped type may reset again. */
export function resetAllowedAt(resetTimes: readonly number[], now: number, policy: PullPolicy): number {
  const oldest = recentResets(resetTimes, now, policy)[0];
  return oldest === undefined ? now : oldest + policy.resetWindowMs;
}

/** What the inspector shows of a pull: the counts and where it is, never a record or the checkpoint's text. */
export interface PullView {
  counts: PullCounts;
  /** Whether the pull has a checkpoint to go on from (its text is the server's and is not shown). */
  fromCheckpoint: boolean;
  resetting: boolean;
  /** The page being applied: its number of changes. */
  pageChanges: number | undefined;
  attempt: number;
  backoffMs: number;
  lastError: PullContext['lastError'];
}

/** The pull machine's typed projection for the inspector: a renamed context field breaks the build, not the page. */
export function pullView(context: PullContext): PullView {
  return {
    counts: context.counts,
    fromCheckpoint: context.since !== undefined,
    resetting: context.resetting,
    pageChanges: context.page?.changes.length,
    attempt: context.attempt,
    backoffMs: context.backoffMs,
    lastError: context.lastError,
  };
}
