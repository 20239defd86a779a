import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingQueue } from '../../src/store/pending-queue.js';

/** Everything `forEachAfter(after)` visits, without stopping early. */
function visitAll(queue: PendingQueue, after = 0): [string, number][] {
  const seen: [string, number][] = [];
  queue.forEachAfter(after, (id, seq) => {
    seen.push([id, seq]);
    return true;
  });
  return seen;
}

describe('PendingQueue', () => {
  it('visits live ids in sequence order, after the cursor, and stops when told', () => {
    const queue = new PendingQueue();
    for (const [id, seq] of [
      ['a', 1],
      ['b', 2],
      ['c', 5],
      ['d', 9],
    ] as const)
      queue.add(id, seq);
    expect(visitAll(queue)).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 5],
      ['d', 9],
    ]);
    expect(visitAll(queue, 2)).toEqual([
      ['c', 5],
      ['d', 9],
    ]);
    expect(visitAll(queue, 4)).toEqual([
      ['c', 5],
      ['d', 9],
    ]);
    expect(visitAll(queue, 9)).toEqual([]);
    const firstTwo: string[] = [];
    queue.forEachAfter(0, (id) => {
      firstTwo.push(id);
      return firstTwo.length < 2;
    });
    expect(firstTwo).toEqual(['a', 'b']);
  });

  it('skips deleted ids and moves a re-added id to its new place', () => {
    const queue = new PendingQueue();
    queue.add('a', 1);
    queue.add('b', 2);
    queue.add('c', 3);
    expect(queue.delete('b')).toBe(true);
    expect(queue.delete('b')).toBe(false);
    // A new version of "a": its old entry must not be visited any more.
    queue.delete('a');
    queue.add('a', 4);
    expect(visitAll(queue)).toEqual([
      ['c', 3],
      ['a', 4],
    ]);
    expect(queue.size).toBe(2);
    expect(queue.has('a')).toBe(true);
    expect(queue.has('b')).toBe(false);
  });

  it('refuses a sequence number that is not above the last one', () => {
    const queue = new PendingQueue();
    queue.add('a', 5);
    expect(() => queue.add('b', 5)).toThrow(RangeError);
    expect(() => queue.add('b', 3)).toThrow(/not above 5/);
  });

  it('keeps order and membership through compactions', () => {
    const queue = new PendingQueue();
    for (let seq = 1; seq <= 5000; seq += 1) queue.add(`r${seq}`, seq);
    // Removing most of them from the front forces compactions along the way.
    for (let seq = 1; seq <= 4900; seq += 1) queue.delete(`r${seq}`);
    const left = visitAll(queue);
    expect(left).toHaveLength(100);
    expect(left[0]).toEqual(['r4901', 4901]);
    expect(left.at(-1)).toEqual(['r5000', 5000]);
    expect(visitAll(queue, 4950)[0]).toEqual(['r4951', 4951]);
  });

  it('agrees with a plain model under any sequence of adds, re-adds and deletes', () => {
    type Step =
      | { kind: 'put'; id: number }
      | { kind: 'delete'; id: number }
      | { kind: 'page'; after: number };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('delete' as const), id: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('page' as const), after: fc.integer({ min: 0, max: 3000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 3000 }), (steps: Step[]) => {
        const queue = new PendingQueue();
        const model = new Map<string, number>();
        let seq = 0;
        for (const s of steps) {
          if (s.kind === 'put') {
            seq += 1;
            // Re-adding a live id without deleting it first must supersede its old entry just the same.
            if (s.id % 2 === 0) queue.delete(`i${s.id}`);
            queue.add(`i${s.id}`, seq);
            model.delete(`i${s.id}`);
            model.set(`i${s.id}`, seq);
          } else if (s.kind === 'delete') {
            expect(queue.delete(`i${s.id}`)).toBe(model.delete(`i${s.id}`));
          } else {
            const expected = [...model].filter(([, at]) => at > s.after).sort((a, b) => a[1] - b[1]);
            expect(visitAll(queue, s.after)).toEqual(expected);
          }
          expect(queue.size).toBe(model.size);
        }
      }),
      { numRuns: 100 },
    );
  });
});
