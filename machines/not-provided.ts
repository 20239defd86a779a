import { fromPromise } from 'xstate';

/**
 * A stand-in for an I/O actor a machine cannot do without: `createSyncMachine(deps)` (or `.provide()`) supplies
 * the real one. Running without it fails the run with a message that names the machine and the actor.
 */
export function notProvided<TOutput, TInput>(machine: string, name: string) {
  return fromPromise<TOutput, TInput>(async () => {
    throw new Error(`${machine}: actor "${name}" was not provided`);
  });
}
