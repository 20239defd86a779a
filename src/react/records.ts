import { useMemo, useSyncExternalStore } from 'react';
import type { Subscription } from '../core/progress-stream.js';
import type { LocalChangeListener, RepositoryEntity } from '../domain/types.js';
import { LiveQuery, type LiveQuerySnapshot } from './live-query.js';

/**
 * What the record hooks need of a repository: its reads and its change notifications. The stock `Repository`
 * fits, whatever its store (every store actorsync ships reports its changes). Pass the same object on every render
 * (one created outside React): the hooks start a new subscription and read for a new one.
 */
export interface LiveRepository<T extends RepositoryEntity> {
  /** Every live record (tombstones hidden). */
  getAll(): Promise<T[]>;
  /** The record, `undefined` for none or a tombstone. */
  get(id: string): Promise<T | undefined>;
  /** Records not yet acknowledged by the remote. */
  pendingCount(): Promise<number>;
  /** Called after every durable write to the type: local saves and deletes, a sync's acks, pulled pages. */
  subscribe(listener: LocalChangeListener): Subscription;
}

/** The records of a repository as a view shows them. */
export interface RecordsView<T> {
  /** The live records as last read (tombstones hidden, as `Repository.getAll` hides them); empty while loading. */
  records: readonly T[];
  /** True until the first read settled; later reads keep the previous records on screen. */
  loading: boolean;
  /** Why the last read failed (the records stay as last read), or why the store cannot report changes. */
  error: Error | undefined;
}

export interface RecordView<T> {
  /** The record as last read; `undefined` while loading, when there is none, or once it was deleted. */
  record: T | undefined;
  loading: boolean;
  error: Error | undefined;
}

export interface PendingCountView {
  /** Records not yet acknowledged by the remote (retry waits and dead letters included); 0 while loading. */
  pending: number;
  loading: boolean;
  error: Error | undefined;
}

const NO_RECORDS: readonly never[] = Object.freeze([]);

function useLiveQuery<T>(query: LiveQuery<T>): LiveQuerySnapshot<T> {
  return useSyncExternalStore(query.subscribe, query.getSnapshot, query.getSnapshot);
}

/**
 * Every live record of `repository`, read again after each local write: saves and deletes, a sync's
 * acknowledgements, pulled pages. Writes that land while a read is out are covered by one read after it, so a
 * burst (a 1,000-record pulled page) renders a bounded number of times, and an older read never replaces a newer.
 */
export function useRecords<T extends RepositoryEntity>(
  repository: Pick<LiveRepository<T>, 'getAll' | 'subscribe'>,
): RecordsView<T> {
  const query = useMemo(
    () =>
      new LiveQuery({ read: () => repository.getAll(), watch: (listener) => repository.subscribe(listener) }),
    [repository],
  );
  const { data, loading, error } = useLiveQuery(query);
  return useMemo(() => ({ records: data ?? NO_RECORDS, loading, error }), [data, loading, error]);
}

/** One record of `repository`, read again after each write that touched it (`undefined` once it is deleted). */
export function useRecord<T extends RepositoryEntity>(
  repository: Pick<LiveRepository<T>, 'get' | 'subscribe'>,
  id: string,
): RecordView<T> {
  const query = useMemo(
    () =>
      new LiveQuery({
        read: () => repository.get(id),
        watch: (listener) => repository.subscribe(listener),
        // A change that names no ids (a store that cannot tell which) may have touched it.
        affects: (change) => change.ids.length === 0 || change.ids.includes(id),
      }),
    [repository, id],
  );
  const { data, loading, error } = useLiveQuery(query);
  return useMemo(() => ({ record: data, loading, error }), [data, loading, error]);
}

/** How many records of `repository` wait for the remote's acknowledgement, read again after each local write. */
export function usePendingCount(
  repository: Pick<LiveRepository<RepositoryEntity>, 'pendingCount' | 'subscribe'>,
): PendingCountView {
  const query = useMemo(
    () =>
      new LiveQuery({
        read: () => repository.pendingCount(),
        watch: (listener) => repository.subscribe(listener),
      }),
    [repository],
  );
  const { data, loading, error } = useLiveQuery(query);
  return useMemo(() => ({ pending: data ?? 0, loading, error }), [data, loading, error]);
}
