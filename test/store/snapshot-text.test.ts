/**
 * A compaction writes its snapshot piece by piece (`snapshotText` through `DurableJSONFile.writeText`) instead of
 * one `JSON.stringify` of the whole store: the text must be exactly what that stringify made, and the chunked write
 * must carry every character, whatever falls on a chunk boundary.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FailureRecord, RepositoryEntity } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { DurableJSONFile } from '../../src/store/durable-json-file.js';
import { captureState, snapshotText } from '../../src/store/lowdb-store.js';
import { OutboxIndex } from '../../src/store/outbox-index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-snapshot-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Doc = RepositoryEntity & { text: string };

const entity = (id: string, fields: Record<string, unknown> = {}): RepositoryEntity => ({
  id,
  createdAt: 1,
  updatedAt: 2,
  version: 3,
  syncPending: false,
  ...fields,
});

/** The snapshot as compaction built it before: a document of objects without a prototype, stringified whole. */
function stringifiedWhole(generation: number, collections: Map<string, OutboxIndex<RepositoryEntity>>) {
  const byType: Record<string, unknown> = Object.create(null);
  for (const [entityType, index] of collections) {
    const { records, failures, pull } = index.exportState();
    const byId: Record<string, RepositoryEntity> = Object.create(null);
    for (const record of records) byId[record.id] = record;
    const failuresById: Record<string, FailureRecord> = Object.create(null);
    for (const record of failures) failuresById[record.id] = record;
    byType[entityType] = {
      records: byId,
      failures: failuresById,
      ...(pull.checkpoint === undefined ? {} : { checkpoint: pull.checkpoint }),
      ...(pull.resetting ? { resetting: true } : {}),
    };
  }
  return JSON.stringify({ format: 'actorsync-store', version: 1, generation, collections: byType });
}

describe('snapshotText', () => {
  it('is the text JSON.stringify made of the whole document, for any names and ids', () => {
    const collections = new Map<string, OutboxIndex<RepositoryEntity>>();
    expect([...snapshotText(0, captureState(collections))].join('')).toBe(stringifiedWhole(0, collections));

    const notes = new OutboxIndex<RepositoryEntity>();
    // Ids JSON must escape, an id that is a prototype's name, and (non-integer) ids in change order.
    notes.put([
      entity('b"\\\n'),
      entity('__proto__', { text: 'é😀', nested: { list: [1, null, 'x'] } }),
      entity('a', { deleted: true }),
      entity('constructor'),
    ]);
    notes.applyDelta({
      synced: [],
      stale: [],
      replaced: [],
      failures: [
        {
          id: 'a',
          version: 3,
          attempts: 2,
          lastError: 'no "reason"',
          retryable: true,
          nextAttemptAt: 50,
          deadLettered: false,
          failedAt: 9,
        },
      ],
    });
    notes.restorePullState({ checkpoint: 'c:"12"', resetting: true });
    collections.set('note', notes);
    collections.set('__proto__', new OutboxIndex());
    const pulled = new OutboxIndex<RepositoryEntity>();
    pulled.put([entity('x'), entity('y', { syncPending: true, baseVersion: 2 })]);
    pulled.restorePullState({ checkpoint: 'p', resetting: false });
    collections.set('pulled', pulled);

    const text = [...snapshotText(7, captureState(collections))].join('');
    expect(text).toBe(stringifiedWhole(7, collections));
  });

  it('reads back the same records in the same order, integer-like ids included', () => {
    const index = new OutboxIndex<RepositoryEntity>();
    index.put([entity('10'), entity('b'), entity('2'), entity('a')]);
    const collections = new Map([['t', index]]);
    const parse = (text: string) => Object.keys(JSON.parse(text).collections.t.records);
    expect(parse([...snapshotText(1, captureState(collections))].join(''))).toEqual(
      parse(stringifiedWhole(1, collections)),
    );
  });
});

describe('DurableJSONFile.writeText', () => {
  it('writes a text longer than a chunk whole, a surrogate pair on the chunk boundary included', async () => {
    const file = join(dir, 'doc.json');
    const adapter = new DurableJSONFile<string>(file, (data) => data as string);
    // One character before the pairs puts a high surrogate at index 2^20 - 1: the end of the first chunk.
    const value = `😀`.repeat(1 << 20);
    await adapter.writeText(['"', value.slice(0, 10), value.slice(10), '"']);
    expect(await adapter.read()).toBe(value);
    expect(adapter.bytes).toBe((await readFile(file)).length);
    expect(adapter.bytes).toBe(Buffer.byteLength(JSON.stringify(value)));
  });

  it('writes a document whose pieces are all small', async () => {
    const file = join(dir, 'doc.json');
    const adapter = new DurableJSONFile<number[]>(file, (data) => data as number[]);
    const numbers = Array.from({ length: 300_000 }, (_, i) => i);
    await adapter.writeText(['[', ...numbers.map((n, i) => (i === 0 ? `${n}` : `,${n}`)), ']']);
    expect(await adapter.read()).toEqual(numbers);
  });
});

describe('compaction of a store larger than a chunk', () => {
  it('reopens with every record as it was', async () => {
    const file = join(dir, 'store.json');
    const store = await LowdbLocalStore.open(file, { compactAfterBytes: 1 << 30 });
    const collection = store.collection<Doc>('doc');
    const records = Array.from(
      { length: 400 },
      (_, i) => entity(`d${i}`, { text: `${i % 2 ? '😀' : 'é'}${'x😀'.repeat(1_500)}` }) as Doc,
    );
    await collection.saveMany(records);
    await store.compact();
    expect(store.stats.snapshotBytesWritten).toBe((await readFile(file)).length);
    await store.close();
    const reopened = await LowdbLocalStore.open(file);
    try {
      const back = await reopened.collection('doc').getAll();
      expect(back.map((record) => record.id)).toEqual(records.map((record) => record.id));
      expect(back.map((record) => (record as Doc).text)).toEqual(records.map((record) => record.text));
    } finally {
      await reopened.close();
    }
  });
});
