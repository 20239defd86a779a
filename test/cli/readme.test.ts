import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../helpers/temp-dir.js';
import { cliMain, startProcess, tsxLoader } from './run-cli.js';

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

/** Runs `line` in bash in `cwd`; its output is stdout and stderr together. */
const bash = (line: string, cwd: string) => startProcess('bash', ['-c', line], { cwd, killAfterMs: null });

let dir: string;
useTempDir('actorsync-readme-', (created) => (dir = created), { scope: 'all' });

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
        expect((await step.exited).code, `${line}\n${step.output()}`).toBe(0);
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
