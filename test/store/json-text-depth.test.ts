import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../src/domain/errors.js';
import { jsonTextDepth } from '../../src/store/durable-json-file.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { MAX_STORED_DEPTH } from '../../src/store/outbox-index.js';

describe('jsonTextDepth: the deepest nesting of a JSON text, in one pass', () => {
  it.each([
    ['1', 0],
    ['{}', 1],
    ['[[], {"a": [1, {"b": 2}]}]', 4],
    ['{"a": "[[[[{{{{"}', 1],
    ['{"a": "quote \\" then [[[["}', 1],
    ['{"a": "backslash \\\\", "b": [[1]]}', 3],
  ])('%s → %i', (text, depth) => {
    expect(jsonTextDepth(text)).toBe(depth);
  });

  it('agrees with the parsed value at any depth', () => {
    for (const depth of [1, 5, 64, 513, 5_000]) {
      const text = `${'{"x":'.repeat(depth)}0${'}'.repeat(depth)}`;
      expect(jsonTextDepth(text)).toBe(depth);
    }
  });
});

describe('reading a snapshot: records nested past MAX_STORED_DEPTH are refused, others load without a walk', () => {
  const nested = (levels: number): unknown => {
    let value: unknown = 0;
    for (let i = 0; i < levels; i += 1) value = { x: value };
    return value;
  };
  const snapshot = (deep: unknown) =>
    JSON.stringify({
      format: 'actorsync-store',
      version: 1,
      generation: 1,
      collections: {
        notes: {
          records: {
            a: { id: 'a', createdAt: 1, updatedAt: 1, syncPending: true, version: 1, deep },
            b: { id: 'b', createdAt: 1, updatedAt: 1, syncPending: false, version: 1 },
          },
          failures: {},
        },
      },
    });

  it.each([
    [MAX_STORED_DEPTH - 1, 'opens'],
    [MAX_STORED_DEPTH + 50, 'refused'],
  ] as const)('a record nested %i levels deep: %s', async (levels, outcome) => {
    const dir = await mkdtemp(join(tmpdir(), 'actorsync-depth-'));
    try {
      const file = join(dir, 'store.json');
      const text = snapshot(nested(levels));
      await writeFile(file, text);
      const opening = LowdbLocalStore.open(file, { readOnly: true });
      if (outcome === 'opens') {
        const store = await opening;
        expect((await store.collection('notes').getAll()).map((r) => r.id)).toEqual(['a', 'b']);
        await store.close();
      } else {
        await expect(opening).rejects.toThrow(StoreCorruptError);
        await expect(opening).rejects.toThrow(/record "notes"\/"a".*nested deeper than 512/);
        expect(await readFile(file, 'utf8')).toBe(text);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
