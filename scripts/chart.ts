/**
 * Mermaid state charts generated from the machine definitions, so the diagrams in docs/architecture.md cannot
 * drift from the code. Pure: no I/O here; scripts/generate-charts.ts writes the result into the doc.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { batchPushMachine, coordinatorMachine, entitySyncMachine, pullMachine } from '../machines/index.js';

export const CHARTS_BEGIN = '<!-- charts:begin -->';
export const CHARTS_END = '<!-- charts:end -->';

const INDENT = '  ';
const AFTER_PREFIX = 'xstate.after.';
const DONE_ACTOR_PREFIX = 'xstate.done.actor.';
const ERROR_ACTOR_PREFIX = 'xstate.error.actor.';
const DONE_STATE_PREFIX = 'xstate.done.state.';

/** Mermaid ids per state node: the key where it is unique in the machine, else the path joined by `_`. */
type NodeIds = Map<AnyStateNode, string>;

/** The Mermaid `stateDiagram-v2` text of `machine`, in definition order. */
export function toMermaid(machine: AnyStateMachine): string {
  const ids = nodeIds(machine.root);
  const lines = ['stateDiagram-v2', ...renderChildren(machine.root, ids, INDENT)];
  // The root's own handlers have no target, so no arrow shows them: a note keeps them visible.
  const handled = handledWithoutTarget(machine.root);
  const first = childNodes(machine.root)[0];
  if (handled.length > 0 && first) {
    lines.push(...note(idOf(first, ids), 'In every state (actions only):', handled, INDENT));
  }
  // The root's own transitions with a target leave any state: drawn from a pseudo-state so they are visible.
  const fromAnyState = transitionsOf(machine.root).filter((t) => t.target && t.target.length > 0);
  if (fromAnyState.length > 0) lines.push(`${INDENT}state "any state" as anyState`);
  for (const transition of fromAnyState) {
    for (const target of transition.target ?? []) {
      lines.push(`${INDENT}anyState --> ${idOf(target, ids)}: ${labelOf(transition, machine.root)}`);
    }
  }
  return lines.join('\n');
}

/** The generated section of docs/architecture.md: one chart per machine of the actor tree, root first. */
export function renderArchitectureCharts(): string {
  const sections = [coordinatorMachine, entitySyncMachine, batchPushMachine, pullMachine].map((machine) =>
    [`### ${machine.id}`, '', '```mermaid', toMermaid(machine), '```'].join('\n'),
  );
  return [
    '<!-- Generated from the machine definitions by `npm run docs:charts`; do not edit by hand. -->',
    '',
    sections.join('\n\n'),
  ].join('\n');
}

/**
 * `doc` with the text between the chart markers replaced by `charts`. Throws if the markers are missing or out
 * of order, so a broken doc is never silently rewritten.
 */
export function applyCharts(doc: string, charts: string): string {
  const begin = doc.indexOf(CHARTS_BEGIN);
  const end = doc.indexOf(CHARTS_END);
  if (begin === -1 || end === -1 || end < begin) {
    throw new Error(`Expected the markers ${CHARTS_BEGIN} and ${CHARTS_END}, in that order`);
  }
  return `${doc.slice(0, begin + CHARTS_BEGIN.length)}\n\n${charts}\n\n${doc.slice(end)}`;
}

function renderChildren(node: AnyStateNode, ids: NodeIds, indent: string): string[] {
  // States whose key is not unique in the machine get an alias, shown under their key.
  const lines = childNodes(node)
    .filter((child) => idOf(child, ids) !== child.key)
    .map((child) => `${indent}state "${child.key}" as ${idOf(child, ids)}`);
  if (node.type === 'parallel') {
    // Orthogonal regions: Mermaid separates them with `--`.
    childNodes(node).forEach((region, i) => {
      if (i > 0) lines.push(`${indent}--`);
      lines.push(...renderState(region, ids, indent));
    });
    return lines;
  }
  const initial = node.type === 'compound' ? node.initial.target : [];
  for (const target of initial) lines.push(`${indent}[*] --> ${idOf(target, ids)}`);
  for (const child of childNodes(node)) lines.push(...renderState(child, ids, indent));
  return lines;
}

function renderState(node: AnyStateNode, ids: NodeIds, indent: string): string[] {
  const id = idOf(node, ids);
  const lines: string[] = [];
  if (node.type === 'compound' || node.type === 'parallel') {
    lines.push(`${indent}state ${id} {`, ...renderChildren(node, ids, indent + INDENT));
    const handled = handledWithoutTarget(node);
    const first = childNodes(node)[0];
    if (handled.length > 0 && first) {
      lines.push(
        ...note(idOf(first, ids), `Anywhere in ${node.key} (actions only):`, handled, indent + INDENT),
      );
    }
    lines.push(`${indent}}`);
  }
  for (const transition of transitionsOf(node)) {
    const label = labelOf(transition, node);
    for (const target of transition.target ?? [])
      lines.push(`${indent}${id} --> ${idOf(target, ids)}: ${label}`);
  }
  if (node.type === 'final') lines.push(`${indent}${id} --> [*]`);
  if (node.type !== 'compound' && node.type !== 'parallel') {
    const handled = handledWithoutTarget(node);
    if (handled.length > 0) lines.push(...note(id, 'Actions only:', handled, indent));
  }
  return lines;
}

/** Eventful transitions (delayed ones included) in definition order, then the eventless `always` ones. */
function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[] {
  const eventful = [...node.transitions.values()].flat();
  return [...eventful, ...(node.always ?? [])];
}

/**
 * The events a node handles with actions only (no target), each once, in definition order. An event with one
 * such handler shows its guard; one with several (guarded branches) shows just the event. Self-targeting
 * transitions (`reenter`) have a target and are drawn as arrows instead.
 */
function handledWithoutTarget(node: AnyStateNode): string[] {
  const byEvent = new Map<string, AnyTransitionDefinition[]>();
  for (const transition of transitionsOf(node)) {
    if (transition.target && transition.target.length > 0) continue;
    const event = eventLabel(String(transition.eventType), node);
    byEvent.set(event, [...(byEvent.get(event) ?? []), transition]);
  }
  return [...byEvent].map(([event, handlers]) =>
    handlers.length === 1 && handlers[0] ? labelOf(handlers[0], node) : event,
  );
}

function note(target: string, heading: string, items: readonly string[], indent: string): string[] {
  return [
    `${indent}note right of ${target}`,
    `${indent}${INDENT}${heading}`,
    ...items.map((item) => `${indent}${INDENT}${item}`),
    `${indent}end note`,
  ];
}

/** `EVENT [guard]`, with XState's internal event types made readable. */
function labelOf(transition: AnyTransitionDefinition, source: AnyStateNode): string {
  const guard = transition.guard === undefined ? undefined : guardLabel(transition.guard);
  const parts = [eventLabel(String(transition.eventType), source)];
  if (guard !== undefined) parts.push(`[${guard}]`);
  if (transition.reenter) parts.push('(reenter)');
  return parts.join(' ');
}

function eventLabel(eventType: string, source: AnyStateNode): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith(AFTER_PREFIX)) return `after(${delayLabel(eventType, source)})`;
  if (eventType.startsWith(DONE_ACTOR_PREFIX)) {
    return `done(${actorLabel(eventType.slice(DONE_ACTOR_PREFIX.length), source)})`;
  }
  if (eventType.startsWith(ERROR_ACTOR_PREFIX)) {
    return `error(${actorLabel(eventType.slice(ERROR_ACTOR_PREFIX.length), source)})`;
  }
  if (eventType.startsWith(DONE_STATE_PREFIX)) return 'onDone';
  return eventType;
}

/** The delay's name (`backoff`), or its length for a literal delay (`500ms`). */
function delayLabel(eventType: string, source: AnyStateNode): string {
  const delayed = source.after.find((transition) => transition.eventType === eventType);
  if (typeof delayed?.delay === 'string') return delayed.delay;
  if (typeof delayed?.delay === 'number') return `${delayed.delay}ms`;
  // Inline delay functions: the event type is `xstate.after.<delay>.<source id>`.
  const inner = eventType.slice(AFTER_PREFIX.length);
  const suffix = `.${source.id}`;
  return inner.endsWith(suffix) ? inner.slice(0, -suffix.length) : inner;
}

/** An invoked actor by its source name (`pushBatch`) rather than its generated id; spawned children by id. */
function actorLabel(actorId: string, source: AnyStateNode): string {
  for (let node: AnyStateNode | undefined = source; node; node = node.parent) {
    const invoked = node.invoke.find((definition) => definition.id === actorId);
    if (invoked) return typeof invoked.src === 'string' ? invoked.src : actorId;
  }
  return actorId;
}

/** Named guards by name; `and`/`or`/`not` spelled out; inline functions by their name, if any. */
function guardLabel(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const combined = combinedGuards(guard);
    if (combined) {
      const inner = combined.map(guardLabel);
      if (guard.name === 'not') return `not(${inner.join(', ')})`;
      return `${guard.name || 'guard'}(${inner.join(', ')})`;
    }
    return guard.name || 'inline guard';
  }
  if (isRecord(guard) && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

/** The operands of a higher-order guard (`and`, `or`, `not`), which XState keeps on the function. */
function combinedGuards(guard: object): unknown[] | undefined {
  const guards: unknown = Reflect.get(guard, 'guards');
  return Array.isArray(guards) ? guards : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Child state nodes in definition order (history nodes have no place in a Mermaid chart). */
function childNodes(node: AnyStateNode): AnyStateNode[] {
  return Object.values<AnyStateNode>(node.states)
    .filter((child) => child.type !== 'history')
    .sort((a, b) => a.order - b.order);
}

function idOf(node: AnyStateNode, ids: NodeIds): string {
  return ids.get(node) ?? node.key;
}

function nodeIds(root: AnyStateNode): NodeIds {
  const all: AnyStateNode[] = [];
  const walk = (node: AnyStateNode): void => {
    for (const child of childNodes(node)) {
      all.push(child);
      walk(child);
    }
  };
  walk(root);
  const keyCount = new Map<string, number>();
  for (const node of all) keyCount.set(node.key, (keyCount.get(node.key) ?? 0) + 1);
  const ids: NodeIds = new Map();
  for (const node of all) {
    const plain = keyCount.get(node.key) === 1 && /^[A-Za-z_][\w]*$/.test(node.key);
    ids.set(node, plain ? node.key : node.path.join('_').replace(/\W/g, '_'));
  }
  return ids;
}
