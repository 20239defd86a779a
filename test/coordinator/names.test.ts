import { describe, expect, it } from 'vitest';
import {
  InvalidEntityError,
  MemoryLocalDataSource,
  type RemoteDataSource,
  SyncCoordinator,
} from '../../src/index.js';

const remote: RemoteDataSource = {
  syncBatch: async (items) => items.map((item) => ({ id: item.id, status: 'ok' as const })),
};

describe('entity-type names at the coordinator', () => {
  it.each(['__proto__', '', 'a/b', 'x'.repeat(65), 'caf\u00e9', ' space'])(
    'refuses a repository named %j that no store could keep, whatever object it is',
    async (entityType) => {
      const coordinator = new SyncCoordinator();
      try {
        expect(() =>
          coordinator.register({ entityType, local: new MemoryLocalDataSource(), remote }),
        ).toThrow(InvalidEntityError);
        expect(coordinator.entityTypes).toEqual([]);
      } finally {
        await coordinator.stop();
      }
    },
  );

  it('accepts ordinary names, including ones that are Object.prototype members', async () => {
    const coordinator = new SyncCoordinator();
    try {
      for (const entityType of ['constructor', 'toString', 'model-info', 'v1.notes_2']) {
        coordinator.register({ entityType, local: new MemoryLocalDataSource(), remote });
      }
      expect(coordinator.entityTypes).toEqual(['constructor', 'toString', 'model-info', 'v1.notes_2']);
    } finally {
      await coordinator.stop();
    }
  });
});
