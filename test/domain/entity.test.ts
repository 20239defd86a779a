import { describe, expect, it } from 'vitest';
import {
  MemoryLocalDataSource,
  markSynced,
  markUpdated,
  Repository,
  type RepositoryEntity,
} from '../../src/index.js';

interface Note extends RepositoryEntity {
  text: string;
}

const stored: Note = {
  id: 'n1',
  text: 'hello',
  createdAt: 10,
  updatedAt: 20,
  version: 3,
  syncPending: false,
};

describe('markUpdated and markSynced: the bookkeeping rules of a record', () => {
  it('markUpdated returns the next version, changed now and pending; the rest and the original untouched', () => {
    const before = structuredClone(stored);
    expect(markUpdated(stored, 99)).toEqual({ ...stored, version: 4, updatedAt: 99, syncPending: true });
    expect(stored).toEqual(before);
  });

  it('markSynced only clears syncPending, on a copy', () => {
    const pending = markUpdated(stored, 99);
    expect(markSynced(pending)).toEqual({ ...pending, syncPending: false });
    expect(pending.syncPending).toBe(true);
  });

  it('Repository.save stores markUpdated of the stored record, and an ack leaves markSynced of it', async () => {
    const local = new MemoryLocalDataSource<Note>([stored]);
    const notes = new Repository<Note>({ entityType: 'note', local, now: () => 99 });
    const saved = await notes.save({ id: 'n1', text: 'edited' });
    expect(saved).toEqual(markUpdated({ ...stored, text: 'edited' }, 99));
    const created = await notes.save({ id: 'n2', text: 'new' });
    expect(created).toEqual({
      id: 'n2',
      text: 'new',
      createdAt: 99,
      updatedAt: 99,
      version: 1,
      syncPending: true,
    });
    await local.commit({ acks: [{ id: 'n1', version: saved.version }], now: 100 });
    expect(await local.get('n1')).toEqual(markSynced(saved));
    expect((await local.getAll()).map((note) => note.syncPending)).toEqual([false, true]);
  });
});
