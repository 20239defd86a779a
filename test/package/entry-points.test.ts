import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Issue 12: each entry point exports exactly these names, values and types alike, so nothing leaks into the public
// API unnoticed (docs/architecture.md lists them by audience). Adding a name is a decision: add it here too.
const root = fileURLToPath(new URL('../..', import.meta.url));

const ENTRIES: Record<string, { source: string; names: string[] }> = {
  '.': {
    source: 'src/index.ts',
    names: [
      'ActorSyncError',
      'assertEntity',
      'assertEntityTypeName',
      'ConditionalWrite',
      'ConflictPolicy',
      'ConflictResolver',
      'CoordinatorStoppedError',
      'EntityFields',
      'errorMessage',
      'FailedItem',
      'FailureKind',
      'failureKind',
      'FailurePolicy',
      'FailureRecord',
      'FatalSyncError',
      'InvalidEntityError',
      'InvalidOptionsError',
      'isEntityTypeName',
      'ItemFailure',
      'ItemResult',
      'LocalChange',
      'LocalChangeListener',
      'LocalDataSource',
      'MalformedReplyError',
      'markDeleted',
      'markSynced',
      'markUpdated',
      'MemoryLocalDataSource',
      'MissingRemoteError',
      'OutboxCommit',
      'OutboxCommitResult',
      'OutboxSnapshot',
      'OwnVersion',
      'PendingPage',
      'PendingQuery',
      'PermanentSyncError',
      'ProgressListener',
      'ProgressStream',
      'PullOptions',
      'PulledChange',
      'PulledChanges',
      'PulledPage',
      'PulledPageOptions',
      'PulledPageResult',
      'PullReply',
      'PullRequest',
      'PullResetLimitError',
      'PullResetRequired',
      'ReadOptions',
      'RefusedChange',
      'RemoteDataSource',
      'RemoteUnavailableError',
      'Repository',
      'RepositoryEntity',
      'RepositoryOptions',
      'RetryOptions',
      'RetryPolicy',
      'StalePageError',
      'StoreCorruptError',
      'StoreLockedError',
      'StoreReadOnlyError',
      'StoreWriteError',
      'Subscription',
      'SyncAck',
      'SyncableRepository',
      'SyncBatchContext',
      'SyncCommand',
      'SyncCoordinator',
      'SyncCoordinatorOptions',
      'SyncDirection',
      'SyncLogger',
      'SyncPhase',
      'SyncProgress',
      'SyncResult',
      'SyncState',
      'TransientSyncError',
      'UnknownEntityTypeError',
    ],
  },
  './http': {
    source: 'src/http.ts',
    names: ['HttpRemoteDataSource', 'HttpRemoteOptions', 'SyncRequestBody', 'SyncResponseBody', 'WireResult'],
  },
  './lowdb': {
    source: 'src/lowdb.ts',
    names: ['LowdbLocalStore', 'LowdbLocalStoreOptions', 'StoreStats'],
  },
  './indexeddb': {
    source: 'src/indexeddb.ts',
    names: [
      'IndexedDbLocalStore',
      'IndexedDbLocalStoreOptions',
      'StoreAnnouncement',
      'StoreAnnouncements',
      'WakeEventTarget',
    ],
  },
  './browser': {
    source: 'src/browser.ts',
    names: [
      'AcquireOptions',
      'broadcastChannel',
      'HeldLock',
      'LeaderLock',
      'LeaderUnavailableError',
      'Leadership',
      'LeadershipListener',
      'LockLoss',
      'LockManagerLike',
      'MemoryLockManager',
      'memoryLocks',
      'PageEventTarget',
      'parseTabMessage',
      'TAB_MESSAGE_VERSION',
      'TabChannel',
      'TabChannelListener',
      'TabChannelMessage',
      'TabMessage',
      'TabSync',
      'TabSyncClosedError',
      'TabSyncOptions',
      'TabSyncStats',
      'webLocks',
    ],
  },
  './react': {
    source: 'src/react.ts',
    names: [
      'EntitySyncSnapshot',
      'LiveRepository',
      'PendingCountView',
      'RecordsView',
      'RecordView',
      'SyncProgressSource',
      'useEntitySnapshot',
      'usePendingCount',
      'useRecord',
      'useRecords',
      'useSyncProgress',
      'useSyncState',
    ],
  },
  './server': {
    source: 'src/server.ts',
    names: [
      'Authenticate',
      'CorsOptions',
      'createSyncHandler',
      'createSyncServer',
      'DEFAULT_PARTITION',
      'FAULT_KINDS',
      'FaultKind',
      'FaultOptions',
      'FaultPlan',
      'MemoryServerStore',
      'MemoryServerStoreOptions',
      'Principal',
      'Scope',
      'ServerBatch',
      'ServerBatchOutcome',
      'ServerStore',
      'SHARED_PARTITION',
      'StoredItem',
      'StoreUnavailableError',
      'SyncHandler',
      'SyncHandlerOptions',
      'SyncHandlerStats',
      'SyncServer',
      'SyncServerOptions',
      'SyncServerSnapshot',
      'SyncServerState',
      'SyncServerStats',
    ],
  },
  './server/postgres': {
    source: 'src/server-postgres.ts',
    names: [
      'DatabaseUnavailableError',
      'DEFAULT_REPLY_RETENTION_MS',
      'Migration',
      'MIGRATIONS',
      'migrate',
      'PostgresServerStore',
      'PostgresServerStoreOptions',
      'redactedUrl',
      'SCHEMA_VERSION',
      'SchemaVersionError',
      'StoreClosedError',
      'WriteGuardError',
    ],
  },
  './inspect': {
    source: 'src/inspect.ts',
    names: [
      'ActiveRunSummary',
      'ActorNode',
      'ActorTree',
      'createInspector',
      'createSanitizer',
      'createStatelyWebSocketInspector',
      'createTraceInspector',
      'IngestOptions',
      'IngestStats',
      'InspectorControlTarget',
      'InspectorIngest',
      'InspectorRecord',
      'LocalInspector',
      'LocalInspectorOptions',
      'readTrace',
      'REDACTED',
      'SanitizeOptions',
      'Sanitizer',
      'StatelyInspectorHandle',
      'StatelyWebSocketInspectorOptions',
      'statelySanitizers',
      'Trace',
      'TraceFileError',
      'TraceFormatError',
      'TraceHeader',
      'TraceInspector',
      'TraceInspectorOptions',
    ],
  },
  './inspect/browser': {
    source: 'src/inspect-browser.ts',
    names: [
      'createRemoteInspector',
      'RemoteInspector',
      'RemoteInspectorOptions',
      'RemoteInspectorStats',
      'SanitizeOptions',
    ],
  },
};

const byName = (a: string, b: string) =>
  a.localeCompare(b, 'en', { sensitivity: 'base' }) || a.localeCompare(b);

/** Every name a module exports, types included, as the compiler sees it. */
function exportedNames(): Map<string, string[]> {
  const files = Object.values(ENTRIES).map(({ source }) => join(root, source));
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
  });
  const checker = program.getTypeChecker();
  const names = new Map<string, string[]>();
  for (const file of files) {
    const source = program.getSourceFile(file);
    const module = source && checker.getSymbolAtLocation(source);
    if (!module) throw new Error(`${file} is not a module`);
    names.set(
      file,
      checker.getExportsOfModule(module).map((symbol) => symbol.name),
    );
  }
  return names;
}

describe('entry points', () => {
  it('each exports exactly its documented names, values and types alike', () => {
    const actual = exportedNames();
    for (const [entry, { source, names }] of Object.entries(ENTRIES)) {
      expect(actual.get(join(root, source))?.sort(byName), `actorsync${entry.slice(1)}`).toEqual(
        [...names].sort(byName),
      );
    }
    // The internals issue 12 names: the outbox engine and the inspector's untyped context reader.
    const all = [...actual.values()].flat();
    expect(all).not.toContain('OutboxIndex');
    expect(all).not.toContain('contextSlice');
  }, 30_000);

  it('package.json maps each sub-path to the build of its entry, with its own types', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, unknown>;
      sideEffects: unknown;
    };
    expect(manifest.sideEffects).toBe(false);
    const built = (source: string) => `./dist/${source.replace(/\.ts$/, '')}`;
    for (const [entry, { source }] of Object.entries(ENTRIES)) {
      expect(manifest.exports[entry], entry).toEqual({
        types: `${built(source)}.d.ts`,
        import: `${built(source)}.js`,
      });
    }
    expect(Object.keys(manifest.exports).sort()).toEqual(
      [...Object.keys(ENTRIES), './machines', './package.json'].sort(),
    );
  });
});
