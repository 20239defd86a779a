import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertEntity, jsonProblem, markDeleted, storableCopy } from '../../src/domain/entity.js';
import {
  InvalidEntityError,
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
  it('markUpdated returns the next version, changed now and pending, built on the synced one; the rest and the original untouched', () => {
    const before = structuredClone(stored);
    expect(markUpdated(stored, 99)).toEqual({
      ...stored,
      version: 4,
      updatedAt: 99,
      syncPending: true,
      baseVersion: 3,
    });
    expect(stored).toEqual(before);
  });

  it('a pending record keeps the base of its first unacknowledged change, through edits and a delete', () => {
    const once = markUpdated(stored, 99);
    const twice = markUpdated(once, 100);
    expect(twice).toMatchObject({ version: 5, baseVersion: 3, syncPending: true });
    expect(markDeleted(twice, 101)).toEqual({
      id: 'n1',
      createdAt: 10,
      updatedAt: 101,
      version: 6,
      syncPending: true,
      deleted: true,
      baseVersion: 3,
    });
    expect(markDeleted(stored, 101)).toMatchObject({ version: 4, baseVersion: 3, deleted: true });
  });

  it('a record the remote never had (version 0, or a create still pending) has no base', () => {
    const fresh = { ...stored, version: 0 };
    const created = markUpdated(fresh, 99);
    expect(created).toEqual({ ...stored, version: 1, updatedAt: 99, syncPending: true });
    expect(markUpdated(created, 100)).not.toHaveProperty('baseVersion');
    expect(markDeleted(created, 100)).not.toHaveProperty('baseVersion');
  });

  it('markSynced clears syncPending and the base, on a copy', () => {
    const pending = markUpdated(stored, 99);
    const { baseVersion: _, ...rest } = pending;
    expect(markSynced(pending)).toEqual({ ...rest, syncPending: false });
    expect(pending).toMatchObject({ syncPending: true, baseVersion: 3 });
  });

  it('a base must be a whole number below the version when present; none is fine', () => {
    expect(() => assertEntity({ ...stored, baseVersion: 2 })).not.toThrow();
    expect(() => assertEntity({ ...stored, baseVersion: 0 })).not.toThrow();
    for (const bad of [3, 4, -1, 1.5, '2', null]) {
      expect(() => assertEntity({ ...stored, baseVersion: bad })).toThrow(
        /entity "n1" has baseVersion .*, not a whole number from 0 to below the version/,
      );
    }
  });

  it("Repository.save keeps the stored base, never the app's, and sets it from an acknowledged record", async () => {
    const local = new MemoryLocalDataSource<Note>([stored]);
    const notes = new Repository<Note>({ entityType: 'note', local, now: () => 99 });
    // An app's own `baseVersion` is bookkeeping it does not own: dropped.
    const first = await notes.save({ id: 'n1', text: 'one', baseVersion: 0 } as Note);
    expect(first).toMatchObject({ version: 4, baseVersion: 3 });
    const second = await notes.save({ ...first, text: 'two', baseVersion: 1 });
    expect(second).toMatchObject({ version: 5, baseVersion: 3 });
    await local.commit({ acks: [{ id: 'n1', version: 5 }], now: 100 });
    expect(await local.get('n1')).not.toHaveProperty('baseVersion');
    expect(await notes.save({ id: 'n1', text: 'three' })).toMatchObject({ version: 6, baseVersion: 5 });
    const created = await notes.save({ id: 'n2', text: 'new', baseVersion: 7 } as Note);
    expect(created).not.toHaveProperty('baseVersion');
    expect(await notes.delete('n1')).toBe(true);
    expect(await local.get('n1', { includeDeleted: true })).toMatchObject({ version: 7, baseVersion: 5 });
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

describe('storableCopy: the one-walk copy of plain data is exactly a JSON round trip', () => {
  it('for any value fast-check makes (and refuses exactly what JSON cannot carry)', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withNullPrototype: true,
          withObjectString: true,
          withDate: true,
          withSparseArray: true,
          withBoxedValues: true,
          key: fc.oneof(fc.string(), fc.constant('__proto__'), fc.constant('toJSON')),
        }),
        (value) => {
          const refused = jsonProblem(value) !== undefined;
          let copy: unknown;
          let error: unknown;
          try {
            copy = storableCopy(value, 'the value');
          } catch (thrown) {
            error = thrown;
          }
          if (error) {
            expect(error).toBeInstanceOf(InvalidEntityError);
            return;
          }
          expect(refused && typeof (value as { toJSON?: unknown } | null)?.toJSON !== 'function').toBe(false);
          const roundTrip: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
          expect(JSON.stringify(copy)).toBe(JSON.stringify(roundTrip));
          expect(copy).toStrictEqual(roundTrip);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('in place: the same record as the copy (the value itself, frozen, when it is plain data) and the same refusals', () => {
    const isDeepFrozen = (value: unknown): boolean =>
      typeof value !== 'object' ||
      value === null ||
      (Object.isFrozen(value) && Object.values(value).every(isDeepFrozen));
    fc.assert(
      fc.property(
        fc.anything({
          withNullPrototype: true,
          withObjectString: true,
          withDate: true,
          withSparseArray: true,
          withBoxedValues: true,
          key: fc.oneof(fc.string(), fc.constant('__proto__'), fc.constant('toJSON')),
        }),
        (value) => {
          const attempt = (inPlace: boolean) => {
            try {
              return { result: storableCopy(value, 'the value', true, { inPlace }) };
            } catch (error) {
              return { error: (error as Error).message };
            }
          };
          const copied = attempt(false);
          const inPlace = attempt(true);
          expect(inPlace.error).toBe(copied.error);
          if (copied.error) return;
          expect(JSON.stringify(inPlace.result)).toBe(JSON.stringify(copied.result));
          expect(inPlace.result).toEqual(copied.result);
          if (inPlace.result === value && typeof value === 'object' && value !== null)
            expect(isDeepFrozen(value)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('in place: keeps parsed JSON itself, frozen throughout, and copies a value frozen before', () => {
    const parsed = JSON.parse('{"id":"a","z":-0,"nested":{"list":[1,{"b":-0}]}}') as {
      z: number;
      nested: { list: [number, { b: number }] };
    };
    expect(storableCopy(parsed, 'the value', true, { inPlace: true })).toBe(parsed);
    expect(Object.isFrozen(parsed) && Object.isFrozen(parsed.nested.list[1])).toBe(true);
    expect(Object.is(parsed.z, 0) && Object.is(parsed.nested.list[1].b, 0)).toBe(true);
    const again = storableCopy(parsed, 'the value', true, { inPlace: true });
    expect(again).not.toBe(parsed);
    expect(again).toEqual(parsed);
  });

  it('keeps JSON rules at the edges: -0, undefined fields and elements, __proto__ as data, a shared object twice', () => {
    const shared = { n: 1 };
    const value = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    Object.assign(value, { zero: -0, gone: undefined, list: [undefined, shared, shared] });
    const copy = storableCopy(value, 'the value') as Record<string, unknown>;
    expect(Object.is(copy.zero, 0)).toBe(true);
    expect('gone' in copy).toBe(false);
    expect(copy.list).toEqual([null, { n: 1 }, { n: 1 }]);
    expect((copy.list as unknown[])[1]).not.toBe(shared);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
