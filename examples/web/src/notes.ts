// The app's sync setup, made once per page, outside React (StrictMode renders and mounts components twice).
import { Repository, type RepositoryEntity, SyncCoordinator } from 'actorsync';
import { TabSync } from 'actorsync/browser';
import { HttpRemoteDataSource } from 'actorsync/http';
import { IndexedDbLocalStore } from 'actorsync/indexeddb';

export interface Note extends RepositoryEntity {
  text: string;
}

export interface NotesApp {
  notes: Repository<Note>;
  tabs: TabSync;
  store: IndexedDbLocalStore;
}

interface ExampleConfig {
  serverUrl: string;
  token: string;
}

/** The database and the tab lock are named per sync server, so two example servers never share a database. */
export async function startNotesApp(): Promise<NotesApp> {
  // Served by the example's dev server (examples/web/start.ts): the token never appears in a URL or a log.
  const response = await fetch('/actorsync-config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`The example's config is not available (HTTP ${response.status})`);
  const config = (await response.json()) as ExampleConfig;
  const name = `actorsync-notes:${new URL(config.serverUrl).host}`;
  const store = await IndexedDbLocalStore.open({ name });
  const notes = new Repository<Note>({
    entityType: 'notes',
    local: store.collection<Note>('notes'),
    remote: new HttpRemoteDataSource<Note>({ baseUrl: config.serverUrl, getToken: () => config.token }),
    // One held request brings other devices' changes within a second.
    live: true,
  });
  const tabs = new TabSync({
    name,
    // Only the tab that leads builds a coordinator; the others show its progress and forward their requests.
    createCoordinator: () => {
      const coordinator = new SyncCoordinator({ enableAutoSync: true, autoSyncIntervalMs: 30_000 });
      coordinator.register(notes);
      return coordinator;
    },
  });
  // A write in this tab, or one another tab made (the store hears of those too), reaches the leader's outbox;
  // telling it starts a run soon instead of at the next interval.
  notes.subscribe((change) => {
    if (change.source === 'local') tabs.notifyLocalChange('notes');
  });
  // A tab that lost the lead was asleep (frozen, paused): it may have missed other tabs' announcements.
  tabs.onLeadershipChange((isLeader) => {
    if (!isLeader) void store.refresh().catch(() => {});
  });
  // Back online: sync what was saved while offline without waiting for the interval.
  addEventListener('online', () => void tabs.sync('notes').catch(() => {}));
  // Only when the page goes for good: one restored from the back/forward cache rejoins (TabSync steps down on
  // pagehide and campaigns again on pageshow by itself), which a closed TabSync never would.
  addEventListener('pagehide', (event) => {
    if (!event.persisted) void tabs.close();
  });
  return { notes, tabs, store };
}
