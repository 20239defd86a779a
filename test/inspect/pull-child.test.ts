/**
 * Issue 13: the inspector shows the pull child (`pull:<type>`) and the run's progress in both directions. A trace
 * of a real run (a memory store, the reference server's state as the remote, one page held) replays to a tree in
 * which the entity is `syncing.pulling`, the pull child is there with its typed view, and the published progress
 * says `phase: 'pull'`; after the run the child is gone and the progress counts what the pull stored.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MemoryLocalDataSource,
  type PullReply,
  type RemoteDataSource,
  Repository,
  SyncCoordinator,
} from '../../src/index.js';
import { ActorTree, type InspectorRecord } from '../../src/inspect/inspector-model.js';
import { createTraceInspector, readTrace } from '../../src/inspect/trace.js';
import { SyncServerState } from '../../src/server.js';
import type { Note } from '../helpers/fixtures.js';
import { useTempDir } from '../helpers/temp-dir.js';

let dir: string;
useTempDir('actorsync-pull-inspect-', (created) => (dir = created));

/** The reference server's state as a remote, whose third page waits until the test lets it go. */
function heldRemote(state: SyncServerState) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let reached!: () => void;
  const held = new Promise<void>((resolve) => (reached = resolve));
  let pulls = 0;
  const remote: RemoteDataSource<Note> = {
    syncBatch: async (items, { batchId, entityType }) => state.apply(entityType, batchId, items),
    pullChanges: async ({ entityType, since, limit }): Promise<PullReply> => {
      pulls += 1;
      // The third page is asked for while the second is written (the look-ahead): page 1 is stored by then.
      if (pulls === 3) {
        reached();
        await released;
      }
      const read = state.changes(entityType, since, limit);
      if (read.status === 'reset') return { reset: true };
      if (read.status !== 'page') throw new Error(read.error);
      return read.page;
    },
  };
  return { remote, held, release };
}

describe('the inspector and the pull child', () => {
  it('shows pull:<type> with its view while pulling, and the progress of both directions', async () => {
    const state = new SyncServerState();
    const others = Array.from({ length: 5 }, (_, i) => ({
      id: `o${i}`,
      text: `from another client ${i}`,
      version: 1,
      createdAt: 1,
      updatedAt: 1,
      syncPending: false,
    }));
    state.apply('note', 'other-client.1', others);
    const { remote, held, release } = heldRemote(state);
    const file = join(dir, 'run.jsonl');
    const trace = createTraceInspector({ file });
    const coordinator = new SyncCoordinator({ inspect: trace.inspect, pull: { pageSize: 2 } });
    const repository = new Repository<Note>({
      entityType: 'note',
      local: new MemoryLocalDataSource(),
      remote,
    });
    await repository.save({ id: 'mine', text: 'written here' });
    const run = coordinator.sync(repository);
    await held;
    const midPull = trace.count;
    release();
    const result = await run;
    await coordinator.stop();
    await trace.close();
    expect(result).toMatchObject({ state: 'synced', syncedItems: 1, pulledItems: 5, phase: 'pull' });

    const { records } = await readTrace(file);
    const replay = (upTo: number) => {
      const tree = new ActorTree();
      for (const record of records.slice(0, upTo)) tree.apply(record as InspectorRecord);
      return tree;
    };
    const during = replay(midPull);
    const entity = during.nodes().find((n) => n.systemId === 'entity:note');
    expect(entity?.value).toEqual({ syncing: 'pulling' });
    expect(entity?.context).toMatchObject({
      progress: { state: 'syncing', phase: 'pull', syncedItems: 1, pulledItems: 2 },
    });
    const pull = during.nodes().find((n) => n.systemId === 'pull:note');
    expect(pull).toMatchObject({ machine: 'pull', parent: entity?.sessionId, value: 'applying' });
    expect(pull?.context).toEqual({
      counts: expect.objectContaining({ pulledItems: 2, pages: 1 }),
      fromCheckpoint: true,
      resetting: false,
      pageChanges: 2,
      attempt: 0,
      backoffMs: 0,
      lastError: undefined,
    });
    // The batch child finished before the pull began: it is not in the tree any more.
    expect(during.nodes().some((n) => n.systemId === 'batch:note')).toBe(false);

    const stoppedAt = records.findIndex(
      (r) => r.kind === 'snapshot' && r.status === 'stopped' && r.systemId === 'entity:note',
    );
    const after = replay(stoppedAt);
    expect(after.nodes().map((n) => n.systemId)).toEqual(['coordinator', 'entity:note']);
    expect(after.nodes()[1]?.context).toMatchObject({
      progress: { state: 'synced', phase: 'pull', syncedItems: 1, pulledItems: 5, percent: 100 },
    });
  });
});
