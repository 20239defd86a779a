import type { Subscription } from '../core/progress-stream.js';
import type { LocalChange, LocalChangeListener } from '../domain/types.js';
import type { ExternalStore } from './progress-store.js';

/** What a read of local records shows: its result, whether the first read is still out, and the last read's error. */
export interface LiveQuerySnapshot<T> {
  /** The last read's result; `undefined` until the first read resolved. */
  readonly data: T | undefined;
  /** True until the first read settled. Later reads keep showing the previous result, so never loading again. */
  readonly loading: boolean;
  /** Why the last read failed (the previous result stays in `data`), or why changes cannot be watched. */
  readonly error: Error | undefined;
}

export interface LiveQueryOptions<T> {
  read: () => Promise<T>;
  /** Subscribes to the local changes that may change what `read` returns (`Repository.subscribe`). */
  watch: (listener: LocalChangeListener) => Subscription;
  /** Whether a change may change the result: default every change. */
  affects?: (change: LocalChange) => boolean;
}

/** How many reads a query made: tests and the render figures read it. */
export interface LiveQueryStats {
  reads: number;
  changes: number;
}

const INITIAL: LiveQuerySnapshot<never> = Object.freeze({ data: undefined, loading: true, error: undefined });

/**
 * A read of local records kept up to date as an external store: it reads when its first listener subscribes, and
 * again after each change that affects it, until its last listener leaves.
 *
 * Reads run one at a time, and every change that arrives while one is out is covered by a single read after it: a
 * burst of writes costs at most two reads and two renders however long it is, and a read never resolves after a newer
 * one, so a view never goes back to older records. A read starts in the next task (`setTimeout(0)`), not at once:
 * writes chained by promises (a thousand saves of a memory store) all land within one task and are read once.
 */
export class LiveQuery<T> implements ExternalStore<LiveQuerySnapshot<T>> {
  readonly stats: LiveQueryStats = { reads: 0, changes: 0 };
  readonly #options: LiveQueryOptions<T>;
  readonly #listeners = new Set<() => void>();
  #snapshot: LiveQuerySnapshot<T> = INITIAL;
  #subscription: Subscription | undefined;
  /** Why changes cannot be watched: shown as the error of every snapshot, since the view will not follow writes. */
  #watchError: Error | undefined;
  /** A change (or a new subscriber) the last read started does not cover. */
  #stale = false;
  /** A read is scheduled or out: the loop in `#readWhileStale` will see `#stale`. */
  #busy = false;

  constructor(options: LiveQueryOptions<T>) {
    this.#options = options;
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      // React calls each unsubscribe once; a second call must not stop the query under another listener.
      if (!this.#listeners.delete(listener)) return;
      if (this.#listeners.size === 0) this.#stop();
    };
  };

  readonly getSnapshot = (): LiveQuerySnapshot<T> => this.#snapshot;

  #start(): void {
    this.#watchError = undefined;
    try {
      this.#subscription = this.#options.watch((change) => {
        this.stats.changes++;
        if (this.#options.affects?.(change) ?? true) this.#invalidate();
      });
    } catch (error) {
      // A store that cannot report changes: the view still shows one read, with the reason it will not update.
      this.#watchError = toError(error);
    }
    // Whatever was read before (a StrictMode remount, a view shown again) may have changed while nobody watched.
    this.#invalidate();
  }

  #stop(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
  }

  #invalidate(): void {
    this.#stale = true;
    if (this.#busy) return;
    this.#busy = true;
    setTimeout(() => void this.#readWhileStale(), 0);
  }

  async #readWhileStale(): Promise<void> {
    try {
      while (this.#stale && this.#listeners.size > 0) {
        this.#stale = false;
        this.stats.reads++;
        try {
          const data = await this.#options.read();
          this.#publish({ data, loading: false, error: this.#watchError });
        } catch (error) {
          this.#publish({ data: this.#snapshot.data, loading: false, error: toError(error) });
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  #publish(snapshot: LiveQuerySnapshot<T>): void {
    this.#snapshot = snapshot;
    for (const listener of [...this.#listeners]) listener();
  }
}

function toError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(String(thrown));
}
