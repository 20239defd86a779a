/**
 * The little of PouchDB, express-pouchdb and RxDB that the competitor benchmark uses, declared here so that the
 * root `tsc --noEmit -p .` type-checks bench/competitors whether or not its node_modules are installed (the
 * library's own `npm ci` does not install them). When RxDB is installed, tsc still reads its bundled .d.ts files,
 * but these ambient declarations take precedence, so the result is the same either way. PouchDB and
 * express-pouchdb ship no types, and @types/pouchdb (6.x) describes an older API.
 */

declare module 'pouchdb' {
  interface BulkResult {
    ok?: boolean;
    id?: string;
    error?: string | boolean;
    reason?: string;
  }

  interface ReplicationResult {
    ok: boolean;
    status: string;
    docs_read: number;
    docs_written: number;
    doc_write_failures: number;
    errors: unknown[];
  }

  interface Replication extends PromiseLike<ReplicationResult> {
    cancel(): void;
    on(event: 'error' | 'denied', listener: (error: unknown) => void): this;
  }

  interface Database {
    bulkDocs(docs: readonly object[]): Promise<BulkResult[]>;
    info(): Promise<{ doc_count: number; update_seq: number | string }>;
    replicate: {
      to(target: string, options?: { batch_size?: number; batches_limit?: number }): Replication;
      from(source: string, options?: { batch_size?: number; batches_limit?: number }): Replication;
    };
    close(): Promise<void>;
  }

  interface PouchDBStatic {
    new (name: string, options?: { adapter?: string }): Database;
    plugin(plugin: unknown): PouchDBStatic;
    defaults(options: { adapter?: string }): PouchDBStatic;
    readonly version: string;
  }

  const PouchDB: PouchDBStatic;
  export default PouchDB;
}

declare module 'pouchdb-adapter-memory' {
  const plugin: unknown;
  export default plugin;
}

declare module 'express-pouchdb' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  type App = (request: IncomingMessage, response: ServerResponse) => void;
  function expressPouchDB(PouchDB: unknown, options?: { mode?: string; inMemoryConfig?: boolean }): App;
  export default expressPouchDB;
}

declare module 'rxdb' {
  export const RXDB_VERSION: string;

  export interface RxCollection<DocType> {
    bulkInsert(docs: readonly DocType[]): Promise<{ success: unknown[]; error: unknown[] }>;
    count(): { exec(): Promise<number> };
  }

  export interface RxDatabase<Collections> {
    addCollections(collections: { [Name in keyof Collections]: { schema: object } }): Promise<Collections>;
    close(): Promise<boolean>;
  }

  export function createRxDatabase<Collections>(options: {
    name: string;
    storage: unknown;
    multiInstance?: boolean;
  }): Promise<RxDatabase<Collections>>;
}

declare module 'rxdb/plugins/storage-memory' {
  export function getRxStorageMemory(): unknown;
}

declare module 'rxdb/plugins/replication' {
  import type { RxCollection } from 'rxdb';

  export interface RxReplicationWriteToMasterRow<DocType> {
    assumedMasterState?: DocType & { _deleted: boolean };
    newDocumentState: DocType & { _deleted: boolean; _attachments?: unknown };
  }

  export interface RxReplicationState {
    readonly error$: { subscribe(listener: (error: unknown) => void): { unsubscribe(): void } };
    awaitInitialReplication(): Promise<void>;
    cancel(): Promise<unknown>;
  }

  export function replicateRxCollection<DocType, Checkpoint>(options: {
    collection: RxCollection<DocType>;
    replicationIdentifier: string;
    live?: boolean;
    waitForLeadership?: boolean;
    autoStart?: boolean;
    push?: {
      batchSize?: number;
      handler: (rows: RxReplicationWriteToMasterRow<DocType>[]) => Promise<DocType[]>;
    };
    pull?: {
      batchSize?: number;
      handler: (
        checkpoint: Checkpoint | undefined,
        batchSize: number,
      ) => Promise<{ documents: (DocType & { _deleted: boolean })[]; checkpoint: Checkpoint }>;
    };
  }): RxReplicationState;
}
