/**
 * A compaction runs beside later writes (issue 13): the journal is rotated to `<file>.journal.next`, the snapshot
 * of the state at that point is written in the background, renamed into place, and the next journal then takes the
 * journal's name. A crash (or a failure) at each step must leave files that reopen to exactly the acknowledged
 * state: nothing lost, nothing applied twice. The faults are real ones (a directory where a file must go), put there
 * between the write that started a compaction and the compaction's first I/O: that write resolves before the
 * compaction can do any I/O, and synchronous file calls in between run before it does.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RepositoryEntity, StoreCorruptError, StoreWriteError } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';

interface Doc extends RepositoryEntity {
  title: string;
}

let dir: string;
let file: string;
let journal: string;
let next: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-background-compaction-'));
  file = join(dir, 'store.json');
  journal = `${file}.journal`;
  next = `${file}.journal.next`;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SMALL = { compactAfterBytes: 4 * 1024 };
const policy = { maxItemAttempts: 3, retryDelayMs: () => 60_000 };
const doc = (n: number): Doc => ({
  id: `d${String(n).padStart(4, '0')}`,
  title: `${n} ${'x'.repeat(300)}`,
  createdAt: n,
  updatedAt: n,
  version: 1,
  syncPending: true,
});

/** Write `n` of a mixed workload (saves, acks, failures, deletes): every kind of journal line. */
async function write(store: LowdbLocalStore, n: number): Promise<void> {
  const local = store.collection<Doc>('doc');
  await local.save(doc(n));
  if (n % 3 === 1) await local.commit({ acks: [{ id: doc(n - 1).id, version: 1 }], now: n });
  if (n % 5 === 2) {
    await local.commit({
      failures: [{ id: doc(n - 2).id, version: 1, error: `busy ${n}`, retryable: true }],
      failurePolicy: policy,
      now: n,
    });
  }
  if (n % 7 === 3) await local.delete(doc(n - 3).id);
}

/** Everything a reopen must give back, as plain data. */
async function stateOf(store: LowdbLocalStore) {
  const local = store.collection<Doc>('doc');
  return {
    records: await local.getAll({ includeDeleted: true }),
    failures: await local.failures(),
    // Without its high-water mark: an opaque count of this session's writes, not stored.
    outbox: { ...(await local.outbox(1_000_000)), highWater: 0 },
  };
}

const generationOf = async (path: string) =>
  (JSON.parse((await readFile(path, 'utf8')).split('\n')[0] as string) as { generation: number }).generation;

/** Writes until one starts a compaction (the next journal appears); returns the number of the last write. */
async function writeUntilRotated(store: LowdbLocalStore, from: number): Promise<number> {
  for (let n = from; n < from + 2_000; n += 1) {
    await write(store, n);
    if (existsSync(next)) return n;
  }
  throw new Error('no compaction started');
}

/** Opens, compares with `expected`, and checks the reopen left one snapshot and one journal, then does it again. */
async function expectReopensTo(expected: Awaited<ReturnType<typeof stateOf>>): Promise<void> {
  for (let round = 0; round < 2; round += 1) {
    const store = await LowdbLocalStore.open(file, SMALL);
    try {
      expect(await stateOf(store)).toEqual(expected);
    } finally {
      await store.close();
    }
    expect((await readdir(dir)).sort()).toEqual(['store.json', 'store.json.journal']);
    expect(await generationOf(journal)).toBe(JSON.parse(await readFile(file, 'utf8')).generation);
  }
}

/** A pid no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('compaction beside later writes', () => {
  it('writes go on while the snapshot is written; the next journal then takes the journal’s name', async () => {
    const store = await LowdbLocalStore.open(file, SMALL);
    const rotatedAt = await writeUntilRotated(store, 1);
    // The compaction has not done any I/O yet: the rotation is all there is.
    expect(store.stats.compactions).toBe(0);
    expect(await generationOf(next)).toBe(1);
    for (let n = rotatedAt + 1; n <= rotatedAt + 5; n += 1) await write(store, n);
    await store.whenCompacted();
    expect(store.stats.compactions).toBe(1);
    expect(existsSync(next)).toBe(false);
    expect(JSON.parse(await readFile(file, 'utf8')).generation).toBe(1);
    expect(await generationOf(journal)).toBe(1);
    // The writes after the rotation are in the journal, not in the snapshot.
    const snapshot = JSON.parse(await readFile(file, 'utf8'));
    expect(Object.keys(snapshot.collections.doc.records)).toHaveLength(rotatedAt);
    const expected = await stateOf(store);
    await store.close();
    await expectReopensTo(expected);
  });

  it('a crash after the rotation, or mid-snapshot: the old snapshot and both journals reopen to every write', async () => {
    // The snapshot's temporary file cannot be created: the compaction fails after the rotation, as a kill there
    // would leave it (the next journal holding the writes since).
    const store = await LowdbLocalStore.open(file, SMALL);
    mkdirSync(join(dir, `.store.json.${process.pid}.tmp`));
    const rotatedAt = await writeUntilRotated(store, 1);
    await store.whenCompacted().catch(() => {});
    for (let n = rotatedAt + 1; n <= rotatedAt + 20; n += 1) await write(store, n);
    // Reported, retried by every later write, and nothing lost meanwhile.
    expect(store.stats.compactionFailures).toBeGreaterThan(1);
    expect(store.stats.lastCompactionError).toMatch(/EISDIR/);
    expect(store.stats.compactions).toBe(0);
    await expect(store.whenCompacted()).rejects.toThrow(/EISDIR/);
    const expected = await stateOf(store);
    await store.close();
    rmSync(join(dir, `.store.json.${process.pid}.tmp`), { recursive: true });
    expect(JSON.parse(await readFile(file, 'utf8')).generation).toBe(0);
    expect(await generationOf(journal)).toBe(0);
    expect(await generationOf(next)).toBe(1);
    // A kill mid-snapshot also leaves half a snapshot in a dead process's temporary file.
    const half = (await readFile(file, 'utf8')).slice(0, 40);
    await writeFile(join(dir, `.store.json.${await deadPid()}.tmp`), half);
    await expectReopensTo(expected);
    // The reopen compacted both journals into a snapshot after both.
    expect(JSON.parse(await readFile(file, 'utf8')).generation).toBe(2);
  });

  it('a failed snapshot is retried by the next write once the fault is gone', async () => {
    const blocker = join(dir, `.store.json.${process.pid}.tmp`);
    const store = await LowdbLocalStore.open(file, SMALL);
    mkdirSync(blocker);
    const rotatedAt = await writeUntilRotated(store, 1);
    await expect(store.whenCompacted()).rejects.toThrow(/EISDIR/);
    expect(store.stats.compactionFailures).toBe(1);
    rmSync(blocker, { recursive: true });
    await write(store, rotatedAt + 1);
    await store.whenCompacted();
    expect(store.stats.compactions).toBe(1);
    expect(store.stats.lastCompactionError).toBeUndefined();
    expect(existsSync(next)).toBe(false);
    const expected = await stateOf(store);
    await store.close();
    await expectReopensTo(expected);
  });

  it('a crash after the snapshot is in place, before the next journal takes the journal’s name', async () => {
    const store = await LowdbLocalStore.open(file, SMALL);
    const rotatedAt = await writeUntilRotated(store, 1);
    // The journal cannot be replaced (a directory is there): the compaction fails at its last step.
    const stale = readFileSync(journal);
    rmSync(journal);
    mkdirSync(journal);
    writeFileSync(join(journal, 'keep'), 'x');
    await expect(store.whenCompacted()).rejects.toThrow();
    expect(store.stats.compactions).toBe(1);
    for (let n = rotatedAt + 1; n <= rotatedAt + 10; n += 1) await write(store, n);
    const expected = await stateOf(store);
    await store.close();
    // As a kill there leaves it: the new snapshot, the stale journal, the next journal.
    rmSync(journal, { recursive: true });
    writeFileSync(journal, stale);
    expect(JSON.parse(await readFile(file, 'utf8')).generation).toBe(1);
    expect(await generationOf(journal)).toBe(0);
    expect(await generationOf(next)).toBe(1);
    await expectReopensTo(expected);
  });

  it('a failed rotation leaves the writes in the journal and is retried', async () => {
    mkdirSync(next);
    const store = await LowdbLocalStore.open(file, SMALL).catch((e: unknown) => e);
    // A directory where the next journal belongs is refused on open, like any store file.
    expect(store).toBeInstanceOf(StoreCorruptError);
    rmSync(next, { recursive: true });
    const opened = await LowdbLocalStore.open(file, SMALL);
    mkdirSync(next);
    let n = 1;
    while (opened.stats.compactionFailures < 3) await write(opened, n++);
    expect(opened.stats.compactions).toBe(0);
    expect(opened.stats.lastCompactionError).toMatch(/EISDIR/);
    // The directory is still there: the failed rotation removed nothing that was not its own.
    expect(existsSync(next)).toBe(true);
    rmSync(next, { recursive: true });
    await write(opened, n++);
    await opened.whenCompacted();
    expect(opened.stats.compactions).toBe(1);
    const expected = await stateOf(opened);
    await opened.close();
    await expectReopensTo(expected);
  });

  it('compact() finishes a compaction that failed before its own, and reports one it cannot finish', async () => {
    const blocker = join(dir, `.store.json.${process.pid}.tmp`);
    const store = await LowdbLocalStore.open(file, SMALL);
    mkdirSync(blocker);
    const rotatedAt = await writeUntilRotated(store, 1);
    await write(store, rotatedAt + 1);
    await expect(store.compact()).rejects.toBeInstanceOf(StoreWriteError);
    rmSync(blocker, { recursive: true });
    await store.compact();
    // Both compactions are done: the snapshot holds everything, the journal nothing.
    expect(store.stats.compactions).toBe(2);
    expect((await readFile(journal, 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
    const expected = await stateOf(store);
    await store.close();
    await expectReopensTo(expected);
  });
});

describe('a hostile next journal', () => {
  /** A store at generation 1 (snapshot and journal), closed, and its files. */
  async function storeAtGeneration1() {
    const store = await LowdbLocalStore.open(file);
    await store.collection<Doc>('doc').save(doc(1));
    await store.compact();
    await store.collection<Doc>('doc').save(doc(2));
    await store.close();
    return { journal: await readFile(journal, 'utf8') };
  }
  const header = (generation: number) => `${JSON.stringify({ format: 'actorsync-journal', generation })}\n`;
  const put = (n: number) => `${JSON.stringify({ op: 'put', c: 'doc', e: [doc(n)] })}\n`;

  it.each([
    ['garbage', () => 'not a journal\n', /first line|damaged/],
    ['garbage without a newline', () => 'not a journal', /first line/],
    ['a generation two ahead', () => header(3) + put(3), /newer than the snapshot/],
    ['a damaged line', () => `${header(2)}{"op":"put"\n`, /line 2/],
    ['the same generation as the journal', () => header(1) + put(3), /both follow generation 1/],
  ])('%s is refused with StoreCorruptError naming it, and nothing is touched', async (_, content, reason) => {
    await storeAtGeneration1();
    await writeFile(next, content());
    const before = await Promise.all(
      ['store.json', 'store.json.journal', 'store.json.journal.next'].map((name) =>
        readFile(join(dir, name), 'utf8'),
      ),
    );
    for (const readOnly of [false, true]) {
      const error = await LowdbLocalStore.open(file, { readOnly }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreCorruptError);
      expect((error as StoreCorruptError).file).toBe(next);
      expect((error as Error).message).toMatch(reason);
    }
    const after = await Promise.all(
      ['store.json', 'store.json.journal', 'store.json.journal.next'].map((name) =>
        readFile(join(dir, name), 'utf8'),
      ),
    );
    expect(after).toEqual(before);
  });

  it('one that follows the next generation without the journal before it is refused (writes would be missing)', async () => {
    await storeAtGeneration1();
    rmSync(journal);
    await writeFile(next, header(2) + put(3));
    const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect((error as StoreCorruptError).file).toBe(next);
    expect(await readFile(next, 'utf8')).toBe(header(2) + put(3));
  });

  it('a FIFO is refused at once, naming it', { timeout: 5_000 }, async () => {
    await storeAtGeneration1();
    execFileSync('mkfifo', [next]);
    for (const readOnly of [false, true]) {
      const error = await LowdbLocalStore.open(file, { readOnly }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreCorruptError);
      expect((error as StoreCorruptError).file).toBe(next);
    }
  });

  it('a stale one (older than the snapshot) or one with a torn header holds nothing: dropped on open', async () => {
    for (const content of [header(0) + put(9), header(1).slice(0, 20), '']) {
      const { journal: journalText } = await storeAtGeneration1();
      await writeFile(next, content);
      const reader = await LowdbLocalStore.open(file, { readOnly: true });
      expect((await reader.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual([doc(1).id, doc(2).id]);
      await reader.close();
      const store = await LowdbLocalStore.open(file);
      expect((await store.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual([doc(1).id, doc(2).id]);
      await store.close();
      expect(existsSync(next)).toBe(false);
      expect(await readFile(journal, 'utf8')).toBe(journalText);
      rmSync(file);
      rmSync(journal);
    }
  });
});
