import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTrace } from '../../src/inspect/trace.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-cli-inspect-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cli(args: readonly string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const waitFor = async (pattern: RegExp) => {
    for (let i = 0; i < 300 && !pattern.test(stdout); i += 1) await new Promise((r) => setTimeout(r, 50));
    return pattern.exec(stdout);
  };
  return { child, exited, waitFor, output: () => stdout };
}

describe('actorsync demo --inspect / --trace and actorsync inspect', () => {
  it('the demo serves the inspector and writes a trace that `inspect --trace` replays', async () => {
    const traceFile = join(dir, 'demo.jsonl');
    const demo = cli(['demo', '--items', '60', '--fault-rate', '0', '--inspect', '--trace', traceFile]);
    expect(await demo.exited).toBe(0);
    const output = demo.output();
    expect(output).toMatch(/inspect +http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(output).toContain('✔ server and client agree');
    const { records } = await readTrace(traceFile);
    expect(records.length).toBeGreaterThan(50);
    expect(await readFile(traceFile, 'utf8')).not.toMatch(/Bearer (?!\[redacted\])/);

    const replay = cli(['inspect', '--trace', traceFile]);
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
