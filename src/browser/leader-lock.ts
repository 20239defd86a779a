import { InvalidOptionsError } from '../domain/errors.js';

/** Why a held lock ended: this tab let it go, or another tab took it with `steal`. */
export type LockLoss = 'released' | 'stolen';

/** A lock this tab holds until it calls `release()` or another tab steals it. */
export interface HeldLock {
  /** Settles once the lock is no longer held; `'stolen'` means another tab holds it now. */
  readonly lost: Promise<LockLoss>;
  /** Lets the lock go (the next tab waiting for it gets it). Safe to call more than once, or after a steal. */
  release(): void;
}

export interface AcquireOptions {
  /** Gives up waiting: the acquisition rejects with the signal's reason. Not used with `steal`. */
  signal?: AbortSignal;
  /** Takes the lock now, even from a holder (whose `lost` settles as `'stolen'`), ahead of any tab waiting. */
  steal?: boolean;
}

/** Leader election: one holder per name at a time; the others wait in line, or steal from a silent holder. */
export interface LeaderLock {
  /** Resolves once this tab holds the lock `name`; waits behind the current holder and earlier requests. */
  acquire(name: string, options?: AcquireOptions): Promise<HeldLock>;
}

/** The part of the Web Locks API (`navigator.locks`) the election uses. */
export interface LockManagerLike {
  request(
    name: string,
    options: { mode?: 'exclusive'; signal?: AbortSignal; steal?: boolean },
    callback: (lock: unknown) => Promise<unknown>,
  ): Promise<unknown>;
}

/**
 * Leader election on the Web Locks API. The lock is held while the request's callback promise is pending, so the
 * browser releases it when the tab closes or crashes. A steal rejects the old holder's request with an `AbortError`,
 * which is how a holder learns it was displaced (its `lost` settles as `'stolen'`). `locks` defaults to
 * `navigator.locks`, looked up now; pass another `LockManagerLike` to drive it elsewhere.
 */
export function webLocks(locks: LockManagerLike | undefined = navigatorLocks()): LeaderLock {
  if (!locks) {
    throw new InvalidOptionsError(
      'The Web Locks API (navigator.locks) is not available here: pass a LeaderLock (memoryLocks() in tests)',
    );
  }
  return {
    acquire(name, options = {}) {
      return new Promise<HeldLock>((resolve, reject) => {
        let granted = false;
        let releaseHold: () => void = () => {};
        const hold = new Promise<void>((done) => (releaseHold = done));
        let lostWith: (loss: LockLoss) => void = () => {};
        const lost = new Promise<LockLoss>((done) => (lostWith = done));
        // The API refuses `signal` together with `steal` (NotSupportedError): a steal never waits anyway.
        const request = options.steal
          ? { mode: 'exclusive' as const, steal: true }
          : { mode: 'exclusive' as const, ...(options.signal ? { signal: options.signal } : {}) };
        locks
          .request(name, request, () => {
            granted = true;
            resolve({ lost, release: () => releaseHold() });
            return hold;
          })
          .then(
            () => lostWith('released'),
            (error: unknown) => (granted ? lostWith('stolen') : reject(error)),
          );
      });
    },
  };
}

function navigatorLocks(): LockManagerLike | undefined {
  return (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
}

interface LockRequest {
  callback: (lock: unknown) => Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Grant {
  settled: boolean;
  request: LockRequest;
}

/**
 * An in-memory `navigator.locks` with the semantics the election relies on (exclusive mode, a queue in request
 * order, `signal`, `steal`), shared by every "tab" that holds it: several tabs in one process, for tests.
 */
export class MemoryLockManager implements LockManagerLike {
  readonly #held = new Map<string, Grant>();
  readonly #waiting = new Map<string, LockRequest[]>();

  request(
    name: string,
    options: { mode?: 'exclusive'; signal?: AbortSignal; steal?: boolean },
    callback: (lock: unknown) => Promise<unknown>,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const request: LockRequest = { callback, resolve, reject };
      if (options.steal) {
        const held = this.#held.get(name);
        if (held) this.#settle(held, () => held.request.reject(abortError('The lock was stolen')));
        this.#grant(name, request);
        return;
      }
      const { signal } = options;
      if (signal?.aborted) return reject(signal.reason);
      if (!this.#held.has(name) && (this.#waiting.get(name)?.length ?? 0) === 0) {
        this.#grant(name, request);
        return;
      }
      const queue = this.#waiting.get(name) ?? [];
      queue.push(request);
      this.#waiting.set(name, queue);
      signal?.addEventListener(
        'abort',
        () => {
          const at = queue.indexOf(request);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** The names held now: for tests that check no lock is left behind. */
  get heldNames(): string[] {
    return [...this.#held.keys()];
  }

  #grant(name: string, request: LockRequest): void {
    const grant: Grant = { settled: false, request };
    this.#held.set(name, grant);
    let work: Promise<unknown>;
    try {
      work = Promise.resolve(request.callback({ name, mode: 'exclusive' }));
    } catch (error) {
      work = Promise.reject(error);
    }
    const end = (settle: () => void) => {
      if (this.#held.get(name) === grant) {
        this.#held.delete(name);
        this.#next(name);
      }
      this.#settle(grant, settle);
    };
    work.then(
      (value) => end(() => request.resolve(value)),
      (error: unknown) => end(() => request.reject(error)),
    );
  }

  #next(name: string): void {
    const next = this.#waiting.get(name)?.shift();
    if (next) this.#grant(name, next);
  }

  #settle(grant: Grant, settle: () => void): void {
    if (grant.settled) return;
    grant.settled = true;
    settle();
  }
}

/** Leader election in memory, shared by every tab given the same instance: `webLocks` on a `MemoryLockManager`. */
export function memoryLocks(manager: MemoryLockManager = new MemoryLockManager()): LeaderLock {
  return webLocks(manager);
}

function abortError(message: string): Error {
  return typeof DOMException === 'function'
    ? new DOMException(message, 'AbortError')
    : Object.assign(new Error(message), { name: 'AbortError' });
}
