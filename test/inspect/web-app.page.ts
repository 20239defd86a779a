// The web app of test/inspect/web-app.test.ts: a coordinator with a memory store and the HTTP remote, its actors
// streamed to the inspector. Its query string names the sync server, the ingest URL and both tokens.
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  SyncCoordinator,
} from '../../src/index.js';
import { createRemoteInspector, type RemoteInspectorStats } from '../../src/inspect-browser.js';

/** What the web app's page exposes to the test. */
export interface WebApp {
  seed(count: number): Promise<number>;
  sync(): Promise<{ state: string; syncedItems: number }>;
  flush(): Promise<boolean>;
  stats(): RemoteInspectorStats;
}

declare global {
  interface Window {
    app: WebApp;
  }
}

interface Note extends RepositoryEntity {
  text: string;
}

const params = new URLSearchParams(location.search);
const param = (name: string): string => {
  const value = params.get(name);
  if (value === null) throw new Error(`the page's URL has no ${name}`);
  return value;
};
const syncToken = param('syncToken');
// The sync token stays in the page: the sender scrubs it from every record.
const inspector = createRemoteInspector({
  url: param('ingest'),
  token: param('ingestToken'),
  sanitize: { secretValues: [syncToken] },
});
const repository = new Repository<Note>({
  entityType: 'note',
  local: new MemoryLocalDataSource<Note>(),
  remote: new HttpRemoteDataSource<Note>({ baseUrl: param('server'), getToken: () => syncToken }),
});
const coordinator = new SyncCoordinator({ inspect: inspector.inspect, batchSize: 50 });
coordinator.register(repository);
window.app = {
  seed: (count) =>
    repository
      .saveMany(
        Array.from({ length: count }, (_, i) => ({
          id: `n${i}`,
          text: i === 0 ? `holds ${syncToken}` : `note ${i}`,
        })),
      )
      .then(() => count),
  sync: () => coordinator.sync(repository).then(({ state, syncedItems }) => ({ state, syncedItems })),
  flush: () => inspector.flush(),
  stats: () => inspector.stats(),
};
