import { errorMessage } from '../domain/errors.js';

/** Things to undo at exit, run last-in first-out exactly once, whether the command ends or is interrupted. */
export class Cleanup {
  readonly #tasks: (() => unknown)[] = [];
  #running: Promise<void> | undefined;

  add(task: () => unknown): void {
    this.#tasks.push(task);
  }

  run(): Promise<void> {
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

/**
 * Runs `cleanup` on SIGINT or SIGTERM, then exits with 130 (128 + SIGINT) or 143. Returns a function that removes
 * the handlers again once the command has cleaned up by itself.
 */
export function cleanUpOnSignal(cleanup: Cleanup, onSignal?: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals) => {
    onSignal?.(signal);
    void cleanup.run().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
