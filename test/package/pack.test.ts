import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDatabase } from '../helpers/postgres.js';

// What a newcomer's app sees: the packed tarball installed into a project of its own, used from strict TypeScript.
const execFileAsync = promisify(execFile);
/** Runs a command; on failure the error carries its output, so the report says what broke (e.g. a type error). */
const run = (file: string, args: string[], options: { cwd: string; timeout: number }) =>
  execFileAsync(file, args, options).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`.trim());
  });
const root = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const SLOW = 120_000;

let dir: string;
let consumer: string;
let tarball: string;

/**
 * The consumer's code: imports every public entry point, each by its sub-path, and syncs a few records with them:
 * a file store (`actorsync/lowdb`), the HTTP remote (`actorsync/http`), the reference server (`actorsync/server`),
 * a trace of the run (`actorsync/inspect`) and the bare machines (`actorsync/machines`).
 */
const CONSUMER_SOURCE = `
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  markSynced,
  markUpdated,
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  type SyncCommand,
  SyncCoordinator,
  type SyncResult,
} from 'actorsync';
import { HttpRemoteDataSource, type HttpRemoteOptions } from 'actorsync/http';
import { createTraceInspector, readTrace } from 'actorsync/inspect';
import { LowdbLocalStore } from 'actorsync/lowdb';
import { batchPushMachine, coordinatorMachine, createSyncMachine, entitySyncMachine } from 'actorsync/machines';
import { createSyncServer, type SyncServer } from 'actorsync/server';

interface Note extends RepositoryEntity {
  text: string;
}

const manifest: unknown = JSON.parse(await readFile(new URL(import.meta.resolve('actorsync/package.json')), 'utf8'));
const dir = await mkdtemp(join(tmpdir(), 'consumer-'));
const server: SyncServer = await createSyncServer();
const store = await LowdbLocalStore.open(join(dir, 'notes.json'));
try {
  const options: HttpRemoteOptions = { baseUrl: server.url, getToken: () => server.token };
  const notes = new Repository<Note>({
    entityType: 'notes',
    local: store.collection<Note>('notes'),
    remote: new HttpRemoteDataSource<Note>(options),
  });
  await notes.saveMany([1, 2, 3, 4, 5].map((n) => ({ id: \`note-\${n}\`, text: \`note \${n}\` })));
  const trace = createTraceInspector({ file: join(dir, 'trace.jsonl') });
  const coordinator = new SyncCoordinator({ batchSize: 2, inspect: trace.inspect });
  const result: SyncResult = await coordinator.sync(notes);
  const cancel: SyncCommand = { type: 'CANCEL', entityType: 'notes' };
  coordinator.send(cancel);
  await coordinator.stop();
  await trace.close();
  const inMemory = new MemoryLocalDataSource<Note>();
  const marked = markSynced(markUpdated({ id: 'm', text: 'm', createdAt: 0, updatedAt: 0, version: 1, syncPending: false }, 5));
  console.log(
    JSON.stringify({
      state: result.state,
      syncedItems: result.syncedItems,
      pending: await notes.pendingCount(),
      onServer: server.state.list('notes').map((stored) => stored.item.id).sort(),
      traced: (await readTrace(join(dir, 'trace.jsonl'))).records.length > 0,
      marked: { version: marked.version, updatedAt: marked.updatedAt, syncPending: marked.syncPending },
      memoryStore: (await inMemory.getAll()).length,
      machines: [batchPushMachine, coordinatorMachine, entitySyncMachine].map((machine) => machine.id),
      createSyncMachine: typeof createSyncMachine,
      manifestName: (manifest as { name?: unknown }).name,
    }),
  );
} finally {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
}
`;

/**
 * An app's server on PostgreSQL: `actorsync/server/postgres` with `pg` (an optional peer, installed by the app) and
 * the handler mounted as a host that speaks Web Requests would (here node:http through createSyncServer).
 */
const POSTGRES_SOURCE = `
import { MemoryLocalDataSource, Repository, type RepositoryEntity, SyncCoordinator } from 'actorsync';
import { HttpRemoteDataSource } from 'actorsync/http';
import { createSyncHandler, createSyncServer, type ServerStore } from 'actorsync/server';
import { PostgresServerStore } from 'actorsync/server/postgres';

interface Note extends RepositoryEntity {
  text: string;
}

const store: ServerStore = await PostgresServerStore.open({ connectionString: process.env.DATABASE_URL ?? '' });
const server = await createSyncServer({ store });
try {
  const notes = new Repository<Note>({
    entityType: 'notes',
    local: new MemoryLocalDataSource<Note>(),
    remote: new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: () => server.token }),
  });
  await notes.saveMany([1, 2, 3].map((n) => ({ id: \`note-\${n}\`, text: \`note \${n}\` })));
  const coordinator = new SyncCoordinator();
  const result = await coordinator.sync(notes);
  await coordinator.stop();
  // The same store behind a second, Web-standard handler: what Hono, Bun or Deno would mount.
  const handler = createSyncHandler({ store, token: server.token });
  const response = await handler.fetch(
    new Request('http://app.example/v1/items/notes', { headers: { authorization: \`Bearer \${server.token}\` } }),
  );
  const { items } = (await response.json()) as { items: { item: { id: string } }[] };
  await handler.close();
  console.log(JSON.stringify({ state: result.state, onServer: items.map((stored) => stored.item.id).sort() }));
} finally {
  await server.close();
  await store.close();
}
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-pack-'));
  const packed = join(dir, 'packed');
  consumer = join(dir, 'consumer');
  await mkdir(packed);
  await mkdir(join(consumer, 'src'), { recursive: true });
  // prepack builds dist/ first: a fresh clone (or `npm ci`) has none.
  await run(npm, ['pack', '--pack-destination', packed], { cwd: root, timeout: SLOW });
  const [file] = (await readdir(packed)).filter((name) => name.endsWith('.tgz'));
  if (!file) throw new Error(`npm pack wrote no tarball to ${packed}`);
  tarball = join(packed, file);
  await writeFile(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'actorsync-consumer', private: true, type: 'module' }),
  );
  await run(npm, ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: consumer,
    timeout: SLOW,
  });
  await writeFile(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noUncheckedIndexedAccess: true,
        // The package's own declarations are checked too: they must stand alone in an app.
        skipLibCheck: false,
        noEmitOnError: true,
        // The app brings its own @types/node; borrow ours rather than install one.
        typeRoots: [join(root, 'node_modules', '@types')],
        types: ['node'],
        outDir: 'out',
        rootDir: 'src',
      },
      include: ['src'],
    }),
  );
}, SLOW);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the packed package, installed into a separate app', () => {
  it('ships every file its exports, types and bin name', async () => {
    const installed = join(consumer, 'node_modules', 'actorsync');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
      exports: Record<string, string | Record<string, string>>;
      bin: Record<string, string>;
    };
    const targets = [
      ...Object.values(manifest.exports).flatMap((entry) =>
        typeof entry === 'string' ? [entry] : Object.values(entry),
      ),
      ...Object.values(manifest.bin),
    ];
    expect(targets.length).toBeGreaterThan(4);
    for (const target of targets) expect(existsSync(join(installed, target)), target).toBe(true);
  });

  it('ships the docs its README and docs point to', async () => {
    // A user of the tarball has no repository: README's "see docs/browser.md" must resolve in node_modules.
    const installed = join(consumer, 'node_modules', 'actorsync');
    const readme = await readFile(join(installed, 'README.md'), 'utf8');
    const docNames = (text: string, pattern: RegExp) =>
      [...text.matchAll(pattern)].map((match) => String(match[1]));
    const linked = new Set(docNames(readme, /docs\/([\w-]+\.(?:md|png))/g));
    expect(linked).toContain('browser.md');
    for (const name of [...linked]) {
      if (!name.endsWith('.md') || !existsSync(join(installed, 'docs', name))) continue;
      const doc = await readFile(join(installed, 'docs', name), 'utf8');
      // Links between docs: `docs/react.md` in prose, `(inspector.png)` as a relative Markdown link.
      for (const other of docNames(doc, /(?:docs\/|\]\()([\w-]+\.(?:md|png))/g)) linked.add(other);
    }
    const missing = [...linked].filter((name) => !existsSync(join(installed, 'docs', name)));
    expect(missing).toEqual([]);
  });

  it('type-checks under strict TypeScript (nodenext) and syncs records through every sub-path', async () => {
    await writeFile(join(consumer, 'src', 'app.ts'), CONSUMER_SOURCE);
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const compiled = await run(tsc, ['-p', 'tsconfig.json'], { cwd: consumer, timeout: SLOW });
    expect(compiled.stdout).toBe('');
    const { stdout } = await run(process.execPath, ['out/app.js'], { cwd: consumer, timeout: 30_000 });
    expect(JSON.parse(stdout)).toEqual({
      state: 'synced',
      syncedItems: 5,
      pending: 0,
      onServer: ['note-1', 'note-2', 'note-3', 'note-4', 'note-5'],
      traced: true,
      marked: { version: 2, updatedAt: 5, syncPending: false },
      memoryStore: 0,
      machines: expect.arrayContaining([expect.any(String)]),
      createSyncMachine: 'function',
      manifestName: 'actorsync',
    });
  }, 60_000);

  it('serves from PostgreSQL once the app installs pg (actorsync/server/postgres); actorsync/server needs no pg', async () => {
    // The app above ran actorsync/server without pg: it is an optional peer that npm does not install.
    expect(existsSync(join(consumer, 'node_modules', 'pg'))).toBe(false);
    // A TypeScript app also installs pg's types: the store's declarations name pg's Pool.
    await run(npm, ['install', 'pg@8', '@types/pg@8', '--no-audit', '--no-fund', '--prefer-offline'], {
      cwd: consumer,
      timeout: SLOW,
    });
    await writeFile(join(consumer, 'src', 'postgres-app.ts'), POSTGRES_SOURCE);
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const compiled = await run(tsc, ['-p', 'tsconfig.json'], { cwd: consumer, timeout: SLOW });
    expect(compiled.stdout).toBe('');
    const database = await testDatabase();
    const { stdout } = await execFileAsync(process.execPath, ['out/postgres-app.js'], {
      cwd: consumer,
      timeout: 30_000,
      env: { ...process.env, DATABASE_URL: database.url },
    });
    expect(JSON.parse(stdout)).toEqual({ state: 'synced', onServer: ['note-1', 'note-2', 'note-3'] });
  }, 120_000);

  it('installs a working actorsync command', async () => {
    const bin = join(consumer, 'node_modules', '.bin', 'actorsync');
    const { stdout } = await run(bin, ['--help'], { cwd: consumer, timeout: 30_000 });
    for (const command of ['demo', 'serve', 'sync', 'status']) expect(stdout).toContain(command);
  });
});
