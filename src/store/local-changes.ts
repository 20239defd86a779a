import type { Subscription } from '../core/progress-stream.js';
import { reportError } from '../core/report-error.js';
import type { LocalChange, LocalChangeListener } from '../domain/types.js';
import type { StoreChange } from './store-collection.js';

/**
 * The listeners of one entity type's local changes. A listener runs after the write is durable and applied, so a
 * read from inside it sees the change. One that throws is reported as an uncaught error (the write has happened;
 * failing the caller's save for a view's bug would say otherwise) and the others still run.
 */
export class LocalChangeFeed {
  readonly #listeners = new Set<LocalChangeListener>();

  get listenerCount(): number {
    return this.#listeners.size;
  }

  subscribe(listener: LocalChangeListener): Subscription {
    // Wrapped so the same function subscribed twice is two subscriptions, each removed by its own unsubscribe.
    const entry: LocalChangeListener = (change) => listener(change);
    this.#listeners.add(entry);
    return { unsubscribe: () => this.#listeners.delete(entry) };
  }

  emit(change: LocalChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        reportError(error);
      }
    }
  }
}

/** What a store change did, as its listeners see it: the records it touched and where it came from. */
export function localChangeOf(entityType: string, change: StoreChange): LocalChange {
  const ids = new Set<string>();
  let source: LocalChange['source'];
  switch (change.kind) {
    case 'save':
      source = 'local';
      for (const entity of change.plan.put) ids.add(entity.id);
      for (const id of change.plan.removed) ids.add(id);
      break;
    case 'delete':
      source = 'local';
      ids.add(change.id);
      break;
    case 'requeue':
      source = 'local';
      for (const id of change.ids) ids.add(id);
      break;
    case 'commit': {
      source = 'sync';
      const { delta } = change;
      for (const ack of delta.synced) ids.add(ack.id);
      for (const ack of delta.rebased ?? []) ids.add(ack.id);
      for (const entity of delta.replaced) ids.add(entity.id);
      for (const record of delta.failures) ids.add(record.id);
      break;
    }
    case 'page':
      source = 'pull';
      for (const entity of change.delta.put) ids.add(entity.id);
      for (const id of change.delta.removed) ids.add(id);
      break;
    default:
      return change satisfies never;
  }
  return { entityType, ids: [...ids], source };
}
