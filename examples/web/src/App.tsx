import type { SyncProgress } from 'actorsync';
import { usePendingCount, useRecords, useSyncProgress, useSyncState } from 'actorsync/react';
import { type FormEvent, useEffect, useState, useSyncExternalStore } from 'react';
import type { Note, NotesApp } from './notes.js';

export function App({ app }: { app: NotesApp }) {
  return (
    <main>
      <h1>Notes</h1>
      <SyncStatus app={app} />
      <NewNote app={app} />
      <NoteList app={app} />
    </main>
  );
}

function useOnline(): boolean {
  return useSyncExternalStore(
    (onChange) => {
      addEventListener('online', onChange);
      addEventListener('offline', onChange);
      return () => {
        removeEventListener('online', onChange);
        removeEventListener('offline', onChange);
      };
    },
    () => navigator.onLine,
  );
}

function useIsLeader(app: NotesApp): boolean {
  return useSyncExternalStore(
    (onChange) => {
      const subscription = app.tabs.onLeadershipChange(onChange);
      return () => subscription.unsubscribe();
    },
    () => app.tabs.isLeader,
  );
}

function SyncStatus({ app }: { app: NotesApp }) {
  const state = useSyncState(app.tabs, 'notes');
  const progress = useSyncProgress(app.tabs, 'notes');
  const { pending, loading } = usePendingCount(app.notes);
  const online = useOnline();
  const leader = useIsLeader(app);
  const [failure, setFailure] = useState<string | undefined>();
  const syncNow = () => {
    setFailure(undefined);
    app.tabs.sync('notes').catch((error: unknown) => setFailure(String(error)));
  };
  return (
    <section aria-label="sync status">
      <p>
        <span data-testid="network">{online ? 'online' : 'offline'}</span> ·{' '}
        <span data-testid="role">{leader ? 'this tab syncs' : 'another tab syncs'}</span> ·{' '}
        <span data-testid="state">{state}</span>
        {progress?.phase && state === 'syncing' ? ` (${progress.phase})` : ''} ·{' '}
        <span data-testid="pending">{loading ? '…' : pending}</span> to send
      </p>
      <RunFigures progress={progress} />
      {progress?.lastError && (
        <p role="alert" data-testid="last-error">
          Last error: {progress.lastError}
          {progress.nextRetryAt !== undefined && <RetryAt at={progress.nextRetryAt} />}
        </p>
      )}
      {failure && <p role="alert">{failure}</p>}
      <button type="button" onClick={syncNow}>
        Sync now
      </button>
    </section>
  );
}

function RunFigures({ progress }: { progress: SyncProgress | undefined }) {
  if (!progress) return <p data-testid="run">No run yet</p>;
  return (
    <p data-testid="run">
      Run {progress.runId}: {progress.percent}% · {progress.syncedItems} sent · {progress.pulledItems}{' '}
      received · {progress.deletedItems} deleted · {progress.conflicts} conflicts · {progress.failedItems}{' '}
      failed
    </p>
  );
}

function RetryAt({ at }: { at: number }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.max(0, Math.ceil((at - now) / 1_000));
  return <span data-testid="next-retry"> · next retry in {seconds} s</span>;
}

function NewNote({ app }: { app: NotesApp }) {
  const [text, setText] = useState('');
  const add = (event: FormEvent) => {
    event.preventDefault();
    if (!text.trim()) return;
    void app.notes.save({ text });
    setText('');
  };
  return (
    <form onSubmit={add}>
      <input aria-label="new note" value={text} onChange={(event) => setText(event.target.value)} />
      <button type="submit">Add</button>
    </form>
  );
}

function NoteList({ app }: { app: NotesApp }) {
  const { records, loading, error } = useRecords(app.notes);
  if (loading) return <p>Loading…</p>;
  const sorted = [...records].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  return (
    <>
      {error && <p role="alert">{error.message}</p>}
      <ul data-testid="notes">
        {sorted.map((note) => (
          <NoteItem key={note.id} app={app} note={note} />
        ))}
      </ul>
    </>
  );
}

function NoteItem({ app, note }: { app: NotesApp; note: Note }) {
  const [draft, setDraft] = useState<string | undefined>();
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (draft !== undefined && draft !== note.text) void app.notes.save({ ...note, text: draft });
    setDraft(undefined);
  };
  return (
    <li data-id={note.id} data-pending={note.syncPending ? 'yes' : 'no'}>
      {draft === undefined ? (
        <>
          <span className="text">{note.text}</span> {note.syncPending ? '(not sent)' : ''}{' '}
          <button type="button" onClick={() => setDraft(note.text)}>
            Edit
          </button>{' '}
          <button type="button" onClick={() => void app.notes.delete(note.id)}>
            Delete
          </button>
        </>
      ) : (
        <form onSubmit={save}>
          <input aria-label="edit note" value={draft} onChange={(event) => setDraft(event.target.value)} />
          <button type="submit">Save</button>
        </form>
      )}
    </li>
  );
}
