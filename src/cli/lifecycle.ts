import { clampDelay } from '../core/timers.js';
import { errorMessage } from '../domain/errors.js';

/** Cleanups not yet run, so a crash (an uncaught error) can still release locks and close servers. */
const pending = new Set<Cleanup>();

/** Things to undo at exit, run last-in first-out exactly once, whether the command ends or is interrupted. */
export class Cleanup {
  readonly #tasks: (() => unknown)[] = [];
  #running: Promise<void> | undefined;

  constructor() {
    pending.add(this);
  }

  add(task: () => unknown): void {
    this.#tasks.push(task);
  }

  run(): Promise<void> {
    pending.delete(this);
    this.#running ??= this.#runAll();
    return this.#running;
  }

  async #runAll(): Promise<void> {
    for (const task of this.#tasks.reverse()) {
      try {
        await task();
      } catch (error) {
        process.stderr.write(`actorsync: cleanup failed: ${errorMessage(error)}\n`);
      }
    }
  }
}

/** Runs every cleanup that has not run yet: the last thing done before the process exits on a crash. */
export async function runPendingCleanups(): Promise<void> {
  await Promise.all([...pending].map((cleanup) => cleanup.run()));
}

/** The exit code of a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : 143;
}

/**
 * Runs `cleanup` on SIGINT or SIGTERM, then exits with 130 (128 + SIGINT) or 143. Returns a function that removes
 * the handlers again once the command has cleaned up by itself.
 */
export function cleanUpOnSignal(cleanup: Cleanup, onSignal?: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    onSignal?.(signal);
    void cleanup.run().finally(() => process.exit(signalExitCode(signal)));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
}

export interface Interruption {
  /** The first signal received, if any. */
  readonly signal: NodeJS.Signals | undefined;
  /** Removes the handlers. */
  remove(): void;
}

/**
 * A graceful stop: the first SIGINT or SIGTERM calls `onFirst` (cancel the work, let the command report and clean
 * up by itself); a second one runs `cleanup` and exits at once.
 */
export function interruptGracefully(
  cleanup: Cleanup,
  onFirst: (signal: NodeJS.Signals) => void,
): Interruption {
  let first: NodeJS.Signals | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (first === undefined) {
      first = signal;
      onFirst(signal);
      return;
    }
    void cleanup.run().finally(() => process.exit(signalExitCode(first ?? signal)));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    get signal() {
      return first;
    },
    remove: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

/** Waits `ms`, clamped: Node would run a delay above 2^31-1 ms after 1 ms, and a negative or NaN one at once. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, clampDelay(ms)));
}
