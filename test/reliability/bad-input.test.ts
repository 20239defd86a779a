import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreReadOnlyError } from '../../src/domain/errors.js';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  ActorSyncError,
  InvalidEntityError,
  InvalidOptionsError,
  MalformedReplyError,
  MemoryLocalDataSource,
  Repository,
  type RepositoryEntity,
  StoreCorruptError,
  StoreLockedError,
  SyncCoordinator,
  UnknownEntityTypeError,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import { createSyncServer, FaultPlan } from '../../src/server.js';
import { makeRepo, type Note } from '../helpers/fixtures.js';
import { type HostileServer, hostileServer } from '../helpers/hostile-server.js';
import { recordFigures } from './report.js';

/** A server that answers every sync with whatever body the current test sets. */
let replyBody = '';
let hostile: HostileServer;
let hostileUrl: string;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-bad-input-'));
  hostile = await hostileServer((_, response) => {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(replyBody);
  });
  hostileUrl = hostile.url;
});

afterAll(async () => {
  await hostile.close();
  await rm(dir, { recursive: true, force: true });
});

const entity = (id: string, version = 1): RepositoryEntity => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 1,
  syncPending: true,
});

async function pushTo(body: string, options: { maxResponseBytes?: number } = {}) {
  replyBody = body;
  const remote = new HttpRemoteDataSource({ baseUrl: hostileUrl, ...options });
  return remote.syncBatch([entity('a')], {
    signal: new AbortController().signal,
    batchId: 'b1',
    entityType: 'doc',
  });
}

interface Row {
  input: string;
  act: () => Promise<unknown> | unknown;
  error: new (...args: never[]) => Error;
  message: RegExp;
}

const coordinatorWith = (options: ConstructorParameters<typeof SyncCoordinator>[0]) => () =>
  new SyncCoordinator(options);

const ROWS: Row[] = [
  {
    input: 'reply that is not JSON',
    act: () => pushTo('{"results": [}'),
    error: MalformedReplyError,
    message: /not valid JSON/,
  },
  {
    input: 'reply of the wrong shape',
    act: () => pushTo('{"results": "all good"}'),
    error: MalformedReplyError,
    message: /does not match the protocol: results/,
  },
  {
    input: 'reply with an unknown status',
    act: () => pushTo('{"results": [{"id":"a","status":"maybe"}]}'),
    error: MalformedReplyError,
    message: /does not match the protocol/,
  },
  {
    input: 'ack of another version',
    act: () => pushTo('{"results": [{"id":"a","status":"ok","version":7}]}'),
    error: MalformedReplyError,
    message: /acknowledged version 7 of "a", but version 1 was sent/,
  },
  {
    input: 'oversized reply',
    act: () => pushTo(JSON.stringify({ results: [], pad: 'x'.repeat(5_000) }), { maxResponseBytes: 1_000 }),
    error: MalformedReplyError,
    message: /exceeds the 1000 byte limit/,
  },
  {
    input: 'negative batch size',
    act: coordinatorWith({ batchSize: -1 }),
    error: InvalidOptionsError,
    message: /batchSize must be a whole number from 1 to 10,000, got -1/,
  },
  {
    input: 'fractional batch size',
    act: coordinatorWith({ batchSize: 2.5 }),
    error: InvalidOptionsError,
    message: /batchSize/,
  },
  {
    input: 'zero auto-sync interval',
    act: coordinatorWith({ autoSyncIntervalMs: 0 }),
    error: InvalidOptionsError,
    message: /autoSyncIntervalMs must be a positive number, got 0/,
  },
  {
    input: 'NaN auto-sync interval',
    act: coordinatorWith({ autoSyncIntervalMs: Number.NaN }),
    error: InvalidOptionsError,
    message: /autoSyncIntervalMs/,
  },
  {
    input: 'zero concurrency',
    act: coordinatorWith({ concurrency: 0 }),
    error: InvalidOptionsError,
    message: /concurrency/,
  },
  {
    input: 'zero attempts',
    act: coordinatorWith({ retry: { maxAttempts: 0 } }),
    error: InvalidOptionsError,
    message: /retry.maxAttempts/,
  },
  {
    input: 'unknown conflict policy',
    act: coordinatorWith({ conflicts: 'last-wins' as 'server-wins' }),
    error: InvalidOptionsError,
    message: /conflicts must be/,
  },
  {
    input: 'fault rate above 1',
    act: () => new FaultPlan({ rate: 2 }),
    error: InvalidOptionsError,
    message: /between 0 and 1/,
  },
  {
    input: 'unknown fault kind',
    act: () => new FaultPlan({ kinds: ['meteor' as 'reset'] }),
    error: InvalidOptionsError,
    message: /unknown fault kind "meteor"/,
  },
  {
    input: 'server token too short',
    act: () => createSyncServer({ token: 'abc' }),
    error: InvalidOptionsError,
    message: /at least 8/,
  },
  {
    input: 'entity type with a path in it',
    act: () => new Repository({ entityType: '../../etc', local: new MemoryLocalDataSource() }),
    error: InvalidEntityError,
    message: /entityType must be/,
  },
  {
    input: 'entity without an id',
    act: () => new MemoryLocalDataSource().save({ ...entity('x'), id: '' }),
    error: InvalidEntityError,
    message: /non-empty string id/,
  },
  {
    input: 'entity with a function field',
    act: () => new MemoryLocalDataSource().save({ ...entity('x'), run: () => 1 } as RepositoryEntity),
    error: InvalidEntityError,
    message: /holds a function/,
  },
  {
    input: 'entity with a bigint field',
    act: () => new MemoryLocalDataSource().save({ ...entity('x'), big: 1n } as RepositoryEntity),
    error: InvalidEntityError,
    message: /holds a bigint/,
  },
  {
    input: 'entity with a negative version',
    act: () => new MemoryLocalDataSource().save(entity('x', -1)),
    error: InvalidEntityError,
    message: /non-negative number version/,
  },
  {
    input: 'store collection named "__proto__"',
    act: async () => {
      const store = await LowdbLocalStore.open(join(dir, 'proto.json'));
      try {
        return store.collection('__proto__');
      } finally {
        await store.close();
      }
    },
    error: InvalidEntityError,
    message: /entityType must be 1-64 letters/,
  },
  {
    input: 'write to a store opened read-only',
    act: async () => {
      const store = await LowdbLocalStore.open(join(dir, 'read-only.json'), { readOnly: true });
      return store.collection('doc').save(entity('a'));
    },
    error: StoreReadOnlyError,
    message: /opened read-only/,
  },
  {
    input: 'store path that is a directory',
    act: async () => {
      await mkdir(join(dir, 'a-directory.json'), { recursive: true });
      return LowdbLocalStore.open(join(dir, 'a-directory.json'));
    },
    error: StoreCorruptError,
    message: /a-directory\.json: it is a directory, not a file/,
  },
  {
    input: 'sync of an unknown entity type',
    act: () => new SyncCoordinator().sync('ghosts'),
    error: UnknownEntityTypeError,
    message: /Unknown entity type "ghosts"/,
  },
];

describe('bad input gets a clear, typed error', () => {
  it.each(ROWS.map((row) => [row.input, row] as const))('%s', async (_, row) => {
    const error = await Promise.resolve()
      .then(row.act)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(row.error);
    expect(error).toBeInstanceOf(ActorSyncError);
    expect((error as Error).message).toMatch(row.message);
  });

  it.each([
    ['not JSON', '{"format":"actorsync-store"'],
    [
      'truncated mid-record',
      '{"format":"actorsync-store","version":1,"generation":0,"collections":{"d":{"records":{"a":{"id":"a","vers',
    ],
    ['empty', ''],
    ['another format', '{"format":"somebody-else","version":1}'],
  ])('a %s store file is refused, naming the file, and left byte-identical', async (_, content) => {
    const file = join(dir, `corrupt-${content.length}.json`);
    await writeFile(file, content);
    const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreCorruptError);
    expect((error as Error).message).toContain(file);
    expect(await readFile(file, 'utf8')).toBe(content);
  });

  it('a store locked by another process is refused with its pid', async () => {
    const file = join(dir, 'locked.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-store.ts', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
        child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
      });
      const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreLockedError);
      expect((error as Error).message).toMatch(new RegExp(`already open \\(by process ${child.pid}\\)`));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('"__proto__" and "constructor" keys in payloads are data, never prototype pollution', async () => {
    const server = await createSyncServer();
    try {
      const fields = JSON.parse(
        '{"id":"p1","text":"x","__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
      ) as Note;
      const local = new MemoryLocalDataSource<Note>();
      const repository = new Repository<Note>({
        entityType: 'doc',
        local,
        remote: new HttpRemoteDataSource<Note>({ baseUrl: server.url, getToken: () => server.token }),
      });
      await repository.save(fields);
      const coordinator = new SyncCoordinator();
      expect(await coordinator.sync(repository)).toMatchObject({ state: 'synced', syncedItems: 1 });
      await coordinator.stop();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
      const stored = server.state.get('doc', 'p1')?.item as unknown as Record<string, unknown>;
      expect(Object.getPrototypeOf(stored)).toBe(Object.prototype);
      expect(Object.keys(stored)).toContain('__proto__');
      expect(Object.keys((await local.get('p1')) ?? {})).toContain('__proto__');
    } finally {
      await server.close();
    }
  });

  it('a malformed reply leaves the outbox untouched and the coordinator working', async () => {
    replyBody = '{"results": [{"id": "n0", "status": "ok", "version": 99}]}';
    const local = new MemoryLocalDataSource<Note>();
    const repository = new Repository<Note>({
      entityType: 'note',
      local,
      remote: new HttpRemoteDataSource<Note>({ baseUrl: hostileUrl }),
    });
    await repository.save({ id: 'n0', text: 'x' });
    const coordinator = new SyncCoordinator({ retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 2 } });
    const result = await coordinator.sync(repository);
    expect(result).toMatchObject({ state: 'error', syncedItems: 0, failedItems: 1 });
    expect(result.failures[0]?.error).toMatch(/acknowledged version 99/);
    expect(await local.get('n0')).toMatchObject({ syncPending: true });
    const { repository: healthy } = makeRepo('healthy');
    await healthy.save({ id: 'h', text: 'ok' });
    expect(await coordinator.sync(healthy)).toMatchObject({ state: 'synced' });
    await coordinator.stop();
    recordFigures('bad-input', { casesChecked: ROWS.length + 7 });
  });
});
