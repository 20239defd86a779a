import { useSelector } from '@xstate/react';
import type { SnapshotFrom } from 'xstate';
import { entityActorId } from '../../machines/coordinator.machine.js';
import type { entitySyncMachine } from '../../machines/entity-sync.machine.js';
import type { SyncCoordinator } from '../coordinator/sync-coordinator.js';

/** An entity actor's snapshot (`entity:<type>`): its state value and context. */
export type EntitySyncSnapshot = SnapshotFrom<typeof entitySyncMachine>;

const whole = (snapshot: EntitySyncSnapshot) => snapshot;

/**
 * For apps that embed the actors: the snapshot of `entityType`'s entity actor (the coordinator's child
 * `entity:<type>`), or `select`ed from it, through `@xstate/react`'s `useSelector`; `undefined` until the type is
 * registered. Pass `syncStateOf` (actorsync/machines) for the top-level state. A failed sync is the machine's
 * ordinary `error` state (the run's failure is data in its context), never an actor in error status, which
 * `useSelector` would throw into the component.
 */
export function useEntitySnapshot(
  coordinator: Pick<SyncCoordinator, 'actor'>,
  entityType: string,
): EntitySyncSnapshot | undefined;
export function useEntitySnapshot<T>(
  coordinator: Pick<SyncCoordinator, 'actor'>,
  entityType: string,
  select: (snapshot: EntitySyncSnapshot) => T,
  compare?: (a: T | undefined, b: T | undefined) => boolean,
): T | undefined;
export function useEntitySnapshot<T>(
  coordinator: Pick<SyncCoordinator, 'actor'>,
  entityType: string,
  select: (snapshot: EntitySyncSnapshot) => T | EntitySyncSnapshot = whole,
  compare?: (a: T | EntitySyncSnapshot | undefined, b: T | EntitySyncSnapshot | undefined) => boolean,
): T | EntitySyncSnapshot | undefined {
  // The child appears on REGISTER: follow the root for it, then the child itself.
  const entity = useSelector(coordinator.actor, (snapshot) => snapshot.children[entityActorId(entityType)]);
  return useSelector(entity, (snapshot) => (snapshot === undefined ? undefined : select(snapshot)), compare);
}
