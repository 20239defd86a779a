import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMain, tsxLoader } from './run-cli.js';

/**
 * The README's CLI example, read from README.md: a newcomer pastes it line by line (the server in its own
 * terminal). The test runs exactly these lines in bash in an empty directory; it only swaps `npm run cli --` for the
 * same CLI started directly (npm needs the repository as its working directory) and port 8787 for a free one.
 */
function readmeCliExample(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```sh\n(# terminal 1: the reference sync server\n[\s\S]*?)```/.exec(readme)?.[1];
  if (!block)
    throw new Error('README.md has no ```sh block starting "# terminal 1: the reference sync server"');
  return block.trimEnd();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function bash(line: string, cwd: string) {
  const child = spawn('bash', ['-c', line], {
    cwd,
    env: { ...process.env, ACTORSYNC_TOKEN: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, exited, output: () => output };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-readme-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the README's CLI example", () => {
  it('serve, import, sync, status: each line works as pasted', async () => {
    const port = String(await freePort());
    const lines = readmeCliExample()
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .map((line) =>
        line
          .replaceAll('npm run cli --', `"${process.execPath}" --import ${tsxLoader} "${cliMain}"`)
          .replaceAll('8787', port),
      );
    const [serveLine, ...clientLines] = lines;
    const server = bash(`exec ${serveLine}`, dir);
    try {
      await expect.poll(server.output, { timeout: 20_000 }).toContain('listening on');
      const outputs: string[] = [];
      for (const line of clientLines) {
        const step = bash(line, dir);
        expect(await step.exited, `${line}\n${step.output()}`).toBe(0);
        outputs.push(step.output());
      }
      const [, imported, synced, status] = outputs;
      expect(imported).toContain('Imported 2 records into "telemetry"');
      expect(synced).toContain('Result: synced: 2/2 synced, 0 failed');
      expect(synced).toContain('Store: all 2 records synced.');
      expect(status).toMatch(/telemetry +2 +0 +0 +0 +0 +-/);
    } finally {
      server.child.kill('SIGINT');
      await server.exited;
    }
  });
});
