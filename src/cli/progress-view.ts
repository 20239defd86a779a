import cliProgress from 'cli-progress';
import type { ProgressStream } from '../core/progress-stream.js';
import type { SyncProgress } from '../domain/types.js';

/** Shows sync progress while it runs: live bars on a terminal, plain lines otherwise. */
export interface ProgressView {
  /** Prints a line without breaking the display. */
  note(message: string): void;
  /** Stops listening and leaves the final state on screen. Safe to call twice. */
  stop(): void;
}

export interface ProgressViewOptions {
  /** Live bars (a terminal) or plain lines (a pipe, a log, CI). */
  tty: boolean;
  /** Where bars are drawn. Default `process.stdout`. */
  stream?: NodeJS.WriteStream;
  /** Where plain lines go. Default `console.log`. */
  write?: (line: string) => void;
  /**
   * The process ends after this run (`actorsync sync`), so the automatic retry the actors schedule after a failed
   * run never happens and is not shown. Retry waits inside a run still are.
   */
  oneShot?: boolean;
}

/**
 * One entity type's progress summed over its runs, so a bar keeps growing when a later run pushes retries or
 * edits: `done` items pushed (synced or failed) out of `total` items the runs so far have covered.
 */
export class CumulativeProgress {
  #doneBefore = 0;
  #runId = 0;
  #current: SyncProgress | undefined;

  update(progress: SyncProgress): void {
    if (progress.runId !== this.#runId) {
      this.#doneBefore += this.#currentDone();
      this.#runId = progress.runId;
    }
    this.#current = progress;
  }

  get current(): SyncProgress | undefined {
    return this.#current;
  }

  get done(): number {
    return this.#doneBefore + this.#currentDone();
  }

  get total(): number {
    return this.#doneBefore + (this.#current?.totalItems ?? 0);
  }

  #currentDone(): number {
    return this.#current ? this.#current.syncedItems + this.#current.failedItems : 0;
  }
}

/**
 * A short status: what the run is doing now, or how it ended. `scheduledRetry: false` leaves out the retry the
 * actors schedule after a finished run (for a process that exits before it).
 */
export function describeStatus(
  progress: SyncProgress | undefined,
  now = Date.now(),
  maxError = 90,
  scheduledRetry = true,
): string {
  if (!progress) return 'waiting';
  const finished = progress.state !== 'syncing';
  const retry =
    progress.nextRetryAt === undefined || (finished && !scheduledRetry)
      ? ''
      : `retry in ${seconds(Math.max(0, progress.nextRetryAt - now))}`;
  if (progress.state === 'syncing') {
    // While a batch waits to be retried, `lastError` is the error it waits on (the data, not the facade's sentence).
    if (!retry || !progress.errorMessage || progress.lastError === undefined) return 'syncing';
    return `${retry} after: ${shorten(progress.lastError, maxError)}`;
  }
  if (progress.state === 'error') {
    const what =
      progress.failedItems > 0 || !progress.errorMessage
        ? `${progress.failedItems} failed`
        : shorten(progress.errorMessage, maxError);
    return `error: ${what}${retry ? `, ${retry}` : ''}`;
  }
  if (progress.state === 'synced') return '✔ synced';
  return progress.cancelled ? 'cancelled' : 'idle';
}

export function createProgressView(
  progress: ProgressStream,
  entityTypes: readonly string[],
  options: ProgressViewOptions,
): ProgressView {
  return options.tty
    ? createBarView(progress, entityTypes, options.stream ?? process.stdout)
    : createLineView(progress, options.write ?? ((line) => console.log(line)), !options.oneShot);
}

function createBarView(
  progress: ProgressStream,
  entityTypes: readonly string[],
  stream: NodeJS.WriteStream,
): ProgressView {
  const width = Math.max(...entityTypes.map((type) => type.length));
  // Sized for the terminal (80 columns if unknown); longer lines are cut at its edge, never wrapped.
  const barsize = Math.min(30, Math.max(10, (stream.columns || 80) - 62));
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      format: '  {type} {bar} {percentage}% {value}/{total}  {status}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      barsize,
      hideCursor: true,
      autopadding: true,
      linewrap: true,
      fps: 12,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map(
    entityTypes.map((type) => [
      type,
      {
        bar: multibar.create(0, 0, { type: type.padEnd(width), status: 'waiting' }),
        sum: new CumulativeProgress(),
        retries: new Map<number, number>(),
      },
    ]),
  );
  const subscription = progress.subscribe((p) => {
    const entry = bars.get(p.entityType);
    // A later run with nothing to do would only replace the last real run's status.
    if (!entry || (entry.sum.current && p.totalItems === 0 && p.retries === 0)) return;
    entry.sum.update(p);
    entry.retries.set(p.runId, p.retries);
    const retries = [...entry.retries.values()].reduce((a, b) => a + b, 0);
    const retried = retries > 0 ? ` · ${retries} ${retries === 1 ? 'retry' : 'retries'}` : '';
    entry.bar.setTotal(entry.sum.total);
    entry.bar.update(entry.sum.done, {
      status: `run ${p.runId}${retried} · ${describeStatus(p, Date.now(), 24)}`,
    });
  });
  let stopped = false;
  return {
    note: (message) => (stopped ? console.log(message) : multibar.log(`${message}\n`)),
    stop: () => {
      if (stopped) return;
      stopped = true;
      subscription.unsubscribe();
      multibar.stop();
    },
  };
}

/** Plain progress lines: a run's start, every 10%, every batch retry and its end. Empty runs print nothing. */
function createLineView(
  progress: ProgressStream,
  write: (line: string) => void,
  scheduledRetry: boolean,
): ProgressView {
  const printed = new Map<string, { runId: number; decile: number; retries: number }>();
  const subscription = progress.subscribe((p) => {
    if (p.totalItems === 0 && p.retries === 0) return;
    const last = printed.get(p.entityType);
    const seen = last?.runId === p.runId ? last : { runId: p.runId, decile: -1, retries: 0 };
    for (const line of linesFor(p, seen, scheduledRetry)) write(line);
    printed.set(p.entityType, { runId: p.runId, decile: Math.floor(p.percent / 10), retries: p.retries });
  });
  let stopped = false;
  return {
    note: (message) => write(message),
    stop: () => {
      if (stopped) return;
      stopped = true;
      subscription.unsubscribe();
    },
  };
}

function linesFor(
  p: SyncProgress,
  seen: { decile: number; retries: number },
  scheduledRetry: boolean,
): string[] {
  const head = `  ${p.entityType.padEnd(14)} run ${p.runId}`;
  const counts = `${p.syncedItems + p.failedItems}/${p.totalItems} (${p.percent}%)`;
  const lines: string[] = [];
  if (p.retries > seen.retries) lines.push(`${head}  ${describeStatus(p)}`);
  if (p.state === 'syncing' && p.totalItems > 0 && Math.floor(p.percent / 10) > seen.decile) {
    lines.push(`${head}  ${counts}  synced ${p.syncedItems}, failed ${p.failedItems}`);
  }
  if (p.state !== 'syncing') {
    lines.push(
      `${head}  ${counts}  ${describeStatus(p, Date.now(), 90, scheduledRetry)}, retries ${p.retries}`,
    );
  }
  return lines;
}

function shorten(text: string, max = 48): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
