/**
 * Issue 10 point 2: a conflict's server copy became the local record unchecked, and the next compaction wrote a
 * store that never opened again. A hostile server (real node:http on 127.0.0.1) answers conflicts with every
 * shape of copy we could think of, under each conflict policy; then the real lowdb store is compacted, closed and
 * reopened. It must open, hold a valid record whose version never went down, and the item must be either
 * resolved or failed with a clear error recorded as a failure record.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  assertEntity,
  type ConflictPolicy,
  InvalidEntityError,
  Repository,
  SyncCoordinator,
} from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';
import type { Note } from '../helpers/fixtures.js';
import { type HostileServer, hostileServer } from '../helpers/hostile-server.js';
import { recordFigures } from './report.js';

const ENTITY = 'note';
/** The local record's version when it is sent (three saves). */
const SENT = 3;

/** `[[[…"bottom"…]]]` with `levels` arrays, as JSON text (building the value would need recursion to print). */
const nestedJson = (levels: number) => `${'['.repeat(levels)}"bottom"${']'.repeat(levels)}`;

/**
 * What must become of the conflicted item: resolved; failed on its own for good (`item`); or, for a copy the wire
 * checks already refuse, the whole reply is malformed: the batch is retried, then its items are recorded as
 * retryable failures (`reply`).
 */
type Outcome = { kind: 'resolved' } | { kind: 'item' | 'reply'; error: RegExp };
const resolved: Outcome = { kind: 'resolved' };
const failed = (error: RegExp): Outcome => ({ kind: 'item', error });
const malformed: Outcome = {
  kind: 'reply',
  error: /Server reply does not match the protocol|is a conflict without a server copy of that id/,
};

/** Each shape: the server copy's JSON text for the item sent (`id`, version `SENT`), and what must become of it. */
const SHAPES: [string, (id: string) => string, Outcome][] = [
  ['a minimal { id, version } copy', (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1}}`, resolved],
  [
    'a negative version',
    (id) => `{"id":${JSON.stringify(id)},"version":-1,"text":"x"}`,
    failed(/has version -1/),
  ],
  ['a version 1e999 (Infinity)', (id) => `{"id":${JSON.stringify(id)},"version":1e999}`, failed(/version/)],
  ['a fractional version', (id) => `{"id":${JSON.stringify(id)},"version":4.5}`, failed(/has version 4.5/)],
  [
    'an unsafe version',
    (id) => `{"id":${JSON.stringify(id)},"version":1152921504606846976}`,
    failed(/version/),
  ],
  ['a NaN-ish version string', (id) => `{"id":${JSON.stringify(id)},"version":"NaN"}`, malformed],
  ['a numeric version string', (id) => `{"id":${JSON.stringify(id)},"version":"9"}`, malformed],
  ['a null copy', () => 'null', malformed],
  [
    'a version below the one sent',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT - 1},"text":"older"}`,
    failed(/has version 2, not a whole number from 3 \(the version sent\)/),
  ],
  // The reference server answers a conflict at the version sent when the content differs (docs/protocol.md).
  [
    'the version sent, other content',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT},"text":"theirs"}`,
    resolved,
  ],
  ['a different id', () => `{"id":"someone-else","version":${SENT + 1}}`, malformed],
  [
    'createdAt -1',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"createdAt":-1,"text":"theirs"}`,
    resolved,
  ],
  [
    'syncPending "yes"',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"syncPending":"yes"}`,
    resolved,
  ],
  [
    'updatedAt "never"',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"updatedAt":"never"}`,
    resolved,
  ],
  [
    '5,000 levels of nesting',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"deep":${nestedJson(5_000)}}`,
    failed(/nested deeper than 64 levels in one of its fields/),
  ],
  [
    '65 levels of nesting',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"deep":${nestedJson(64)}}`,
    failed(/nested deeper than 64 levels/),
  ],
  [
    '64 levels of nesting',
    (id) => `{"id":${JSON.stringify(id)},"version":${SENT + 1},"deep":${nestedJson(63)}}`,
    resolved,
  ],
  [
    '__proto__ keys',
    (id) =>
      `{"id":${JSON.stringify(id)},"version":${SENT + 1},"__proto__":{"polluted":true},"text":"p","n":{"__proto__":{"x":1}}}`,
    resolved,
  ],
  [
    'extra fields',
    (id) =>
      `{"id":${JSON.stringify(id)},"version":${SENT + 1},"text":"t","extra":{"a":[1,null,"b"]},"big":1e300}`,
    resolved,
  ],
];

const POLICIES: [string, ConflictPolicy<Note>][] = [
  ['server-wins', 'server-wins'],
  ['client-wins', 'client-wins'],
  ['a merge function', (mine, theirs) => ({ ...theirs, text: `${String(theirs.text)} + ${mine.text}` })],
];

/**
 * Answers item `c1` at version `SENT` with a conflict carrying `shape`'s copy, and acknowledges everything else
 * (the other item of the batch, a client-wins or merge push).
 */
function conflictingServer(shape: (id: string) => string): Promise<HostileServer> {
  return hostileServer((_, response, body) => {
    const { items } = JSON.parse(body) as { items: Note[] };
    const results = items.map((item) =>
      item.id !== 'c1' || item.version > SENT
        ? JSON.stringify({ id: item.id, status: 'ok', version: item.version })
        : `{"id":${JSON.stringify(item.id)},"status":"conflict","remote":${shape(item.id)}}`,
    );
    const reply = `{"results":[${results.join(',')}]}`;
    response.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(reply),
    });
    response.end(reply);
  });
}

const figures = {
  shapesTried: 0,
  storesReopened: 0,
  unopenable: 0,
  versionsLowered: 0,
  resolved: 0,
  failed: 0,
};

afterAll(() => {
  recordFigures('hostile-remote-copies', { ...figures, policies: POLICIES.length, shapes: SHAPES.length });
});

describe('hostile conflict copies (issue 10 point 2)', () => {
  describe.each(POLICIES)('%s', (policyName, policy) => {
    it.each(SHAPES)(
      '%s: the store reopens with a valid record, never a lower version',
      async (_, shape, outcome) => {
        figures.shapesTried += 1;
        const dir = await mkdtemp(join(tmpdir(), 'actorsync-hostile-copies-'));
        const file = join(dir, 'store.json');
        const server = await conflictingServer(shape);
        const store = await LowdbLocalStore.open(file);
        const coordinator = new SyncCoordinator({
          conflicts: policy,
          retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2, maxItemAttempts: 3 },
        });
        try {
          const repository = new Repository<Note>({
            entityType: ENTITY,
            local: store.collection<Note>(ENTITY),
            remote: new HttpRemoteDataSource<Note>({
              baseUrl: server.url,
              getToken: () => 'hostile-token-1',
            }),
            // The hostile server answers pushes only: these cases are about the copies a push conflict brings.
            direction: 'push',
          });
          for (let i = 0; i < SENT; i += 1) await repository.save({ id: 'c1', text: 'local text' });
          await repository.save({ id: 'plain', text: 'untouched' });
          const before = (await store.collection<Note>(ENTITY).get('c1')) as Note;
          expect(before.version).toBe(SENT);
          coordinator.register(repository);

          const result = await coordinator.sync(repository);

          await coordinator.stop();
          await store.compact();
          await store.close();
          let reopened: LowdbLocalStore;
          try {
            reopened = await LowdbLocalStore.open(file);
          } catch (error) {
            figures.unopenable += 1;
            throw error;
          }
          figures.storesReopened += 1;
          try {
            const local = reopened.collection<Note>(ENTITY);
            const record = await local.get('c1');
            expect(() => assertEntity(record)).not.toThrow();
            if ((record as Note).version < before.version) figures.versionsLowered += 1;
            expect((record as Note).version).toBeGreaterThanOrEqual(before.version);
            expect(record?.createdAt).toBe(before.createdAt);
            expect(({} as Record<string, unknown>).polluted).toBeUndefined();
            const failures = await local.failures();
            if (outcome.kind === 'resolved') {
              figures.resolved += 1;
              expect(result).toMatchObject({ state: 'synced', conflicts: 1, failedItems: 0 });
              expect(failures).toEqual([]);
              expect(record?.syncPending).toBe(false);
              if (policyName === 'server-wins') {
                const copy = JSON.parse(shape('c1')) as Record<string, unknown>;
                expect(record?.version).toBe(copy.version);
              } else {
                expect(record?.version).toBeGreaterThan(SENT);
              }
            } else {
              figures.failed += 1;
              expect(result.state).toBe('error');
              const failedIds = outcome.kind === 'item' ? ['c1'] : ['c1', 'plain'];
              expect(result.failures.map((item) => item.id).sort()).toEqual(failedIds);
              expect(failures.find((failure) => failure.id === 'c1')).toMatchObject({
                version: SENT,
                retryable: outcome.kind === 'reply',
                lastError: expect.stringMatching(outcome.error),
              });
              // A copy that cannot be used changes nothing locally.
              expect(record).toEqual(before);
            }
            // The other item of the batch is synced unless the whole reply was refused.
            expect((await local.get('plain'))?.syncPending).toBe(outcome.kind === 'reply');
          } finally {
            await reopened.close();
          }
        } finally {
          await coordinator.stop();
          await store.close();
          await server.close();
          await rm(dir, { recursive: true, force: true });
        }
      },
    );
  });
});

describe('a commit cannot write an invalid replacement, whatever the caller (defence in depth)', () => {
  it.each<[string, (stored: Note) => Note, RegExp]>([
    [
      'a version below the stored one',
      (stored) => ({ ...stored, version: stored.version - 1 }),
      /below the stored 3/,
    ],
    ['createdAt -1', (stored) => ({ ...stored, version: 9, createdAt: -1 }), /non-negative number createdAt/],
    ['a minimal copy', (stored) => ({ id: stored.id, version: 9 }) as Note, /non-negative number createdAt/],
    [
      'nesting past the limit',
      (stored) => {
        let deep: unknown = 1;
        for (let i = 0; i < 1_000; i += 1) deep = [deep];
        return { ...stored, version: 9, deep } as Note;
      },
      /nested deeper than 64 levels/,
    ],
  ])(
    '%s is refused with InvalidEntityError and the store still opens unchanged',
    async (_, replacement, message) => {
      const dir = await mkdtemp(join(tmpdir(), 'actorsync-hostile-commit-'));
      const file = join(dir, 'store.json');
      try {
        const store = await LowdbLocalStore.open(file);
        const local = store.collection<Note>(ENTITY);
        const stored: Note = {
          id: 'c1',
          version: SENT,
          createdAt: 1,
          updatedAt: 2,
          syncPending: true,
          text: 'x',
        };
        await local.save(stored);
        const attempt = local.commit({
          replace: [{ expectedVersion: SENT, entity: replacement(stored) }],
          now: 5,
        });
        await expect(attempt).rejects.toThrow(InvalidEntityError);
        await expect(attempt).rejects.toThrow(message);
        await store.compact();
        await store.close();
        const reopened = await LowdbLocalStore.open(file);
        expect(await reopened.collection<Note>(ENTITY).get('c1')).toEqual(stored);
        await reopened.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});
