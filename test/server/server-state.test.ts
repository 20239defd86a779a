import { describe, expect, it } from 'vitest';
import { SyncServerState } from '../../src/index.js';

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

  it('round-trips through JSON', () => {
    const state = new SyncServerState();
    state.apply('doc', 'b1', [item(1)]);
    const copy = SyncServerState.fromJSON(JSON.parse(JSON.stringify(state.toJSON())));
    expect(copy.get('doc', 'a')).toEqual(state.get('doc', 'a'));
    expect(copy.apply('doc', 'b1', [item(1)])).toEqual([{ id: 'a', status: 'ok' }]);
    expect(copy.duplicateBatches).toBe(1);
  });
});
