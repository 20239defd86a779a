import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../../src/inspect/trace.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { startCli } from './run-cli.js';

let dir: string;
useTempDir('actorsync-cli-inspect-', (created) => (dir = created), { scope: 'all' });

describe('actorsync demo --inspect / --trace and actorsync inspect', () => {
  it('the demo serves the inspector and writes a trace that `inspect --trace` replays', async () => {
    const traceFile = join(dir, 'demo.jsonl');
    const demo = startCli(['demo', '--items', '60', '--fault-rate', '0', '--inspect', '--trace', traceFile], {
      killAfterMs: null,
    });
    expect((await demo.exited).code).toBe(0);
    const output = demo.output();
    expect(output).toMatch(/inspect +http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(output).toContain('✔ phone, laptop and server agree');
    const { records } = await readTrace(traceFile);
    expect(records.length).toBeGreaterThan(50);
    expect(await readFile(traceFile, 'utf8')).not.toMatch(/Bearer (?!\[redacted\])/);

    const replay = startCli(['inspect', '--trace', traceFile], { killAfterMs: null });
    try {
      const url = (await replay.waitFor(/Inspector: (\S+)/))?.[1];
      expect(url).toBeDefined();
      const page = new URL(url as string);
      const token = page.searchParams.get('token') ?? '';
      const last = records.length - 1;
      const response = await fetch(`${page.origin}/api/trace/state?at=${last}`, {
        headers: { 'x-inspector-token': token },
      });
      const state = (await response.json()) as { index: number; tree: { systemId?: string }[] };
      expect(state.index).toBe(last);
      expect((await fetch(`${page.origin}/api/trace/state?at=0`)).status).toBe(401);
      // Somewhere in the middle of the trace a batch actor was alive.
      const views = await Promise.all(
        [0.25, 0.5, 0.75].map(async (at) => {
          const r = await fetch(`${page.origin}/api/trace/state?at=${Math.floor(last * at)}`, {
            headers: { 'x-inspector-token': token },
          });
          return (await r.json()) as { tree: { systemId?: string }[] };
        }),
      );
      expect(views.some((v) => v.tree.some((n) => n.systemId?.startsWith('batch:')))).toBe(true);
    } finally {
      replay.child.kill('SIGINT');
      await replay.exited;
    }
  }, 60_000);
});
