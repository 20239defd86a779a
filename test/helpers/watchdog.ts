import { vi } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { machineGraph } from '../../src/inspect/machine-graph.js';

/** A transition as the watchdogs name it: `source -> target: label`. */
type Transition = { source: string; target: string; label: string };

/** The transitions of `machine` that `isError` picks, named as the watchdogs' scenario keys, sorted. */
export function errorTransitionNames(
  machine: AnyStateMachine,
  isError: (t: Transition) => boolean,
): string[] {
  return machineGraph(machine)
    .transitions.filter(isError)
    .map((t) => `${t.source} -> ${t.target}: ${t.label}`)
    .sort();
}

/** Advances fake time in small steps until `promise` settles, so nothing scheduled later runs early. */
export async function settle<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => {
    done = true;
  });
  for (let step = 0; step < 2_000 && !done; step += 1) await vi.advanceTimersByTimeAsync(5);
  return promise;
}
