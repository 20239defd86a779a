// The React test page: a notes list, its pending count, one note, and the sync progress of the type, under
// StrictMode, with the coordinator and repository created outside React (as docs/react.md tells apps to). The test
// drives it through `window.harness` and reads the DOM.
import { Component, type ErrorInfo, Profiler, type ReactNode, StrictMode, useEffect } from 'react';
import { createRoot } from 'react-dom/client';
import { syncStateOf } from '../../../machines/entity-sync.machine.js';
import { HttpRemoteDataSource } from '../../../src/http.js';
import {
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
  type SyncResult,
} from '../../../src/index.js';
import {
  useEntitySnapshot,
  usePendingCount,
  useRecord,
  useRecords,
  useSyncProgress,
  useSyncState,
} from '../../../src/react.js';

export interface Note extends RepositoryEntity {
  title: string;
}

/** What the test reads and drives. */
export interface Harness {
  sync(): Promise<SyncResult>;
  save(id: string, title: string): Promise<void>;
  remove(id: string): Promise<boolean>;
  /** Clears the type's failure records and syncs (`SyncCoordinator.retryFailed`). */
  retryFailed(): Promise<SyncResult>;
  /** Commits of the notes list (React Profiler): renders that reached the screen. */
  commits: { notes: number; progress: number };
  /** Each state the progress component showed, in order (a repeat only when a new run brought it again). */
  states: string[];
  /** Errors an error boundary caught: a hook that threw (useSelector on an actor in error status would). */
  boundaryErrors: string[];
}

declare global {
  interface Window {
    harness: Harness;
  }
}

const params = new URLSearchParams(location.search);
const repository = new Repository<Note>({
  entityType: 'notes',
  local: new MemoryLocalDataSource<Note>([], { entityType: 'notes' }),
  remote: new HttpRemoteDataSource<Note>({
    baseUrl: String(params.get('server')),
    getToken: () => params.get('token') ?? undefined,
    timeoutMs: 5_000,
  }),
});
// Outside React: StrictMode's double render and double effects can never make a second one. One attempt per batch,
// and a failed item's retry a minute away (no jitter), so a failed run stays in `error` while the test looks.
const coordinator = new SyncCoordinator({
  retry: { maxAttempts: 1, baseDelayMs: 60_000, maxDelayMs: 60_000 },
  random: () => 1,
});
coordinator.register(repository);

const harness: Harness = {
  sync: () => coordinator.sync('notes'),
  save: async (id, title) => void (await repository.save({ id, title })),
  remove: (id) => repository.delete(id),
  retryFailed: () => coordinator.retryFailed('notes'),
  commits: { notes: 0, progress: 0 },
  states: [],
  boundaryErrors: [],
};
window.harness = harness;

function Progress() {
  const progress = useSyncProgress(coordinator, 'notes');
  const state = useSyncState(coordinator, 'notes');
  const entityState = useEntitySnapshot(coordinator, 'notes', syncStateOf);
  useEffect(() => {
    // StrictMode runs a mount's effects twice: the same state twice in a row is that, not a new render.
    if (harness.states.at(-1) !== `${state}@${progress?.runId ?? 0}`) {
      harness.states.push(`${state}@${progress?.runId ?? 0}`);
    }
  }, [state, progress?.runId]);
  return (
    <p
      id="progress"
      data-state={state}
      data-entity-state={entityState ?? 'unregistered'}
      data-run={progress?.runId ?? 0}
      data-synced={progress?.syncedItems ?? 0}
      data-pulled={progress?.pulledItems ?? 0}
      data-error={progress?.errorMessage ?? ''}
    >
      {state} {progress?.percent ?? 0}%
    </p>
  );
}

function Notes() {
  const { records, loading, error } = useRecords(repository);
  const { pending } = usePendingCount(repository);
  return (
    <section id="notes" data-loading={loading} data-count={records.length} data-pending={pending}>
      {error && <p id="notes-error">{error.message}</p>}
      <ul>
        {records.map((note) => (
          <li key={note.id} data-id={note.id}>
            {note.title}
          </li>
        ))}
      </ul>
    </section>
  );
}

function FirstNote() {
  const { record, loading } = useRecord(repository, 'first');
  return <p id="first" data-loading={loading} data-title={record?.title ?? ''} />;
}

class Boundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };
  static getDerivedStateFromError() {
    return { failed: true };
  }
  override componentDidCatch(error: Error, _info: ErrorInfo) {
    harness.boundaryErrors.push(error.message);
  }
  override render() {
    return this.state.failed ? <p id="crashed">crashed</p> : this.props.children;
  }
}

const count = (id: keyof Harness['commits']) => () => {
  harness.commits[id]++;
};

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <Boundary>
      <Profiler id="progress" onRender={count('progress')}>
        <Progress />
      </Profiler>
      <Profiler id="notes" onRender={count('notes')}>
        <Notes />
      </Profiler>
      <FirstNote />
    </Boundary>
  </StrictMode>,
);
