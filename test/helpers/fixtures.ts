import {
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  type SyncCoordinatorOptions,
  type SyncProgress,
} from '../../src/index.js';
import { TestRemote } from './test-remote.js';

export interface Note extends RepositoryEntity {
  text: string;
}

export function makeRepo(entityType = 'note', remote = new TestRemote<Note>()) {
  const local = new MemoryLocalDataSource<Note>();
  const repository = new Repository<Note>({ entityType, local, remote });
  return { repository, local, remote };
}

export async function seed(repository: Repository<Note>, count: number, prefix = 'n'): Promise<Note[]> {
  return repository.saveMany(
    Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, text: `note ${i}` })),
  );
}

/** Fast retries so failure paths finish quickly on real timers. */
export const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 3, maxItemAttempts: 3 } as const;

export function makeCoordinator(options: SyncCoordinatorOptions = {}) {
  return new SyncCoordinator({ retry: FAST_RETRY, ...options });
}

/** Records every progress event, in order. */
export function collectProgress(coordinator: SyncCoordinator, entityType?: string): SyncProgress[] {
  const seen: SyncProgress[] = [];
  coordinator.progress.subscribe((p) => {
    if (entityType === undefined || p.entityType === entityType) seen.push(p);
  });
  return seen;
}

export const terminal = (events: SyncProgress[]) => events.filter((p) => p.state !== 'syncing');
