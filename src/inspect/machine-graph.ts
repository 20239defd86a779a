import { type AnyStateMachine, type AnyStateNode, not, or } from 'xstate';

/**
 * XState's `not` and `or` guards, told apart by their `check` function (shared by every guard each builds), not by
 * a function name a minifier may change.
 */
const checkOf = (guard: unknown): unknown => (guard as { check?: unknown }).check;
const NOT_CHECK = checkOf(not('guard'));
const OR_CHECK = checkOf(or(['guard']));

/** A machine's states and transitions, for drawing its chart. */
export interface MachineGraph {
  id: string;
  states: { path: string; key: string; parent: string | undefined; initial: boolean; final: boolean }[];
  /** `source` is a state's path, or `*` for the machine's own handlers, which apply in every state. */
  transitions: { source: string; target: string; label: string }[];
}

/** A readable label for a transition's event: `after(backoff)`, `done(pushBatch)`, `always`. */
export function transitionLabel(eventType: string, guard?: string): string {
  let label = eventType;
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) label = `after(${after[1]})`;
  else if (eventType === '') label = 'always';
  else if (eventType.startsWith('xstate.done.actor.')) label = `done(${srcName(eventType.slice(18))})`;
  else if (eventType.startsWith('xstate.error.actor.')) label = `error(${srcName(eventType.slice(19))})`;
  return guard ? `${label} [${guard}]` : label;
}

/** Invoked actors get ids like `0.batchPush.pushing`; show the state they belong to. */
function srcName(actorId: string): string {
  const parts = actorId.split('.');
  return parts.length > 2 ? (parts.at(-1) ?? actorId) : actorId;
}

function guardName(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  const g = guard as { type?: unknown; guards?: unknown[] } | undefined;
  if (!g) return undefined;
  if (typeof g.type === 'string' && !g.type.startsWith('xstate.')) return g.type;
  // XState's `and`, `or` and `not` hold their operands in `guards`.
  if (Array.isArray(g.guards)) {
    // A compound operand keeps its parentheses: `!(a && (b || c))`.
    const operands = g.guards
      .map(guardName)
      .filter((name): name is string => name !== undefined)
      .map((name) => (name.includes(' ') ? `(${name})` : name));
    const check = checkOf(guard);
    if (check === NOT_CHECK) return `!${operands.join(' && ')}`;
    return operands.join(check === OR_CHECK ? ' || ' : ' && ');
  }
  return undefined;
}

/** Walks the machine definition (never a running actor), so the chart is what the code says. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const graph: MachineGraph = { id: machine.id, states: [], transitions: [] };
  const pathOf = (node: AnyStateNode) => node.path.join('.');
  const visit = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      graph.states.push({
        path: pathOf(child),
        key: child.key,
        parent: node === machine.root ? undefined : pathOf(node),
        initial: node.initial?.target?.[0] === child,
        final: child.type === 'final',
      });
      for (const [eventType, transitions] of child.transitions) {
        for (const transition of transitions) {
          for (const target of transition.target ?? []) {
            graph.transitions.push({
              source: pathOf(child),
              target: pathOf(target),
              label: transitionLabel(eventType, guardName(transition.guard)),
            });
          }
        }
      }
      for (const transition of child.always ?? []) {
        for (const target of transition.target ?? []) {
          graph.transitions.push({
            source: pathOf(child),
            target: pathOf(target),
            label: transitionLabel('', guardName(transition.guard)),
          });
        }
      }
      visit(child);
    }
  };
  // Handlers on the machine itself apply in every state: source '*'.
  for (const [eventType, transitions] of machine.root.transitions) {
    for (const transition of transitions) {
      for (const target of transition.target ?? []) {
        graph.transitions.push({
          source: '*',
          target: pathOf(target),
          label: transitionLabel(eventType, guardName(transition.guard)),
        });
      }
    }
  }
  visit(machine.root);
  return graph;
}
