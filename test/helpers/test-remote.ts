import type { ItemResult, RemoteDataSource, RepositoryEntity, SyncBatchContext } from '../../src/index.js';
import { SyncServerState } from '../../src/server/server-state.js';

export interface RecordedCall {
  batchId: string;
  entityType: string;
  ids: string[];
  versions: number[];
  signal: AbortSignal;
}

type Fault = (call: RecordedCall) => unknown;

/**
 * An in-process remote backed by the reference server's state machine (no HTTP: that comes with the server).
 * Tests steer it: hold a batch in flight, throw for the next calls, reject ids, tamper with replies.
 */
export class TestRemote<T extends RepositoryEntity = RepositoryEntity> implements RemoteDataSource<T> {
  readonly server = new SyncServerState();
  readonly calls: RecordedCall[] = [];
  readonly #faults: Fault[] = [];
  readonly #rejects = new Map<string, { error: string; retryable: boolean }>();
  #hold: { reached: () => void; released: Promise<void> } | undefined;
  /** Most calls in flight at once: proves runs of one type never overlap. */
  maxInFlight = 0;
  #inFlight = 0;
  tamper: ((reply: ItemResult<T>[], call: RecordedCall) => unknown) | undefined;

  async syncBatch(items: readonly T[], context: SyncBatchContext): Promise<ItemResult<T>[]> {
    const call: RecordedCall = {
      batchId: context.batchId,
      entityType: context.entityType,
      ids: items.map((i) => i.id),
      versions: items.map((i) => i.version),
      signal: context.signal,
    };
    this.calls.push(call);
    this.#inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    try {
      return await this.#answer(items, context, call);
    } finally {
      this.#inFlight -= 1;
    }
  }

  async #answer(
    items: readonly T[],
    context: SyncBatchContext,
    call: RecordedCall,
  ): Promise<ItemResult<T>[]> {
    const hold = this.#hold;
    if (hold) {
      this.#hold = undefined;
      hold.reached();
      await Promise.race([hold.released, aborted(context.signal)]);
    }
    if (context.signal.aborted) throw context.signal.reason;
    const fault = this.#faults.shift();
    if (fault) {
      const thrown = fault(call);
      if (thrown !== undefined) throw thrown;
    }
    const reply = this.server.apply(context.entityType, context.batchId, items, (item) =>
      this.#rejects.get(item.id),
    );
    return (this.tamper ? this.tamper(reply as ItemResult<T>[], call) : reply) as ItemResult<T>[];
  }

  /** The next call waits until `release()`; `reached` resolves once it is in flight. */
  holdNext(): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#hold = { reached, released };
    return { reached: reachedPromise, release };
  }

  /** The next `count` calls throw `error` (before the server applies anything). */
  failNext(count: number, error: () => unknown): void {
    for (let i = 0; i < count; i += 1) this.#faults.push(() => error());
  }

  /** The next `count` calls get no fault: a later `failNext` hits the calls after them. */
  passNext(count: number): void {
    for (let i = 0; i < count; i += 1) this.#faults.push(() => undefined);
  }

  /** Every push of `id` fails with `error`. */
  reject(id: string, error: string, retryable: boolean): void {
    this.#rejects.set(id, { error, retryable });
  }

  clearRejects(): void {
    this.#rejects.clear();
  }

  stored(entityType: string, id: string) {
    return this.server.get(entityType, id);
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
