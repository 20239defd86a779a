import { describe, expect, it } from 'vitest';
import type { LocalChange, LocalChangeListener, Subscription } from '../../src/index.js';
import { MemoryLocalDataSource, Repository, type RepositoryEntity } from '../../src/index.js';
import { LiveQuery, type LiveQuerySnapshot } from '../../src/react/live-query.js';

interface Note extends RepositoryEntity {
  title: string;
}

/** A change feed the test fires by hand, and reads it answers by hand, in any order. */
class ManualSource {
  readonly listeners = new Set<LocalChangeListener>();
  readonly reads: { resolve(value: string): void; reject(error: Error): void }[] = [];

  watch = (listener: LocalChangeListener): Subscription => {
    this.listeners.add(listener);
    return { unsubscribe: () => this.listeners.delete(listener) };
  };

  read = (): Promise<string> => {
    // Node 20 has no Promise.withResolvers.
    return new Promise<string>((resolve, reject) => this.reads.push({ resolve, reject }));
  };

  change(ids: string[] = ['a']): void {
    const change: LocalChange = { entityType: 'notes', ids, source: 'local' };
    for (const listener of [...this.listeners]) listener(change);
  }
}

/** Resolves once the query has published a snapshot matching `done`. */
function published<T>(query: LiveQuery<T>, done: (snapshot: LiveQuerySnapshot<T>) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const unsubscribe = query.subscribe(() => {
      if (done(query.getSnapshot())) {
        unsubscribe();
        resolve();
      }
    });
  });
}

const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

describe('LiveQuery', () => {
  it('reads once its first listener subscribes, and not before', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    await settle();
    expect(source.reads).toHaveLength(0);
    expect(query.getSnapshot()).toEqual({ data: undefined, loading: true, error: undefined });
    const first = query.getSnapshot();
    expect(query.getSnapshot()).toBe(first);

    const seen: LiveQuerySnapshot<string>[] = [];
    query.subscribe(() => seen.push(query.getSnapshot()));
    await settle();
    expect(source.reads).toHaveLength(1);
    source.reads[0]?.resolve('v1');
    await settle();
    expect(seen).toEqual([{ data: 'v1', loading: false, error: undefined }]);
    // The same object until something changes: React would render forever on a new one per call.
    expect(query.getSnapshot()).toBe(query.getSnapshot());
  });

  it('covers every change that lands while a read is out with one read after it, and reads never overlap', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    const snapshots: (string | undefined)[] = [];
    query.subscribe(() => snapshots.push(query.getSnapshot().data));
    await settle();
    for (let i = 0; i < 1_000; i++) source.change([`n${i}`]);
    await settle();
    // The first read is still out: the thousand changes wait for it, and no second read runs beside it.
    expect(source.reads).toHaveLength(1);
    source.reads[0]?.resolve('before the burst');
    await settle();
    expect(source.reads).toHaveLength(2);
    source.reads[1]?.resolve('after the burst');
    await settle();
    expect(source.reads).toHaveLength(2);
    expect(snapshots).toEqual(['before the burst', 'after the burst']);
    expect(query.stats).toEqual({ reads: 2, changes: 1_000 });
  });

  it('gathers the changes of one task into one read', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    query.subscribe(() => {});
    await settle();
    source.reads[0]?.resolve('first');
    await settle();
    source.change();
    source.change();
    source.change();
    await settle();
    expect(source.reads).toHaveLength(2);
  });

  it('skips changes that do not affect it', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({
      read: source.read,
      watch: source.watch,
      affects: (change) => change.ids.includes('mine'),
    });
    query.subscribe(() => {});
    await settle();
    source.reads[0]?.resolve('first');
    await settle();
    source.change(['other']);
    await settle();
    expect(source.reads).toHaveLength(1);
    source.change(['other', 'mine']);
    await settle();
    expect(source.reads).toHaveLength(2);
  });

  it('keeps the last result beside a failed read, and clears the error with the next good one', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    query.subscribe(() => {});
    await settle();
    source.reads[0]?.resolve('good');
    await settle();
    source.change();
    await settle();
    source.reads[1]?.reject(new Error('disk gone'));
    await settle();
    expect(query.getSnapshot()).toMatchObject({
      data: 'good',
      loading: false,
      error: { message: 'disk gone' },
    });
    source.change();
    await settle();
    source.reads[2]?.resolve('good again');
    await settle();
    expect(query.getSnapshot()).toEqual({ data: 'good again', loading: false, error: undefined });
  });

  it('a StrictMode remount (subscribe, unsubscribe, subscribe) reads once and watches once', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    const unsubscribe = query.subscribe(() => {});
    unsubscribe();
    unsubscribe(); // a second call is harmless
    query.subscribe(() => {});
    await settle();
    expect(source.reads).toHaveLength(1);
    expect(source.listeners.size).toBe(1);
  });

  it('stops watching with its last listener, and reads again when one comes back', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({ read: source.read, watch: source.watch });
    const unsubscribe = query.subscribe(() => {});
    await settle();
    source.reads[0]?.resolve('first');
    await settle();
    unsubscribe();
    expect(source.listeners.size).toBe(0);
    // Missed while nobody watched: a returning view must not keep showing 'first'.
    query.subscribe(() => {});
    await settle();
    expect(source.reads).toHaveLength(2);
    source.reads[1]?.resolve('second');
    await settle();
    expect(query.getSnapshot().data).toBe('second');
  });

  it('a store that cannot report changes shows one read with the reason it will not update', async () => {
    const source = new ManualSource();
    const query = new LiveQuery({
      read: source.read,
      watch: () => {
        throw new Error('no subscribe method');
      },
    });
    query.subscribe(() => {});
    await settle();
    source.reads[0]?.resolve('once');
    await settle();
    expect(query.getSnapshot()).toMatchObject({ data: 'once', error: { message: 'no subscribe method' } });
  });

  it('on a real repository: a burst of 1,000 saves costs a handful of reads, and the last shows every record', async () => {
    const repository = new Repository<Note>({
      entityType: 'notes',
      local: new MemoryLocalDataSource<Note>([], { entityType: 'notes' }),
    });
    const query = new LiveQuery({
      read: () => repository.getAll(),
      watch: (listener) => repository.subscribe(listener),
    });
    const counts: number[] = [];
    query.subscribe(() => counts.push(query.getSnapshot().data?.length ?? -1));
    const all = await published(query, (s) => s.data !== undefined).then(() =>
      Promise.all(Array.from({ length: 1_000 }, (_, i) => repository.save({ id: `n${i}`, title: `${i}` }))),
    );
    expect(all).toHaveLength(1_000);
    await until(() => query.getSnapshot().data?.length === 1_000);
    expect(query.stats.changes).toBe(1_000);
    expect(query.stats.reads).toBeLessThanOrEqual(3);
    // Each read sees at least as many records as the one before: an older read never lands after a newer one.
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(1_000);
    // A delete writes a tombstone: the next read hides it, as Repository.getAll does.
    await repository.delete('n0');
    await until(() => query.getSnapshot().data?.length === 999);
    expect(query.getSnapshot().data?.some((note) => note.id === 'n0')).toBe(false);
  });
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await settle();
}
