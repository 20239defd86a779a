import { describe, expect, it } from 'vitest';
import { and, not, or, setup } from 'xstate';
import { machineGraph } from '../../src/inspect/machine-graph.js';

describe('machineGraph guard labels', () => {
  it('spells and, or and not as they are, nested too', () => {
    const machine = setup({
      guards: { a: () => true, b: () => true, c: () => true },
    }).createMachine({
      initial: 'start',
      states: {
        start: {
          always: [
            { guard: and(['a', 'b']), target: 'one' },
            { guard: or(['a', 'b']), target: 'two' },
            { guard: not('a'), target: 'three' },
            { guard: not(and(['a', or(['b', 'c'])])), target: 'four' },
          ],
        },
        one: {},
        two: {},
        three: {},
        four: {},
      },
    });
    expect(machineGraph(machine).transitions.map((t) => `${t.target}: ${t.label}`)).toEqual([
      'one: always [a && b]',
      'two: always [a || b]',
      'three: always [!a]',
      'four: always [!(a && (b || c))]',
    ]);
  });
});
