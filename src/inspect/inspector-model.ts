import type { InspectionEvent } from 'xstate';
import type { BatchPushContext } from '../../machines/batch-push.types.js';
import { batchPushView } from '../../machines/batch-run.js';
import type { CoordinatorContext } from '../../machines/coordinator.types.js';
import { runSnapshot, syncStateOf } from '../../machines/entity-sync.machine.js';
import type { EntitySyncContext } from '../../machines/entity-sync.types.js';
import type { PullContext } from '../../machines/pull.types.js';
import { pullView } from '../../machines/pull-run.js';
import { toSyncProgress } from '../coordinator/to-domain.js';
import type { SyncState } from '../domain/types.js';
import { createSanitizer, type SanitizeOptions, type Sanitizer } from './sanitize.js';

/** Context slices are kept whole; event payloads (which carry record batches) are cut short. */
export interface RecordSanitizers {
  context: Sanitizer;
  payload: Sanitizer;
}

export function createRecordSanitizers(options: SanitizeOptions = {}): RecordSanitizers {
  return {
    context: createSanitizer(options),
    payload: createSanitizer({ maxArrayItems: 3, maxDepth: 4, maxStringLength: 200, ...options }),
  };
}

/** One entry of the inspection stream in a serialisable, sanitised form (also one line of a trace file). */
export type InspectorRecord =
  | {
      kind: 'actor';
      at: number;
      sessionId: string;
      id: string;
      systemId: string | undefined;
      parent: string | undefined;
      machine: string | undefined;
    }
  | {
      kind: 'snapshot';
      at: number;
      sessionId: string;
      status: string;
      value: unknown;
      context: unknown;
      event: string;
      /** Set once the system has registered the actor, which is after its `actor` record. */
      systemId: string | undefined;
      /** Session ids of the actor's children, for machines: a child missing here was stopped. */
      children: string[] | undefined;
    }
  | {
      kind: 'event';
      at: number;
      sessionId: string;
      source: string | undefined;
      type: string;
      payload: unknown;
    };

/** A run that had something to do, kept so a later empty run does not hide what the last real one did. */
export interface ActiveRunSummary {
  runId: unknown;
  state: unknown;
  /** The run's published `SyncProgress`. */
  progress: unknown;
  failures: unknown;
}

/** An actor as the inspector shows it. */
export interface ActorNode {
  sessionId: string;
  id: string;
  systemId: string | undefined;
  parent: string | undefined;
  machine: string | undefined;
  status: string;
  value: unknown;
  context: unknown;
  updatedAt: number;
  /** Entity actors: the latest run that had items (or retries), even if emptier runs came after it. */
  lastActiveRun?: ActiveRunSummary;
}

interface ActorLike {
  sessionId: string;
  id: string;
  systemId?: string | undefined;
  _parent?: { sessionId: string } | undefined;
  logic?: { id?: unknown; config?: unknown };
}

function asActor(ref: unknown): ActorLike {
  return ref as ActorLike;
}

const SYNC_STATES: ReadonlySet<unknown> = new Set<SyncState>(['idle', 'syncing', 'synced', 'error']);
const isSyncState = (value: unknown): value is SyncState => SYNC_STATES.has(value);

/** Failed items of a run shown per entity type; the run's counts say how many there were in all. */
const MAX_FAILED_SHOWN = 20;

/** A readable slice of each machine's context: counts, attempts, retry times and errors, never record payloads. */
export function contextSlice(machine: string | undefined, context: unknown, value?: unknown): unknown {
  switch (machine) {
    case 'coordinator': {
      // Typed like the others: a renamed context field breaks the build, not the page.
      const coordinator = context as CoordinatorContext;
      return {
        entityTypes: coordinator.entityTypes,
        active: Object.keys(coordinator.active),
        queued: coordinator.queue.map((run) => run.entityType),
      };
    }
    case 'entitySync': {
      const entity = context as EntitySyncContext;
      const { lastRun } = entity;
      const top = value === undefined ? undefined : syncStateOf({ value });
      const state: SyncState = isSyncState(top) ? top : 'idle';
      const finished = lastRun !== undefined && lastRun.runId === entity.runId && state !== 'syncing';
      // The failed items of the last finished run (what was dead-lettered or will be retried, and why).
      const failures = finished
        ? lastRun.failures
            .slice(0, MAX_FAILED_SHOWN)
            .map(({ id, error, attempts, deadLettered }) => ({ id, error, attempts, deadLettered }))
        : [];
      return {
        entityType: entity.config.entityType,
        runId: entity.runId,
        // Exactly what `SyncProgress` subscribers get: the page shows it instead of doing its own arithmetic.
        progress: toSyncProgress(finished ? lastRun : runSnapshot(entity, state)),
        stoppedRuns: entity.stoppedRuns,
        ...(failures.length > 0 ? { failures } : {}),
      };
    }
    case 'batchPush':
      // The machine's own typed projection: a renamed context field breaks the build, not the page.
      return batchPushView(context as BatchPushContext);
    case 'pull':
      return pullView(context as PullContext);
    default:
      return context;
  }
}

/** Turns an XState inspection event into a record, or `undefined` for kinds the inspector does not show. */
export function toRecord(
  event: InspectionEvent,
  sanitize: RecordSanitizers,
  at: number,
): InspectorRecord | undefined {
  const actor = asActor(event.actorRef);
  switch (event.type) {
    case '@xstate.actor': {
      const machineId = actor.logic?.config ? actor.logic.id : undefined;
      return {
        kind: 'actor',
        at,
        sessionId: actor.sessionId,
        id: String(actor.id),
        systemId: actor.systemId,
        parent: actor._parent?.sessionId,
        machine: typeof machineId === 'string' ? machineId : undefined,
      };
    }
    case '@xstate.snapshot': {
      const snapshot = event.snapshot as {
        status?: string;
        value?: unknown;
        context?: unknown;
        children?: Record<string, { sessionId: string } | undefined>;
      };
      const machineId = actor.logic?.config ? actor.logic.id : undefined;
      return {
        kind: 'snapshot',
        at,
        sessionId: actor.sessionId,
        status: snapshot.status ?? 'active',
        value: sanitize.context(snapshot.value),
        context: sanitize.context(
          contextSlice(
            typeof machineId === 'string' ? machineId : undefined,
            snapshot.context,
            snapshot.value,
          ),
        ),
        event: String(event.event.type),
        systemId: actor.systemId,
        children: snapshot.children
          ? Object.values(snapshot.children).flatMap((child) => (child ? [child.sessionId] : []))
          : undefined,
      };
    }
    case '@xstate.event': {
      const { type, ...payload } = event.event as { type: string };
      return {
        kind: 'event',
        at,
        sessionId: actor.sessionId,
        source: event.sourceRef ? asActor(event.sourceRef).sessionId : undefined,
        type: String(type),
        payload: sanitize.payload(payload),
      };
    }
    default:
      return undefined;
  }
}

/**
 * The live actor tree, rebuilt from records: the inspector keeps one for late-opened pages, and trace replay
 * builds one up to a moment. Stopped actors leave the tree.
 */
export class ActorTree {
  readonly #nodes = new Map<string, ActorNode>();

  apply(record: InspectorRecord): void {
    if (record.kind === 'actor') {
      this.#nodes.set(record.sessionId, {
        sessionId: record.sessionId,
        id: record.id,
        systemId: record.systemId,
        parent: record.parent,
        machine: record.machine,
        status: 'active',
        value: undefined,
        context: undefined,
        updatedAt: record.at,
      });
    } else if (record.kind === 'snapshot') {
      const node = this.#nodes.get(record.sessionId);
      if (!node) return;
      if (record.status === 'stopped' || record.status === 'done') {
        this.#remove(record.sessionId);
        return;
      }
      if (record.systemId !== undefined) node.systemId = record.systemId;
      Object.assign(node, {
        status: record.status,
        value: record.value,
        context: record.context,
        updatedAt: record.at,
      });
      if (node.machine === 'entitySync') rememberActiveRun(node);
      if (record.children) {
        // Children stopped by their parent (a cancelled run) send no snapshot of their own.
        const live = new Set(record.children);
        for (const child of [...this.#nodes.values()]) {
          if (child.parent === record.sessionId && !live.has(child.sessionId)) this.#remove(child.sessionId);
        }
      }
    }
  }

  #remove(sessionId: string): void {
    this.#nodes.delete(sessionId);
    for (const child of [...this.#nodes.values()])
      if (child.parent === sessionId) this.#remove(child.sessionId);
  }

  /** Live actors, parents before children. */
  nodes(): ActorNode[] {
    const nodes = [...this.#nodes.values()];
    const depth = (node: ActorNode): number => {
      let d = 0;
      for (let p = node.parent; p !== undefined; p = this.#nodes.get(p)?.parent) d += 1;
      return d;
    };
    return nodes.map((node) => ({ ...node })).sort((a, b) => depth(a) - depth(b));
  }

  get(sessionId: string): ActorNode | undefined {
    const node = this.#nodes.get(sessionId);
    return node ? { ...node } : undefined;
  }

  /** Live actors. */
  get size(): number {
    return this.#nodes.size;
  }

  /**
   * Records that rebuild the tree as it is now (each actor, then its latest snapshot), parents first: what a remote
   * sender sends after it had to drop records, so the inspector's tree is whole again.
   */
  records(): InspectorRecord[] {
    return this.nodes().flatMap((node): InspectorRecord[] => {
      const actor: InspectorRecord = {
        kind: 'actor',
        at: node.updatedAt,
        sessionId: node.sessionId,
        id: node.id,
        systemId: node.systemId,
        parent: node.parent,
        machine: node.machine,
      };
      if (node.value === undefined && node.context === undefined) return [actor];
      return [
        actor,
        {
          kind: 'snapshot',
          at: node.updatedAt,
          sessionId: node.sessionId,
          status: node.status,
          value: node.value,
          context: node.context,
          event: RESYNC_EVENT,
          systemId: node.systemId,
          children: undefined,
        },
      ];
    });
  }
}

/** The event type of the snapshots in `ActorTree.records()`: the tree was rebuilt, no actor received anything. */
export const RESYNC_EVENT = 'actorsync.inspector.resync';

/** Keeps the entity's latest run that had anything to do (items or retries) on its node. */
function rememberActiveRun(node: ActorNode): void {
  const context = (node.context ?? {}) as { runId?: unknown; progress?: unknown; failures?: unknown };
  const progress = (context.progress ?? {}) as Record<string, unknown>;
  const didSomething = ['totalItems', 'retries', 'pulledItems', 'deletedItems', 'refusedItems'].some(
    (count) => Number(progress[count]) > 0,
  );
  if (!didSomething) return;
  node.lastActiveRun = {
    runId: context.runId,
    state: node.value,
    progress: context.progress,
    failures: context.failures,
  };
}
