import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

/**
 * Registers hooks that make a fresh directory under the OS temp dir named `prefix…` and hand it to `use`, before
 * each test (`scope: 'each'`, the default) or once for the file (`'all'`), and remove it afterwards. Call it at
 * the top level of a test file, or in a `describe`.
 */
export function useTempDir(
  prefix: string,
  use: (dir: string) => void,
  { scope = 'each' }: { scope?: 'each' | 'all' } = {},
): void {
  let dir: string | undefined;
  (scope === 'each' ? beforeEach : beforeAll)(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
    use(dir);
  });
  (scope === 'each' ? afterEach : afterAll)(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
}
