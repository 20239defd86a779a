import type { SyncProgress } from '../domain/types.js';

export type ProgressListener = (progress: SyncProgress) => void;

export interface Subscription {
  unsubscribe(): void;
}

/**
 * Progress of every entity type as a stream: a subscriber first gets the latest progress of each type, then every
 * new one. Also an async iterable, which ends when the coordinator stops.
 */
export class ProgressStream implements AsyncIterable<SyncProgress> {
  readonly #latest = new Map<string, SyncProgress>();
  readonly #listeners = new Set<ProgressListener>();
  readonly #onListenerError: (error: unknown) => void;
  #closed = false;
  readonly #closeHooks = new Set<() => void>();

  constructor(onListenerError: (error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** The latest progress of `entityType`, if it has had any. */
  latest(entityType: string): SyncProgress | undefined {
    return this.#latest.get(entityType);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  subscribe(listener: ProgressListener): Subscription {
    for (const progress of this.#latest.values()) this.#call(listener, progress);
    if (!this.#closed) this.#listeners.add(listener);
    return { unsubscribe: () => this.#listeners.delete(listener) };
  }

  publish(progress: SyncProgress): void {
    if (this.#closed) return;
    this.#latest.set(progress.entityType, progress);
    for (const listener of [...this.#listeners]) this.#call(listener, progress);
  }

  /** Ends the stream: listeners are dropped and iterators finish once they have drained. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    for (const hook of [...this.#closeHooks]) hook();
  }

  [Symbol.asyncIterator](): AsyncIterator<SyncProgress> {
    const buffer: SyncProgress[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const finish = () => {
      done = true;
      subscription.unsubscribe();
      this.#closeHooks.delete(onClose);
      wake?.();
    };
    const onClose = () => finish();
    const subscription = this.subscribe((progress) => {
      buffer.push(progress);
      wake?.();
    });
    if (this.#closed) done = true;
    else this.#closeHooks.add(onClose);
    return {
      next: async (): Promise<IteratorResult<SyncProgress>> => {
        while (buffer.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const value = buffer.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async (): Promise<IteratorResult<SyncProgress>> => {
        finish();
        buffer.length = 0;
        return { done: true, value: undefined };
      },
    };
  }

  #call(listener: ProgressListener, progress: SyncProgress): void {
    try {
      listener(progress);
    } catch (error) {
      // One broken listener must not stop progress reaching the others, nor the sync itself.
      this.#onListenerError(error);
    }
  }
}
