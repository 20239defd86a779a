import cliProgress from 'cli-progress';
import type { ProgressStream } from '../core/progress-stream.js';
import type { SyncProgress } from '../domain/types.js';
import { didSomething } from './run-stats.js';

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

/** The progress of one client, named in front of its lines and bars (the demo's `phone` and `laptop`). */
export interface ProgressSource {
  label: string;
  progress: ProgressStream;
}

/** One progress stream (lines and bars as they were), or several clients' streams, each line led by its label. */
export function createProgressView(
  progress: ProgressStream | readonly ProgressSource[],
  entityTypes: readonly string[],
  options: ProgressViewOptions,
): ProgressView {
  const sources = Array.isArray(progress)
    ? (progress as readonly ProgressSource[])
    : [{ label: '', progress: progress as ProgressStream }];
  const width = Math.max(0, ...sources.map((source) => source.label.length));
  const labelled = sources.map((source) => ({
    progress: source.progress,
    label: source.label ? `${source.label.padEnd(width)} ` : '',
  }));
  if (options.tty) return createBarView(labelled, entityTypes, options.stream ?? process.stdout);
  const write = options.write ?? ((line: string) => console.log(line));
  const views = labelled.map((source) => createLineView(source, write, !options.oneShot));
  return {
    note: (message) => write(message),
    stop: () => {
      for (const view of views) view.stop();
    },
  };
}

function createBarView(
  sources: readonly ProgressSource[],
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
  const subscriptions = sources.map(({ label, progress }) => {
    const bars = new Map(
      entityTypes.map((type) => [
        type,
        {
          bar: multibar.create(0, 0, { type: `${label}${type.padEnd(width)}`, status: 'waiting' }),
          sum: new CumulativeProgress(),
          retries: new Map<number, number>(),
          pulled: new Map<number, number>(),
        },
      ]),
    );
    return progress.subscribe((p) => {
      const entry = bars.get(p.entityType);
      // A later run with nothing to do would only replace the last real run's status.
      if (!entry || (entry.sum.current && !didSomething(p))) return;
      entry.sum.update(p);
      entry.retries.set(p.runId, p.retries);
      entry.pulled.set(p.runId, p.pulledItems + p.deletedItems);
      const retries = [...entry.retries.values()].reduce((a, b) => a + b, 0);
      const pulled = [...entry.pulled.values()].reduce((a, b) => a + b, 0);
      const retried = retries > 0 ? ` · ${retries} ${retries === 1 ? 'retry' : 'retries'}` : '';
      const pulledPart = pulled > 0 ? ` · ${pulled} pulled` : '';
      entry.bar.setTotal(entry.sum.total);
      entry.bar.update(entry.sum.done, {
        status: `run ${p.runId}${retried}${pulledPart} · ${describeStatus(p, Date.now(), 24)}`,
      });
    });
  });
  let stopped = false;
  return {
    note: (message) => (stopped ? console.log(message) : multibar.log(`${message}\n`)),
    stop: () => {
      if (stopped) return;
      stopped = true;
      for (const subscription of subscriptions) subscription.unsubscribe();
      multibar.stop();
    },
  };
}

/**
 * Plain progress lines: a run's start, every 10% of its push, every retry and its end (with what it pulled). Runs
 * that did nothing print nothing.
 */
function createLineView(
  source: ProgressSource,
  write: (line: string) => void,
  scheduledRetry: boolean,
): { stop(): void } {
  const printed = new Map<string, { runId: number; decile: number; retries: number }>();
  const subscription = source.progress.subscribe((p) => {
    if (!didSomething(p)) return;
    const last = printed.get(p.entityType);
    const seen = last?.runId === p.runId ? last : { runId: p.runId, decile: -1, retries: 0 };
    for (const line of linesFor(p, seen, scheduledRetry, source.label)) write(line);
    printed.set(p.entityType, { runId: p.runId, decile: Math.floor(p.percent / 10), retries: p.retries });
  });
  let stopped = false;
  return {
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
  label: string,
): string[] {
  const head = `  ${label}${p.entityType.padEnd(14)} run ${p.runId}`;
  const counts = `${p.syncedItems + p.failedItems}/${p.totalItems} (${p.percent}%)`;
  const lines: string[] = [];
  if (p.retries > seen.retries) lines.push(`${head}  ${describeStatus(p)}`);
  if (p.state === 'syncing' && p.totalItems > 0 && Math.floor(p.percent / 10) > seen.decile) {
    lines.push(`${head}  ${counts}  synced ${p.syncedItems}, failed ${p.failedItems}`);
  }
  if (p.state !== 'syncing') {
    lines.push(
      `${head}  ${counts}  ${describeStatus(p, Date.now(), 90, scheduledRetry)}, retries ${p.retries}${pullCounts(p)}`,
    );
  }
  return lines;
}

/** `, pulled 480, removed 20, 3 conflicts`: what a run's pull did, the parts that are not zero. */
function pullCounts(p: SyncProgress): string {
  const parts = [
    p.pulledItems > 0 ? `pulled ${p.pulledItems}` : '',
    p.deletedItems > 0 ? `removed ${p.deletedItems}` : '',
    p.conflicts > 0 ? `${p.conflicts} conflict${p.conflicts === 1 ? '' : 's'}` : '',
    p.refusedItems > 0 ? `refused ${p.refusedItems}` : '',
  ].filter(Boolean);
  return parts.length ? `, ${parts.join(', ')}` : '';
}

function shorten(text: string, max = 48): string {
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
