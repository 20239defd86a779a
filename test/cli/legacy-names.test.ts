/**
 * A store written by an earlier version may hold collection names that today's rule refuses (spaces, control
 * characters, none at all). `status` lists them as one quoted, escaped token each, so a name can neither break the
 * table nor write control characters to the terminal.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatStatus, printableName, readStatuses } from '../../src/cli/status.js';
import { LowdbLocalStore } from '../../src/lowdb.js';

const FIXTURES = new URL('../fixtures/legacy-089d3b1/', import.meta.url);
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('status with names from an earlier version', () => {
  it('prints each odd name quoted and escaped on its own row, ordinary names as they are', async () => {
    dir = await mkdtemp(join(tmpdir(), 'actorsync-legacy-names-'));
    const file = join(dir, 'store.json');
    await copyFile(new URL('compacted.snapshot', FIXTURES), file);
    await copyFile(new URL('compacted.snapshot.journal', FIXTURES), `${file}.journal`);
    const store = await LowdbLocalStore.open(file, { readOnly: true });
    try {
      const statuses = await readStatuses(store, Date.now());
      const lines = formatStatus(statuses, Date.now());
      // One header, one rule, one row per type: no name spilled onto a second line.
      expect(lines).toHaveLength(statuses.length + 2);
      const table = lines.join('\n');
      expect(table).not.toMatch(/\t/);
      expect(table).toContain('"tab\\tand\\nnewline"');
      expect(table).toContain('""');
      expect(table).toContain('"user events"');
      expect(table).toMatch(/^ {2}constructor /m);
    } finally {
      await store.close();
    }
  });

  it('printableName leaves names that pass the rule alone', () => {
    expect(printableName('model-info')).toBe('model-info');
    expect(printableName('a b')).toBe('"a b"');
    expect(printableName('\u001b[31m')).toBe('"\\u001b[31m"');
  });
});
