import { describe, expect, it } from 'vitest';
import { SyncServerState } from '../../src/server.js';

const item = (version: number, text = 'x') => ({
  id: 'a',
  version,
  text,
  createdAt: 1,
  updatedAt: 1,
  syncPending: true,
});
const rejectAll = () => ({ error: 'rejected', retryable: false });

describe('SyncServerState', () => {
  it('applies each version once: a repeated key gets the stored reply, a repeated version is acknowledged', () => {
    const state = new SyncServerState();
    expect(state.apply('doc', 'b1', [item(1)])).toEqual([{ id: 'a', status: 'ok' }]);
    expect(state.apply('doc', 'b1', [item(1)])).toEqual([{ id: 'a', status: 'ok' }]);
    expect(state.duplicateBatches).toBe(1);
    // A lost reply, then the same version in a new batch: acknowledged, never rejected or applied again.
    expect(state.apply('doc', 'b2', [item(1)], rejectAll)).toEqual([{ id: 'a', status: 'ok' }]);
    expect(state.get('doc', 'a')).toMatchObject({ appliedCount: 1, appliedVersions: [1] });
    expect(state.apply('doc', 'b3', [item(2)], rejectAll)).toEqual([
      { id: 'a', status: 'failed', error: 'rejected', retryable: false },
    ]);
  });

  it('answers an older or different same-version copy with a conflict carrying its own copy', () => {
    const state = new SyncServerState();
    state.apply('doc', 'b1', [item(3, 'server')]);
    expect(state.apply('doc', 'b2', [item(2, 'old')])).toEqual([
      {
        id: 'a',
        status: 'conflict',
        remote: expect.objectContaining({ version: 3, text: 'server', syncPending: false }),
      },
    ]);
    expect(state.apply('doc', 'b3', [item(3, 'other')])[0]).toMatchObject({ status: 'conflict' });
  });

  describe('a change that names its base version (baseVersion): no lost update', () => {
    const edit = (version: number, baseVersion: number, text = `v${version}`) => ({
      ...item(version, text),
      baseVersion,
    });

    it('replaces only the version it was made on: another client wrote a lower version since, a conflict', () => {
      const state = new SyncServerState();
      state.apply('doc', 'b1', [item(1, 'both')]);
      // Client A, synced at v1, edits once.
      expect(state.apply('doc', 'b2', [edit(2, 1, 'A')])).toEqual([{ id: 'a', status: 'ok' }]);
      // Client B, offline at v1, edited twice: its v3 would win on the number alone.
      expect(state.apply('doc', 'b3', [edit(3, 1, 'B')])).toEqual([
        {
          id: 'a',
          status: 'conflict',
          remote: { id: 'a', version: 2, text: 'A', createdAt: 1, updatedAt: 1, syncPending: false },
        },
      ]);
      expect(state.get('doc', 'a')?.appliedVersions).toEqual([1, 2]);
      // Resolved on the server's version (client-wins): made on v2, it goes through.
      expect(state.apply('doc', 'b4', [edit(4, 2, 'B')])).toEqual([{ id: 'a', status: 'ok' }]);
    });

    it('a higher version another client wrote, a tombstone, or a copy the server lost are conflicts too', () => {
      const state = new SyncServerState();
      state.apply('doc', 'b1', [item(5, 'theirs')]);
      expect(state.apply('doc', 'b2', [edit(4, 3)])[0]).toMatchObject({ status: 'conflict' });
      state.apply('doc', 'b3', [{ ...item(6), deleted: true }]);
      expect(state.apply('doc', 'b4', [edit(7, 5)])[0]).toMatchObject({
        status: 'conflict',
        remote: { version: 6, deleted: true },
      });
      // The server holds a version below the base (restored from an older copy): not the one the change saw.
      const restored = new SyncServerState();
      restored.apply('doc', 'b1', [item(1)]);
      expect(restored.apply('doc', 'b2', [edit(3, 2)])[0]).toMatchObject({ status: 'conflict' });
    });

    it('a replay of the version it holds is an idempotent ok; the base is never stored nor served', () => {
      const state = new SyncServerState();
      state.apply('doc', 'b1', [item(1)]);
      expect(state.apply('doc', 'b2', [edit(2, 1)])).toEqual([{ id: 'a', status: 'ok' }]);
      // The reply was lost; after a restart the client sends the same version in a new batch.
      expect(state.apply('doc', 'b3', [edit(2, 1)])).toEqual([{ id: 'a', status: 'ok' }]);
      expect(state.get('doc', 'a')).toMatchObject({ appliedCount: 2, appliedVersions: [1, 2] });
      expect(state.get('doc', 'a')?.item).not.toHaveProperty('baseVersion');
      const read = state.changes('doc', undefined, 10);
      expect(read.status === 'page' && read.page.changes[0]?.item).not.toHaveProperty('baseVersion');
      // Without a base the old rule holds (older clients, creates): a higher version replaces.
      expect(state.apply('doc', 'b4', [item(9)])).toEqual([{ id: 'a', status: 'ok' }]);
    });

    it('a change with a base of a record the server does not hold is stored', () => {
      const state = new SyncServerState();
      expect(state.apply('doc', 'b1', [edit(2, 1)])).toEqual([{ id: 'a', status: 'ok' }]);
    });
  });

  it('round-trips through JSON', () => {
    const state = new SyncServerState();
    state.apply('doc', 'b1', [item(1)]);
    const copy = SyncServerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
    expect(copy.get('doc', 'a')).toEqual(state.get('doc', 'a'));
    expect(copy.apply('doc', 'b1', [item(1)])).toEqual([{ id: 'a', status: 'ok' }]);
    expect(copy.duplicateBatches).toBe(1);
  });

  it('applies a batch all or nothing: an error partway leaves the state, replies and counters as they were', () => {
    const state = new SyncServerState();
    state.apply('doc', 'b1', [item(1)]);
    const before = JSON.stringify(state.toJSON());
    const items = [item(2), { ...item(1), id: 'b' }, { ...item(1), id: 'c' }];
    const throwOnC = (candidate: { id: string }) => {
      if (candidate.id === 'c') throw new Error('failed while applying');
      return undefined;
    };
    expect(() => state.apply('doc', 'b2', items, throwOnC)).toThrow('failed while applying');
    expect(JSON.stringify(state.toJSON())).toBe(before);
    expect(state.batchesApplied).toBe(1);
    expect(state.replyFor('doc', 'b2')).toBeUndefined();
    expect(state.list('other')).toEqual([]);
    // The same key applies normally afterwards.
    expect(state.apply('doc', 'b2', items)).toEqual([
      { id: 'a', status: 'ok' },
      { id: 'b', status: 'ok' },
      { id: 'c', status: 'ok' },
    ]);
    expect(state.get('doc', 'a')).toMatchObject({ appliedCount: 2, appliedVersions: [1, 2] });
  });

  it('an error in a batch of a new entity type leaves no empty table behind', () => {
    const state = new SyncServerState();
    expect(() =>
      state.apply('fresh', 'b1', [item(1)], () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(state.toJSON()).toEqual({
      format: 'actorsync-server',
      items: {},
      replies: {},
      epoch: state.epoch,
      feeds: {},
    });
  });
});
