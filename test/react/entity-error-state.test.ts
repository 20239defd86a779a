import { describe, expect, it } from 'vitest';
import { entityActorId } from '../../machines/coordinator.machine.js';
import { syncStateOf } from '../../machines/entity-sync.machine.js';
import {
  FatalSyncError,
  type ItemResult,
  MemoryLocalDataSource,
  type RemoteDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  TransientSyncError,
} from '../../src/index.js';

// useEntitySnapshot reads the entity actor through @xstate/react's useSelector, which throws into the component
// when the actor's snapshot has status 'error'. A failed sync must therefore be the machine's `error` state with
// the actor still active, whatever failed: the remote, for a while or for good, or the local store.
interface Note extends RepositoryEntity {
  title: string;
}

class FailingRemote implements RemoteDataSource<Note> {
  constructor(readonly error: () => Error) {}
  async syncBatch(): Promise<ItemResult<Note>[]> {
    throw this.error();
  }
}

class BrokenStore extends MemoryLocalDataSource<Note> {
  override async pending(): Promise<never> {
    throw new Error('disk read failed');
  }
}

const cases: [string, () => Repository<Note>][] = [
  [
    'the remote keeps failing (transient)',
    () =>
      new Repository<Note>({
        entityType: 'notes',
        local: new MemoryLocalDataSource<Note>(),
        remote: new FailingRemote(() => new TransientSyncError('503 from the server')),
      }),
  ],
  [
    'the remote refuses for good (fatal)',
    () =>
      new Repository<Note>({
        entityType: 'notes',
        local: new MemoryLocalDataSource<Note>(),
        remote: new FailingRemote(() => new FatalSyncError('401: token revoked')),
      }),
  ],
  [
    'the remote throws something unexpected',
    () =>
      new Repository<Note>({
        entityType: 'notes',
        local: new MemoryLocalDataSource<Note>(),
        remote: new FailingRemote(() => new TypeError('undefined is not a function')),
      }),
  ],
  [
    'the local store fails',
    () =>
      new Repository<Note>({
        entityType: 'notes',
        local: new BrokenStore(),
        remote: new FailingRemote(() => new Error('never reached')),
      }),
  ],
];

describe('a failed sync is an ordinary state of the entity actor, never an actor error', () => {
  it.each(cases)('%s', async (_name, makeRepository) => {
    const repository = makeRepository();
    await repository.save({ id: 'n1', title: 'one' });
    const coordinator = new SyncCoordinator({ retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
    try {
      const result = await coordinator.sync(repository);
      expect(result.state).toBe('error');
      const entity = coordinator.actor.getSnapshot().children[entityActorId('notes')];
      const snapshot = entity?.getSnapshot();
      expect(snapshot?.status).toBe('active');
      expect(syncStateOf(snapshot as { value: unknown })).toBe('error');
      expect(coordinator.actor.getSnapshot().status).toBe('active');
      expect(coordinator.getProgress('notes')).toMatchObject({ state: 'error', isComplete: true });
      // And the type can sync again from there.
      const again = await coordinator.sync('notes');
      expect(again.runId).toBe(result.runId + 1);
      expect(entity?.getSnapshot().status).toBe('active');
    } finally {
      await coordinator.stop();
    }
  });
});
