import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SyncCoordinator } from '../../src/index.js';
import type { ActorNode } from '../../src/inspect/inspector-model.js';
import { createRemoteInspector } from '../../src/inspect/remote-inspector.js';
import { readTrace } from '../../src/inspect/trace.js';
import { makeRepo, seed } from '../helpers/fixtures.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { runCli, startCli } from './run-cli.js';

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

  it('issue 15: `inspect --listen` prints the page URL and a separate ingest URL and token, and shows what a web app sends', async () => {
    const listen = startCli(
      ['inspect', '--listen', '--allow-origin', 'http://localhost:5173/', '--ingest-token', 'i'.repeat(20)],
      { killAfterMs: null },
    );
    try {
      const page = new URL((await listen.waitFor(/Inspector: (\S+)/))[1] as string);
      const output = listen.stdout();
      const ingestUrl = /Ingest URL: (\S+)/.exec(output)?.[1] ?? '';
      expect(ingestUrl).toBe(`${page.origin}/api/ingest`);
      expect(output).toContain(`Ingest token: ${'i'.repeat(20)}`);
      expect(output).toContain('Pages allowed to send: http://localhost:5173');
      expect(page.hostname).toBe('127.0.0.1');

      const remote = createRemoteInspector({ url: ingestUrl, token: 'i'.repeat(20) });
      const coordinator = new SyncCoordinator({ inspect: remote.inspect });
      const { repository } = makeRepo();
      await seed(repository, 5);
      await coordinator.sync(repository);
      expect(await remote.flush()).toBe(true);
      await coordinator.stop();
      const controller = new AbortController();
      const stream = await fetch(`${page.origin}/api/stream`, {
        headers: { 'x-inspector-token': page.searchParams.get('token') ?? '' },
        signal: controller.signal,
      });
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
      let text = '';
      while (!/event: init\ndata: .*\n/.test(text))
        text += new TextDecoder().decode((await reader.read()).value);
      controller.abort();
      const init = JSON.parse(/event: init\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as {
        tree: ActorNode[];
        ingest: boolean;
        controls: boolean;
      };
      expect(init).toMatchObject({ ingest: true, controls: false });
      expect(init.tree.map((node) => node.systemId)).toEqual(['coordinator', 'entity:note']);
      await remote.close();
      // A page of an origin not allowed sees only a CORS failure: the terminal names the flag to add.
      const refused = await fetch(ingestUrl, {
        method: 'POST',
        headers: { origin: 'http://127.0.0.1:3000', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(refused.status).toBe(403);
      await listen.waitFor(
        /Refused records from a page at http:\/\/127\.0\.0\.1:3000: to take them, restart with --allow-origin http:\/\/127\.0\.0\.1:3000/,
      );
    } finally {
      listen.child.kill('SIGINT');
      await listen.exited;
    }
  }, 60_000);

  it('issue 15: `inspect` needs --trace or --listen, and checks the origins it is given', async () => {
    const neither = await runCli(['inspect']);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toContain('Give either --trace <file> (replay a trace) or --listen');
    const badOrigin = await runCli(['inspect', '--listen', '--allow-origin', 'http://localhost:5173/app']);
    expect(badOrigin.code).toBe(1);
    expect(badOrigin.stderr).toContain('is not an origin');
    const shortToken = await runCli(['inspect', '--listen', '--ingest-token', 'short']);
    expect(shortToken.code).toBe(1);
    expect(shortToken.stderr).toContain('at least 16 characters');
  }, 60_000);
});
