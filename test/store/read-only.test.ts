/**
 * `LowdbLocalStore.open(file, { readOnly: true })`: for `actorsync status` and other lookers. It takes no lock,
 * creates, repairs and removes nothing, and refuses every write with a typed error (issue 10, point 10).
 */
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StoreReadOnlyError } from '../../src/domain/errors.js';
import type { RepositoryEntity } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { useTempDir } from '../helpers/temp-dir.js';

interface Doc extends RepositoryEntity {
  title: string;
}

let dir: string;
let file: string;
useTempDir('actorsync-read-only-', (created) => {
  dir = created;
  file = join(created, 'store.json');
});

const doc = (id: string, title = id): Doc => ({
  id,
  title,
  createdAt: 1,
  updatedAt: 1,
  version: 1,
  syncPending: true,
});

/** Every file in the store's directory: name, bytes and mtime. */
async function snapshotDir(): Promise<{ name: string; bytes: string; mtimeMs: number }[]> {
  const names = (await readdir(dir)).sort();
  return Promise.all(
    names.map(async (name) => ({
      name,
      bytes: (await readFile(join(dir, name))).toString('base64'),
      mtimeMs: (await stat(join(dir, name))).mtimeMs,
    })),
  );
}

describe('LowdbLocalStore read-only', () => {
  it('reads a store with a torn journal tail and leaves every file byte-for-byte identical, mtime included', async () => {
    const writer = await LowdbLocalStore.open(file);
    await writer.collection<Doc>('doc').saveMany([doc('a'), doc('b')]);
    await writer.close();
    await appendFile(`${file}.journal`, '{"op":"put","c":"doc","e":[{"id":"torn"');
    // A temp file a crashed compaction left: a writable open removes it, a read-only one must not.
    await writeFile(join(dir, '.store.json.999999999.tmp'), '{"half"');
    const before = await snapshotDir();

    const reader = await LowdbLocalStore.open(file, { readOnly: true });
    expect((await reader.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual(['a', 'b']);
    expect(reader.readOnly).toBe(true);
    await reader.close();

    expect(await snapshotDir()).toEqual(before);
  });

  it('opens a missing store empty and creates nothing, not even a lock', async () => {
    const reader = await LowdbLocalStore.open(file, { readOnly: true });
    expect(reader.entityTypes).toEqual([]);
    expect(await reader.collection<Doc>('doc').getAll()).toEqual([]);
    await reader.close();
    expect(await readdir(dir)).toEqual([]);
    const nowhere = join(dir, 'no', 'such', 'dir', 'store.json');
    await (await LowdbLocalStore.open(nowhere, { readOnly: true })).close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('refuses every write with StoreReadOnlyError and writes nothing', async () => {
    const writer = await LowdbLocalStore.open(file);
    await writer.collection<Doc>('doc').save(doc('a'));
    await writer.close();
    const before = await snapshotDir();
    const reader = await LowdbLocalStore.open(file, { readOnly: true });
    const local = reader.collection<Doc>('doc');
    const policy = { maxItemAttempts: 3, retryDelayMs: () => 1_000 };
    const writes: [string, () => Promise<unknown>][] = [
      ['save', () => local.save(doc('b'))],
      ['saveMany', () => local.saveMany([doc('b')])],
      ['delete', () => local.delete('a')],
      [
        'commit',
        () =>
          local.commit({
            failures: [{ id: 'a', version: 1, error: 'x', retryable: true }],
            failurePolicy: policy,
            now: 1,
          }),
      ],
      ['requeueFailures', () => local.requeueFailures()],
      ['compact', () => reader.compact()],
    ];
    for (const [name, write] of writes) {
      const error = await write().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(StoreReadOnlyError);
      expect((error as StoreReadOnlyError).code, name).toBe('STORE_READ_ONLY');
    }
    expect(await local.getAll()).toEqual([{ ...doc('a') }]);
    await reader.close();
    expect(await snapshotDir()).toEqual(before);
  });

  it('takes no lock: it opens a store another open holds, and the holder keeps writing', async () => {
    const writer = await LowdbLocalStore.open(file);
    await writer.collection<Doc>('doc').save(doc('a'));
    const reader = await LowdbLocalStore.open(file, { readOnly: true });
    expect(await reader.collection<Doc>('doc').get('a')).toMatchObject({ id: 'a' });
    await reader.close();
    await writer.collection<Doc>('doc').save(doc('b'));
    await writer.close();
    const again = await LowdbLocalStore.open(file);
    expect((await again.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual(['a', 'b']);
    await again.close();
  });

  /**
   * Read-only opens, one after another, while `write(i)` stores d000, d001, …: each must see a prefix of the writes
   * holding every one acknowledged before it began. Returns the problems and how many views were taken.
   */
  async function viewsWhileWriting(
    writer: LowdbLocalStore,
    count: number,
    write: (i: number, id: string) => Promise<void>,
    onView: () => Promise<void> = async () => {},
  ) {
    let acknowledged = 0;
    const writing = (async () => {
      for (let i = 0; i < count; i += 1) {
        await write(i, `d${String(i).padStart(3, '0')}`);
        acknowledged = i + 1;
      }
    })();
    const problems: string[] = [];
    let views = 0;
    while (acknowledged < count) {
      const before = acknowledged;
      await onView();
      const reader = await LowdbLocalStore.open(file, { readOnly: true });
      const ids = (await reader.collection<Doc>('doc').getAll()).map((d) => d.id);
      await reader.close();
      views += 1;
      // A prefix of the writes, holding at least every one acknowledged before this open began.
      const expected = Array.from({ length: ids.length }, (_, i) => `d${String(i).padStart(3, '0')}`);
      if (ids.length < before || ids.join() !== expected.join())
        problems.push(`view ${views}: ${ids.length} < ${before}`);
    }
    await writing;
    await writer.close();
    return { problems, views };
  }

  it('sees every acknowledged write while another open keeps writing and compacting', async () => {
    const writer = await LowdbLocalStore.open(file);
    const local = writer.collection<Doc>('doc');
    const { problems, views } = await viewsWhileWriting(writer, 200, async (i, id) => {
      await local.save(doc(id));
      if (i % 7 === 0) await writer.compact();
    });
    expect(problems).toEqual([]);
    expect(views).toBeGreaterThan(5);
  });

  it('sees every acknowledged write while another open compacts in the background', async () => {
    // Compacts every few writes, beside the writes that follow: readers meet both journals, and the renames.
    const writer = await LowdbLocalStore.open(file, { compactAfterBytes: 1_024 });
    const local = writer.collection<Doc>('doc');
    let withNext = 0;
    const { problems, views } = await viewsWhileWriting(
      writer,
      300,
      (_, id) => local.save(doc(id, 'x'.repeat(200))),
      async () => {
        if ((await readdir(dir)).includes('store.json.journal.next')) withNext += 1;
      },
    );
    expect(problems).toEqual([]);
    expect(writer.stats.compactions).toBeGreaterThan(5);
    expect(views).toBeGreaterThan(5);
    expect(withNext).toBeGreaterThan(0);
  });
});
