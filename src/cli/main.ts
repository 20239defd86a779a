#!/usr/bin/env node
/**
 * The actorsync command line: `demo`, `inspect`, `serve`, `migrate`, `import`, `sync`, `status`, `retry-failed` and
 * `export`.
 * Commander wiring only; each command lives in its own module and returns the exit code.
 */
import { randomInt } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { SyncDirection } from '../domain/types.js';
import {
  DEMO_CONFLICT_POLICIES,
  DEMO_SERVER_STORES,
  type DemoConflictPolicy,
  type DemoServerStore,
  runDemo,
} from './demo.js';
import { expectedErrorMessage } from './errors.js';
import { runInspect } from './inspect.js';
import { runPendingCleanups } from './lifecycle.js';
import { nonEmpty, rate, wholeNumber } from './options.js';
import { runMigrate } from './postgres.js';
import { runExport, runImport } from './records.js';
import { runRetryFailed } from './retry-failed.js';
import { runServe } from './serve.js';
import { runStatus } from './status.js';
import { runSync } from './sync.js';

interface DemoFlags {
  items: number;
  faultRate: number;
  keep?: boolean;
  seed?: number;
  timeLimit: number;
  conflicts: DemoConflictPolicy;
  inspect?: boolean;
  trace?: string;
  server: DemoServerStore;
  databaseUrl?: string;
}

/** A commander parser for the demo's `--server`. */
function serverStore(value: string): DemoServerStore {
  const store = DEMO_SERVER_STORES.find((name) => name === value);
  if (!store) throw new InvalidArgumentError(`Expected ${DEMO_SERVER_STORES.join(' or ')}.`);
  return store;
}

/** A commander parser for the demo's `--conflicts`. */
function conflictPolicy(value: string): DemoConflictPolicy {
  const policy = DEMO_CONFLICT_POLICIES.find((name) => name === value);
  if (!policy) throw new InvalidArgumentError(`Expected ${DEMO_CONFLICT_POLICIES.join(' or ')}.`);
  return policy;
}

interface ServeFlags {
  host: string;
  port: number;
  token?: string;
  file?: string;
  faultRate: number;
  maxBodyBytes?: number;
  tombstoneRetention?: number;
  allowRemote?: boolean;
  databaseUrl?: string;
  corsOrigin?: string[];
  sharedType?: string[];
}

interface SyncFlags {
  db: string;
  remote: string;
  entity: string;
  token?: string;
  batchSize: number;
  direction: SyncDirection;
}

const program = new Command()
  .name('actorsync')
  .description('Offline-first sync on XState actors: a demo, a reference server, and store tools.');

program
  .command('demo')
  .description('sync records to a local server that injects faults, then check that both sides agree')
  .option('--items <n>', 'records to seed, spread over three entity types', wholeNumber(1, 1_000_000), 3000)
  .option('--fault-rate <r>', 'probability (0-1) that a sync request gets a fault', rate, 0.03)
  .option('--keep', 'keep the temporary directory with the store')
  .option(
    '--seed <s>',
    'seed for the data and the fault draws (default: random)',
    wholeNumber(0, 2 ** 32 - 1),
  )
  .option('--time-limit <seconds>', 'stop waiting for retries after this long', wholeNumber(1, 3600), 60)
  .option(
    '--conflicts <policy>',
    `how the clients resolve conflicts: ${DEMO_CONFLICT_POLICIES.join(' or ')}`,
    conflictPolicy,
    'server-wins',
  )
  .option('--inspect', 'serve the local inspector (on 127.0.0.1, with a per-run token) to watch the actors')
  .option('--trace <file>', 'write the inspection stream to a JSON-lines trace file', nonEmpty)
  .option(
    '--server <store>',
    `where the server keeps records: ${DEMO_SERVER_STORES.join(' or ')} (an embedded PostgreSQL 18 unless --database-url)`,
    serverStore,
    'memory',
  )
  .option('--database-url <url>', 'with --server postgres: use this database', nonEmpty)
  .action(async (flags: DemoFlags) => {
    if (flags.databaseUrl && flags.server !== 'postgres') {
      throw new InvalidArgumentError('--database-url needs --server postgres');
    }
    process.exitCode = await runDemo({
      items: flags.items,
      faultRate: flags.faultRate,
      keep: flags.keep === true,
      seed: flags.seed ?? randomInt(0, 2 ** 32 - 1),
      timeLimitMs: flags.timeLimit * 1000,
      conflicts: flags.conflicts,
      inspect: flags.inspect === true,
      ...(flags.trace ? { trace: flags.trace } : {}),
      server: flags.server,
      ...(flags.databaseUrl ? { databaseUrl: flags.databaseUrl } : {}),
    });
  });

program
  .command('inspect')
  .description(
    'serve the local inspector: replay a trace file with a time slider, or --listen for web apps streaming their actors',
  )
  .option('--trace <file>', 'a trace written by `demo --trace` or createTraceInspector', nonEmpty)
  .option(
    '--listen',
    'watch live actors that web apps send (createRemoteInspector from actorsync/inspect/browser)',
  )
  .option('--port <port>', 'port to serve on (0: any free port)', wholeNumber(0, 65535), 0)
  .option(
    '--allow-origin <origin...>',
    'with --listen: page origins allowed to send, e.g. http://localhost:5173 (default: none)',
  )
  .option(
    '--ingest-token <token>',
    'with --listen: the token web apps send (default: ACTORSYNC_INSPECT_TOKEN, else generated; 16+ characters)',
    nonEmpty,
  )
  .action(
    async (flags: {
      trace?: string;
      listen?: boolean;
      port: number;
      allowOrigin?: string[];
      ingestToken?: string;
    }) => {
      const { allowOrigin, ...rest } = flags;
      process.exitCode = await runInspect({ ...rest, allowOrigins: allowOrigin });
    },
  );

program
  .command('serve')
  .description('run the reference sync server until Ctrl-C')
  .option('--host <host>', 'address to bind (not loopback needs --allow-remote)', '127.0.0.1')
  .option('--port <port>', 'port to listen on (0: any free port)', wholeNumber(0, 65535), 8787)
  .option(
    '--token <token>',
    'bearer token clients must send (default: ACTORSYNC_TOKEN, else generated)',
    nonEmpty,
  )
  .option('--file <file>', 'persist the server state to this JSON file (default: memory only)', nonEmpty)
  .option('--fault-rate <r>', 'probability (0-1) that a sync request gets an injected fault', rate, 0)
  .option('--max-body-bytes <n>', 'largest request body accepted (default 1 MiB)', wholeNumber(1))
  .option(
    '--tombstone-retention <days>',
    'how long pushed deletes are kept for clients that pull (default 7)',
    wholeNumber(1, 3650),
  )
  .option('--allow-remote', 'allow binding an address other than loopback')
  .option(
    '--database-url <url>',
    'keep records in this PostgreSQL database (migrated on start; any number of servers may share it)',
    nonEmpty,
  )
  .option('--cors-origin <origin...>', 'browser origins allowed to call the server (default: none)')
  .option(
    '--shared-type <type...>',
    'entity types every token shares (default: each token has its own records)',
  )
  .action(async (flags: ServeFlags) => {
    const { corsOrigin, sharedType, ...rest } = flags;
    process.exitCode = await runServe({
      ...rest,
      allowRemote: flags.allowRemote === true,
      corsOrigins: corsOrigin,
      sharedTypes: sharedType,
    });
  });

program
  .command('migrate')
  .description("apply the PostgreSQL server store's migrations the database lacks (serve also does on start)")
  .requiredOption(
    '--database-url <url>',
    'the PostgreSQL database, e.g. postgres://user:password@host:5432/app',
    nonEmpty,
  )
  .action(async (flags: { databaseUrl: string }) => {
    process.exitCode = await runMigrate(flags);
  });

program
  .command('sync')
  .description("sync one entity type of a store with a server once: push its changes, then pull the server's")
  .requiredOption('--db <file>', 'the store file', nonEmpty)
  .requiredOption('--remote <url>', 'the server, e.g. http://127.0.0.1:8787', nonEmpty)
  .requiredOption('--entity <type>', 'the entity type to sync', nonEmpty)
  .option('--token <token>', 'bearer token (default: the ACTORSYNC_TOKEN environment variable)', nonEmpty)
  .option('--batch-size <n>', 'items per batch', wholeNumber(1, 10_000), 100)
  .addOption(
    new Option('--direction <direction>', 'push, pull, or both (push then pull)')
      .choices(['push', 'pull', 'both'])
      .default('both'),
  )
  .action(async (flags: SyncFlags) => {
    process.exitCode = await runSync(flags);
  });

program
  .command('status')
  .description(
    "show each entity type's outbox (pending, due, waiting for retry, dead-lettered) and its failures; reads only",
  )
  .requiredOption('--db <file>', 'the store file', nonEmpty)
  .option('--json', 'print a JSON report for scripts (format "actorsync-status", version 1)')
  .action(async (flags: { db: string; json?: boolean }) => {
    process.exitCode = await runStatus({ db: flags.db, json: flags.json === true });
  });

program
  .command('retry-failed')
  .description('re-queue dead-lettered records and scheduled retries of one entity type, for the next sync')
  .requiredOption('--db <file>', 'the store file', nonEmpty)
  .requiredOption('--entity <type>', 'the entity type', nonEmpty)
  .option('--id <id...>', 'only these records (default: every failed record of the type)')
  .action(async (flags: { db: string; entity: string; id?: string[] }) => {
    process.exitCode = await runRetryFailed({ db: flags.db, entity: flags.entity, ids: flags.id });
  });

program
  .command('import')
  .description(
    'save the records of a JSON-lines file as pending, all or nothing, creating the store if it does not exist',
  )
  .argument('<file>', 'one JSON object per line: the fields of a record, with an optional string "id"')
  .requiredOption('--db <file>', 'the store file', nonEmpty)
  .requiredOption('--entity <type>', 'the entity type of the records', nonEmpty)
  .action(async (file: string, flags: { db: string; entity: string }) => {
    process.exitCode = await runImport({ db: flags.db, entity: flags.entity, file });
  });

program
  .command('export')
  .description(
    'print every record of one entity type as JSON lines (bookkeeping fields included); reads only',
  )
  .requiredOption('--db <file>', 'the store file', nonEmpty)
  .requiredOption('--entity <type>', 'the entity type', nonEmpty)
  .action(async (flags: { db: string; entity: string }) => {
    process.exitCode = await runExport(flags);
  });

function reportError(error: unknown): void {
  const message = expectedErrorMessage(error);
  process.stderr.write(
    message === undefined
      ? `actorsync: unexpected error\n${String((error as Error)?.stack ?? error)}\n`
      : `actorsync: ${message}\n`,
  );
}

// An error no command caught (an 'error' event nobody listens to, say) still closes stores and servers.
const crash = (error: unknown) => {
  reportError(error);
  void runPendingCleanups().finally(() => process.exit(1));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  reportError(error);
  process.exitCode = 1;
}
