import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { batchPushMachine, coordinatorMachine, entitySyncMachine } from '../../machines/index.js';
import {
  applyCharts,
  CHARTS_BEGIN,
  CHARTS_END,
  renderArchitectureCharts,
  toMermaid,
} from '../../scripts/chart.js';

const doc = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');

describe('docs/architecture.md state charts', () => {
  it('match the machine definitions', () => {
    const begin = doc.indexOf(CHARTS_BEGIN);
    const end = doc.indexOf(CHARTS_END);
    expect(begin, 'docs/architecture.md lost its charts markers').toBeGreaterThanOrEqual(0);
    expect(end, 'docs/architecture.md lost its charts markers').toBeGreaterThan(begin);
    const committed = doc.slice(begin + CHARTS_BEGIN.length, end).trim();
    expect(committed, 'State charts are out of date: run `npm run docs:charts`').toBe(
      renderArchitectureCharts().trim(),
    );
    expect(applyCharts(doc, renderArchitectureCharts()), 'run `npm run docs:charts`').toBe(doc);
  });

  it('has a section per machine of the actor tree, root first', () => {
    const charts = renderArchitectureCharts();
    const headings = [...charts.matchAll(/^### (\S+)$/gm)].map((match) => match[1]);
    expect(headings).toEqual(['coordinator', 'entitySync', 'batchPush', 'pull']);
    expect(charts.match(/```mermaid\nstateDiagram-v2\n/g)).toHaveLength(4);
  });
});

describe('toMermaid', () => {
  it('draws the entity lifecycle, with done/error of the batch child', () => {
    const chart = toMermaid(entitySyncMachine);
    expect(chart).toContain('[*] --> idle');
    expect(chart).toContain('idle --> syncing: SYNC');
    expect(chart).toContain('pushing --> pulling: done(batch) [goesOnToPull]');
    expect(chart).toContain('pushing --> error: done(batch) [endsInError]');
    expect(chart).toContain('pushing --> synced: done(batch)');
    expect(chart).toContain('pushing --> error: error(batch)');
    expect(chart).toContain('pulling --> synced: done(pull)');
    expect(chart).toContain('pulling --> error: error(pull)');
    expect(chart).toContain('syncing --> idle: CANCEL');
    expect(chart).toContain('error --> syncing: SYNC');
    // Actions-only handlers are notes, not arrows.
    expect(chart).not.toMatch(/--> [^\n]*BATCH\.PROGRESS/);
    expect(chart).toMatch(/note right of pushing\n\s+Actions only:\n\s+BATCH\.PROGRESS\n\s+BATCH\.RETRYING/);
    expect(chart).toMatch(/note right of pulling\n\s+Actions only:\n\s+PULL\.PROGRESS\n\s+PULL\.RETRYING/);
    expect(chart).toMatch(
      /note right of error_settling\n\s+Anywhere in error \(actions only\):\n\s+after\(untilRetryDue\) \[retryIsDue\]/,
    );
  });

  it('draws the batch run: invoked actors by name, delayed and eventless transitions', () => {
    const chart = toMermaid(batchPushMachine);
    expect(chart).toContain('[*] --> opening');
    expect(chart).toContain('opening --> next: done(openOutbox)');
    expect(chart).toContain('pushing --> headResult: always [headIsIn]');
    expect(chart).toContain('headResult --> handOff: always [headSucceeded]');
    expect(chart).toContain('headResult --> stopping: always [isFatal]');
    expect(chart).toContain('stopping --> aborted: always [not(commitInFlight)]');
    expect(chart).toContain('headResult --> backingOff: always [canRetryBatch]');
    expect(chart).toContain('backingOff --> pushing: after(backoff)');
    expect(chart).toContain('next --> backingOff: always [and(windowIdle, hasCarry, carryWantsBackoff)]');
    expect(chart).toContain('handOff --> awaitingCommit: always [commitInFlight]');
    expect(chart).toContain('draining --> done: always [not(commitInFlight)]');
    // The machine's own transitions leave any state; every push's result is one wildcard handler.
    expect(chart).toContain('anyState --> aborted: error(commit)');
    expect(chart).toContain('anyState --> stopping: error(page)');
    expect(chart).toMatch(/In every state \(actions only\):\n\s+done\(push\.\*\)\n\s+error\(push\.\*\)/);
    expect(chart).toContain('done --> [*]');
    expect(chart).toContain('aborted --> [*]');
    expect(chart).not.toContain('xstate.');
  });

  it('keeps definition order', () => {
    const chart = toMermaid(batchPushMachine);
    const order = [
      'next --> backingOff',
      'next --> pushing: always [and(windowIdle, hasCarry)]',
      'next --> draining',
      'next --> pushing: always\n',
      'headResult --> handOff: always [headSucceeded]',
      'headResult --> stopping',
      'headResult --> backingOff',
      'headResult --> handOff: always\n',
    ];
    const positions = order.map((line) => chart.indexOf(line));
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('shows the coordinator self-loop and lists its root-level events in a note', () => {
    const chart = toMermaid(coordinatorMachine);
    expect(chart).toContain('starting --> autoSync: always [autoSyncEnabled]');
    expect(chart).toContain('starting --> manual: always');
    expect(chart).toContain('autoSync --> autoSync: after(autoSyncInterval) (reenter)');
    const note = chart.slice(chart.indexOf('note right of starting'), chart.indexOf('end note'));
    for (const event of [
      'REGISTER',
      'SYNC',
      'SYNC_ALL',
      'CANCEL',
      'ENTITY.PROGRESS',
      'ENTITY.RUN_DONE',
      'ENTITY.RETRY_DUE',
    ]) {
      expect(note).toMatch(new RegExp(`^\\s+${event.replace('.', '\\.')}$`, 'm'));
    }
  });

  it('is deterministic', () => {
    expect(renderArchitectureCharts()).toBe(renderArchitectureCharts());
  });
});

describe('toMermaid on nested and parallel states', () => {
  const machine = createMachine({
    id: 'demo',
    initial: 'a',
    states: {
      a: {
        initial: 'x',
        on: { GO: 'b', PING: {} },
        onDone: 'b',
        states: { x: { after: { 1000: 'y' } }, y: { on: { NEXT: 'end' } }, end: { type: 'final' } },
      },
      b: {
        type: 'parallel',
        states: {
          left: { initial: 'x', states: { x: { on: { T: 'z' } }, z: {} } },
          right: { initial: 'x', states: { x: {} } },
        },
      },
    },
  });

  it('renders composite blocks, aliases for repeated keys, regions and literal delays', () => {
    expect(toMermaid(machine)).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> a',
        '  state a {',
        '    state "x" as a_x',
        '    [*] --> a_x',
        '    a_x --> y: after(1000ms)',
        '    y --> end: NEXT',
        '    end --> [*]',
        '    note right of a_x',
        '      Anywhere in a (actions only):',
        '      PING',
        '    end note',
        '  }',
        '  a --> b: GO',
        '  a --> b: onDone',
        '  state b {',
        '    state left {',
        '      state "x" as b_left_x',
        '      [*] --> b_left_x',
        '      b_left_x --> z: T',
        '    }',
        '    --',
        '    state right {',
        '      state "x" as b_right_x',
        '      [*] --> b_right_x',
        '    }',
        '  }',
      ].join('\n'),
    );
  });
});
