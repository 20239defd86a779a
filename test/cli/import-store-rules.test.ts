import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseImportLines } from '../../src/cli/records.js';
import { MAX_ENTITY_DEPTH } from '../../src/domain/entity.js';
import { Repository } from '../../src/repository.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { runCli } from './run-cli.js';

/** A record nested `levels` deep, the record itself being level 1 (as `MAX_ENTITY_DEPTH` counts). */
function nested(id: string, levels: number): string {
  let value: unknown = 'leaf';
  for (let level = levels; level > 1; level -= 1) value = { inner: value };
  return JSON.stringify({ id, deep: value });
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

let dir: string;
useTempDir('actorsync-import-rules-', (created) => (dir = created), { scope: 'all' });

describe('review of issue 11: import checks each record against the store rules before creating anything', () => {
  it('parseImportLines reports a record the store would refuse with its line number; the deepest allowed passes', () => {
    const text = [
      nested('ok', MAX_ENTITY_DEPTH),
      nested('too-deep', MAX_ENTITY_DEPTH + 1),
      '{"name":"no id, fine"}',
      nested('deep', 100),
      `{"id":"x","deep":${'['.repeat(5_000)}${']'.repeat(5_000)}}`,
    ].join('\n');
    const { records, invalid } = parseImportLines(text);
    expect(records.map((r) => r.id)).toEqual(['ok', undefined]);
    expect(invalid.map((i) => i.line)).toEqual([2, 4, 5]);
    for (const { reason } of invalid) {
      expect(reason).toMatch(new RegExp(`nested deeper than ${MAX_ENTITY_DEPTH} levels in field "deep"`));
    }
  });

  it('a 100-level line: nothing created, each bad line named, an existing store left byte-identical', async () => {
    const input = join(dir, 'deep.jsonl');
    await writeFile(input, `{"id":"a"}\n${nested('deep', 100)}\n{"id":"b"}\n${nested('deeper', 300)}\n`);
    await mkdir(join(dir, 'fresh'));
    const fresh = join(dir, 'fresh', 'store.json');
    const refused = await runCli(['import', '--db', fresh, '--entity', 'note', input]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`actorsync: ${input}: 2 invalid lines; nothing was imported`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^ {2}line 2: .*nested deeper than 64 levels/),
      expect.stringMatching(/^ {2}line 4: .*nested deeper than 64 levels/),
    ]);
    expect(await readdir(join(dir, 'fresh'))).toEqual([]);

    const existing = join(dir, 'existing.json');
    const store = await LowdbLocalStore.open(existing);
    await new Repository({ entityType: 'note', local: store.collection('note') }).save({ id: 'kept' });
    await store.close();
    const files = [existing, `${existing}.journal`];
    const before = await Promise.all(files.map(sha256));
    const again = await runCli(['import', '--db', existing, '--entity', 'note', input]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('line 2: ');
    expect(await Promise.all(files.map(sha256))).toEqual(before);
  });
});
