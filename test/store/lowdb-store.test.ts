import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Repository, type RepositoryEntity, StoreCorruptError, StoreLockedError } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';

interface Doc extends RepositoryEntity {
  title: string;
}

let dir: string;
let file: string;
const open: LowdbLocalStore[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-lowdb-'));
  file = join(dir, 'store.json');
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const store of open.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(options = {}) {
  const store = await LowdbLocalStore.open(file, options);
  open.push(store);
  return store;
}

async function reopen(store: LowdbLocalStore, options = {}) {
  await store.close();
  open.splice(open.indexOf(store), 1);
  return openStore(options);
}

const repo = (store: LowdbLocalStore, type = 'doc') =>
  new Repository<Doc>({ entityType: type, local: store.collection<Doc>(type) });

/** A pid no process has: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

const docId = (n: number) => `d${String(n).padStart(5, '0')}`;
const policy = { maxItemAttempts: 3, retryDelayMs: () => 60_000 };

describe('LowdbLocalStore', () => {
  it('keeps every acknowledged write across a reopen: records, sync state, failures, deletes', async () => {
    let store = await openStore();
    const docs = repo(store);
    await docs.saveMany(['a', 'b', 'c', 'd'].map((id) => ({ id, title: id })));
    await repo(store, 'other').save({ id: 'x', title: 'other type' });
    await store.collection<Doc>('doc').commit({ acks: [{ id: 'a', version: 1 }], now: 1 });
    await store.collection<Doc>('doc').commit({
      failures: [{ id: 'b', version: 1, error: 'busy', retryable: true }],
      failurePolicy: policy,
      now: 1_000,
    });
    await docs.delete('c');
    await docs.save({ id: 'd', title: 'd2' });

    store = await reopen(store);
    const local = store.collection<Doc>('doc');
    expect(store.entityTypes).toEqual(['doc', 'other']);
    expect(await local.get('a')).toMatchObject({ syncPending: false });
    expect(await local.get('c')).toBeUndefined();
    expect(await local.get('d')).toMatchObject({ title: 'd2', version: 2 });
    expect(await local.failures()).toMatchObject([{ id: 'b', attempts: 1, nextAttemptAt: 61_000 }]);
    expect((await local.pending({ limit: 10, now: 2_000 })).items.map((i) => i.id)).toEqual(['d']);
    expect((await store.collection<Doc>('other').get('x'))?.title).toBe('other type');
  });

  it('keeps the base version of pending changes across reopens, from the journal and from a compacted snapshot', async () => {
    let store = await openStore();
    const docs = () => store.collection<Doc>('doc');
    await repo(store).saveMany(['a', 'b'].map((id) => ({ id, title: id })));
    await docs().commit({ acks: ['a', 'b'].map((id) => ({ id, version: 1 })), now: 1 });
    await repo(store).save({ id: 'a', title: 'a on 1' });
    await repo(store).save({ id: 'b', title: 'b on 1' });
    // b's version 2 was acknowledged after another edit: the pending version 3 is built on 2 (journalled).
    await repo(store).save({ id: 'b', title: 'b on 2' });
    await docs().commit({ acks: [{ id: 'b', version: 2 }], now: 1 });
    const expected = async () => {
      expect(await docs().get('a')).toMatchObject({ version: 2, baseVersion: 1, syncPending: true });
      expect(await docs().get('b')).toMatchObject({ version: 3, baseVersion: 2, syncPending: true });
    };
    await expected();
    store = await reopen(store);
    expect(store.stats.compactions).toBe(0);
    await expected();
    store = await reopen(store, { compactAfterBytes: 1 });
    // A write larger than the snapshot compacts: the snapshot holds the bases, and no base on a synced record.
    const before = store.stats.compactions;
    await repo(store, 'other').save({ id: 'x', title: 'x'.repeat(20_000) });
    await store.whenCompacted();
    expect(store.stats.compactions).toBeGreaterThan(before);
    await docs().commit({ acks: [{ id: 'a', version: 2 }], now: 1 });
    await repo(store, 'other').save({ id: 'y', title: 'y'.repeat(40_000) });
    await store.whenCompacted();
    const snapshot = JSON.parse(await readFile(file, 'utf8'));
    expect(snapshot.collections.doc.records.a).not.toHaveProperty('baseVersion');
    expect(snapshot.collections.doc.records.b).toMatchObject({ version: 3, baseVersion: 2 });
    store = await reopen(store);
    expect(await docs().get('a')).toEqual(expect.not.objectContaining({ baseVersion: expect.anything() }));
    expect(await docs().get('b')).toMatchObject({ version: 3, baseVersion: 2, syncPending: true });
  });

  it('appends to the journal instead of rewriting the snapshot, and compacts with a constant amortised cost', async () => {
    const store = await openStore({ compactAfterBytes: 64 * 1024 });
    const docs = repo(store);
    await docs.saveMany(Array.from({ length: 2_000 }, (_, i) => ({ id: docId(i), title: `doc ${i}` })));
    // The big saveMany outgrew the empty snapshot: compacted once, so the snapshot now holds the 2,000 docs.
    await store.whenCompacted();
    expect(store.stats.compactions).toBe(1);
    const snapshotBefore = await readFile(file, 'utf8');
    const local = store.collection<Doc>('doc');
    const perCommit: number[] = [];
    for (let batch = 0; batch < 20; batch += 1) {
      const before = store.stats.journalBytesWritten;
      const acks = Array.from({ length: 100 }, (_, i) => ({ id: docId(batch * 100 + i), version: 1 }));
      await local.commit({ acks, now: 1 });
      perCommit.push(store.stats.journalBytesWritten - before);
    }
    expect(store.stats.journalAppends).toBe(21);
    // One small append per batch, the same size for the first and the last batch.
    expect(Math.max(...perCommit)).toBeLessThan(4_000);
    expect(Math.max(...perCommit)).toBe(Math.min(...perCommit));
    // 20 batches appended ~60 KB, less than the snapshot: it was not rewritten.
    expect(store.stats.compactions).toBe(1);
    expect(await readFile(file, 'utf8')).toBe(snapshotBefore);
    // Once the journal outgrows the snapshot, a compaction folds it in.
    for (let round = 0; round < 200 && store.stats.compactions === 1; round += 1) {
      await local.requeueFailures();
      await local.commit({
        failures: [{ id: docId(round % 2_000), version: 1, error: 'x'.repeat(2_000), retryable: true }],
        failurePolicy: policy,
        now: round,
      });
      await store.whenCompacted();
    }
    expect(store.stats.compactions).toBe(2);
    const reopened = await reopen(store);
    expect(await reopened.collection<Doc>('doc').outbox(0)).toMatchObject({ pending: 0 });
  });

  it.each([
    ['not JSON', '{"format": "actorsync-store", "vers', /not valid JSON/],
    ['another app’s JSON', '{"users": []}', /not an actorsync store/],
    ['an array', '[1, 2, 3]', /not a JSON object/],
    [
      'a record without an id',
      JSON.stringify({
        format: 'actorsync-store',
        version: 1,
        generation: 0,
        collections: { doc: { records: { x: { title: 'no id' } }, failures: {} } },
      }),
      /needs a non-empty string id/,
    ],
  ])(
    'refuses a snapshot that is %s, naming the file, and leaves it byte-identical',
    async (_, content, reason) => {
      await writeFile(file, content);
      const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreCorruptError);
      expect((error as Error).message).toContain(file);
      expect((error as Error).message).toMatch(reason);
      expect(await readFile(file, 'utf8')).toBe(content);
      // The refused open released its lock.
      await writeFile(
        file,
        JSON.stringify({ format: 'actorsync-store', version: 1, generation: 0, collections: {} }),
      );
      await openStore();
    },
  );

  it('refuses a journal damaged in the middle and leaves it byte-identical', async () => {
    const store = await openStore();
    await repo(store).save({ id: 'a', title: 'a' });
    await repo(store).save({ id: 'b', title: 'b' });
    await store.close();
    const journal = `${file}.journal`;
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[1] = '{"op":"put","c":"doc","e":[{"id":';
    const damaged = lines.join('\n');
    await writeFile(journal, damaged);
    await expect(LowdbLocalStore.open(file)).rejects.toThrow(/journal: line 2 is damaged/);
    expect(await readFile(journal, 'utf8')).toBe(damaged);
  });

  it('cuts off a torn last append (a crash mid-write) and keeps everything before it', async () => {
    let store = await openStore();
    await repo(store).save({ id: 'a', title: 'a' });
    await store.close();
    open.length = 0;
    await appendFile(`${file}.journal`, '{"op":"put","c":"doc","e":[{"id":"torn"');
    store = await openStore();
    expect((await store.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual(['a']);
    await repo(store).save({ id: 'b', title: 'after the tear' });
    store = await reopen(store);
    expect((await store.collection<Doc>('doc').getAll()).map((d) => d.id)).toEqual(['a', 'b']);
  });

  it('drops a journal left over from before a compaction that crashed after the snapshot was written', async () => {
    let store = await openStore();
    await repo(store).save({ id: 'a', title: 'v1' });
    const stale = await readFile(`${file}.journal`);
    await repo(store).save({ id: 'a', title: 'v2' });
    await store.compact();
    await store.close();
    open.length = 0;
    await writeFile(`${file}.journal`, stale);
    store = await openStore();
    expect(await store.collection<Doc>('doc').get('a')).toMatchObject({ title: 'v2', version: 2 });
  });

  it('takes over a lock left by an earlier process with the same pid, and removes temp files a crash left', async () => {
    await writeFile(`${file}.lock`, `${process.pid}\n`);
    await writeFile(join(dir, `.store.json.${await deadPid()}.tmp`), '{"half": "a snapshot"');
    const store = await openStore();
    await repo(store).save({ id: 'a', title: 'a' });
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    // A second open in this same process is still refused.
    await expect(LowdbLocalStore.open(file)).rejects.toThrow(/already open \(by this process\)/);
  });

  it('opening and closing an intact store writes nothing to its files', async () => {
    const store = await openStore();
    await repo(store).save({ id: 'a', title: 'a' });
    await store.close();
    open.length = 0;
    const before = await Promise.all([file, `${file}.journal`].map((f) => stat(f)));
    const contents = await Promise.all([file, `${file}.journal`].map((f) => readFile(f)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await (await openStore()).close();
    open.length = 0;
    const after = await Promise.all([file, `${file}.journal`].map((f) => stat(f)));
    expect(after.map((s) => s.mtimeMs)).toEqual(before.map((s) => s.mtimeMs));
    expect(await Promise.all([file, `${file}.journal`].map((f) => readFile(f)))).toEqual(contents);
  });

  it('lets one process own a store at a time and takes over the lock of a process that died', async () => {
    await openStore();
    await expect(LowdbLocalStore.open(file)).rejects.toThrow(StoreLockedError);
    await open.pop()?.close();

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-store.ts', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      child.on('exit', (code) => reject(new Error(`holder exited early with ${code}`)));
    });
    const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect((error as Error).message).toContain(`by process ${child.pid}`);

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const store = await openStore();
    expect(await store.collection<Doc>('doc').get('held')).toMatchObject({ id: 'held' });
  });

  it('never removes the temp file of a live process, even while it cleans up after dead ones', async () => {
    // The parent of this test process is alive: its temp file may be a write in progress (issue 10, point 1).
    const live = join(dir, `.store.json.${process.ppid}.tmp`);
    const dead = join(dir, `.store.json.${await deadPid()}.tmp`);
    await writeFile(live, '{"being": "written"');
    await writeFile(dead, '{"half"');
    await openStore();
    expect(await readFile(live, 'utf8')).toBe('{"being": "written"');
    await expect(stat(dead)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('treats a lock that holds no pid yet as held, and takes it over only once it is old', async () => {
    // A lock file another process has just created: it may not have written its pid yet (issue 10, point 1).
    await writeFile(`${file}.lock`, '');
    const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect(await readFile(`${file}.lock`, 'utf8')).toBe('');
    // Long past the grace period, an empty lock is a crash's leftover.
    const minuteAgo = new Date(Date.now() - 60_000);
    await utimes(`${file}.lock`, minuteAgo, minuteAgo);
    const store = await openStore();
    await repo(store).save({ id: 'a', title: 'a' });
    expect((await readFile(`${file}.lock`, 'utf8')).split('\n')[0]).toBe(String(process.pid));
    expect((await readdir(dir)).filter((name) => name.includes('.lock.'))).toEqual([]);
  });

  it('a takeover another live process has begun is left to it; one a crash left half-done is finished', async () => {
    const token = '0123456789abcdef';
    await writeFile(`${file}.lock`, `${await deadPid()}\n${token}\n`);
    // The parent of this test process is alive: it is taking the stale lock over right now.
    await writeFile(`${file}.lock.takeover-${token}`, `${process.ppid}\n${'f'.repeat(16)}\n`);
    const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreLockedError);
    expect((error as Error).message).toMatch(/being taken over/);
    // The taker died mid-takeover: its takeover lock is stale too, and is taken over in turn.
    await writeFile(`${file}.lock.takeover-${token}`, `${await deadPid()}\n${'f'.repeat(16)}\n`);
    await openStore();
    expect((await readdir(dir)).filter((name) => name.includes('.lock.'))).toEqual([]);
  });
});
