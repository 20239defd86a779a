import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

describe('examples', () => {
  it('basic-usage runs as the README describes', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/basic-usage.ts'], {
      cwd: root,
      timeout: 30_000,
    });
    expect(stdout).toContain('[telemetry] syncing 40% (99 synced, 1 failed)');
    expect(stdout).toContain('result: error, 249/250 synced');
    expect(stdout).toContain('error: 1 of 250 items failed to sync; last error: value must not be negative');
    expect(stdout).toContain('dead letter: evt-42 (value must not be negative)');
    expect(stdout).toContain('pending: 1, on server: 249');
  });
});
