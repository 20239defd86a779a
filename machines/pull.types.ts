import type { ErrorInfo } from '../src/domain/errors.js';
import type {
  ConflictPolicy,
  PulledPage,
  PulledPageResult,
  PullReply,
  RefusedChange,
} from '../src/domain/types.js';
import type { RunPolicy, RunSources } from './run-policy.js';

export interface PullInput {
  entityType: string;
  runId: number;
  policy: RunPolicy;
  sources: RunSources;
  /** Resets this run may still start (the entity actor counts the recent ones against `policy.pull.maxResets`). */
  resetsAllowed: number;
}

/** The counts of one run's pull so far. */
export interface PullCounts {
  /** Changes written as the local record (new or newer versions). */
  pulledItems: number;
  /** Local records removed: by pulled tombstones, and by a finished reset (records the server no longer has). */
  deletedItems: number;
  /** Pulled changes that met a pending local change, resolved by the conflict policy. */
  conflicts: number;
  /** Pulled changes refused (not a valid record, or a conflict the policy could not resolve). */
  refusedItems: number;
  /** Conflicts resolved to a local change that must be pushed (client-wins, a merge): the next run sends them. */
  repushItems: number;
  /** Pages applied. */
  pages: number;
  /** Changes the pages held, echoes of the client's own writes included. */
  receivedChanges: number;
  /** Pulls from the beginning the server asked for. */
  resets: number;
  /** Page requests that failed and were tried again. */
  retries: number;
}

export const NO_PULL_COUNTS: PullCounts = {
  pulledItems: 0,
  deletedItems: 0,
  conflicts: 0,
  refusedItems: 0,
  repushItems: 0,
  pages: 0,
  receivedChanges: 0,
  resets: 0,
  retries: 0,
};

export interface PullContext {
  input: PullInput;
  /** Where the next page is pulled from: the stored checkpoint, then each page's. `undefined`: the beginning. */
  since: string | undefined;
  /** The pages belong to a pull from the beginning the server asked for. */
  resetting: boolean;
  /** The reply just fetched (or taken from `ahead`), until it is acted on. */
  reply: FetchPageOutput | undefined;
  /** The page fetched and being applied. */
  page: PulledPage | undefined;
  /** The last page applied said more changes wait. */
  more: boolean;
  /**
   * The next page, fetched while the current one is written: from which checkpoint, its reply once in, or that it
   * failed (it is then fetched again the ordinary way).
   */
  ahead: { since: string; reply?: FetchPageOutput; failed?: true } | undefined;
  counts: PullCounts;
  /** The first `MAX_LISTED_FAILURES` refused changes (`counts.refusedItems` counts them all). */
  refused: RefusedChange[];
  /** Failed requests of the current page in a row. */
  attempt: number;
  /** The current (or last) retry wait. */
  backoffMs: number;
  /** Pages refused as late because the store moved meanwhile, in a row: the checkpoint is read again. */
  stalePages: number;
  /** What ended the pull early. */
  error: ErrorInfo | undefined;
  /** The last error of any kind, even one the pull recovered from. */
  lastError: ErrorInfo | undefined;
  /** Set on reaching the end of the feed. */
  completed: boolean;
}

export interface PullOutput {
  outcome: 'completed' | 'aborted';
  counts: PullCounts;
  refused: RefusedChange[];
  /** What ended the pull early, or what the refused changes were refused for; `undefined` for a clean pull. */
  error: ErrorInfo | undefined;
  lastError: ErrorInfo | undefined;
}

/** Events the pull actor sends its parent. */
export type PullToParentEvent =
  | { type: 'PULL.PROGRESS'; counts: PullCounts }
  | { type: 'PULL.RETRYING'; counts: PullCounts; error: ErrorInfo; retryAt: number; attempt: number };

// Inputs and outputs of the injected I/O actors.
export interface ReadCheckpointInput {
  entityType: string;
}
export type ReadCheckpointOutput = string | undefined;
export interface FetchPageInput {
  entityType: string;
  since: string | undefined;
  limit: number;
}
export type FetchPageOutput = PullReply;
export interface ApplyPageInput {
  entityType: string;
  page: PulledPage;
  conflicts: ConflictPolicy;
}
export type ApplyPageOutput = PulledPageResult;
export interface WatchChangesInput {
  entityType: string;
  waitSeconds: number;
}
/** `changed`: the feed holds changes after the stored checkpoint (or the server asks for a reset). */
export type WatchChangesOutput = 'changed' | 'quiet';
