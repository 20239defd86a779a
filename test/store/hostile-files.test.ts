/**
 * Damaged and foreign store files (issue 10, point 7). Every field of every journal operation and of the snapshot is
 * replaced, in turn, by values of the wrong type; each such file must be refused with a `StoreCorruptError` that
 * names it, by a writable and by a read-only open, and left byte-for-byte as it was. Paths that hold a directory,
 * a FIFO or a socket instead of a file are refused the same way, before anything is read.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RepositoryEntity, StoreCorruptError } from '../../src/index.js';
import { LowdbLocalStore } from '../../src/lowdb.js';

let dir: string;
let file: string;
let journal: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-hostile-'));
  file = join(dir, 'store.json');
  journal = `${file}.journal`;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const entity = (id: string): Json => ({
  id,
  title: `title of ${id}`,
  createdAt: 1,
  updatedAt: 2,
  version: 3,
  syncPending: true,
});
const failure = (id: string): Json => ({
  id,
  version: 3,
  attempts: 1,
  lastError: 'busy',
  retryable: true,
  nextAttemptAt: 5_000,
  deadLettered: false,
  failedAt: 4_000,
});

const HEADER: Json = { format: 'actorsync-journal', generation: 2 };
const OPS: Json[] = [
  { op: 'put', c: 'doc', e: [entity('b'), entity('c')] },
  { op: 'del', c: 'doc', id: 'c' },
  {
    op: 'commit',
    c: 'doc',
    d: { synced: [{ id: 'b', version: 3 }], stale: ['x'], replaced: [entity('b')], failures: [failure('b')] },
  },
  { op: 'requeue', c: 'doc', ids: ['b'] },
];
const SNAPSHOT: Json = {
  format: 'actorsync-store',
  version: 1,
  generation: 2,
  collections: { doc: { records: { a: entity('a') }, failures: { a: failure('a') } } },
};

const journalText = (lines: Json[]) => lines.map((line) => `${JSON.stringify(line)}\n`).join('');

/** Free-form user fields: any JSON value is valid there. */
const FREE = new Set(['title']);
/** Objects keyed by names and ids: an entry deleted is data removed, not damage. */
const MAPS = new Set(['collections', 'records', 'failures']);
/**
 * Failure-record fields an earlier version wrote as null (a non-finite delay or clock), and a next attempt left
 * out (today's reading of such a null, written back): valid legacy data, not damage (test/store/legacy-stores).
 */
const NULLABLE = new Set(['nextAttemptAt', 'failedAt']);
const OPTIONAL = new Set(['nextAttemptAt']);

/** Values of the wrong type for a node of `original`'s type. */
function wrongValues(original: Json): Json[] {
  if (original === null) return [];
  if (Array.isArray(original)) return [null, 'x', 42, {}];
  switch (typeof original) {
    case 'string':
      return [null, 42, true, [], {}];
    case 'number':
      return [null, '3', true, [], {}];
    case 'boolean':
      return [null, 0, 'true', [], {}];
    default:
      return [null, 'x', 42, []];
  }
}

/** Copies of `root`, each with one node (not the root, not a free field) replaced by a wrong value or deleted. */
function mutations(root: Json): { label: string; value: Json }[] {
  const result: { label: string; value: Json }[] = [];
  const visit = (node: Json, path: (string | number)[]) => {
    if (node === null || typeof node !== 'object') return;
    const entries: [string | number, Json][] = Array.isArray(node)
      ? node.map((child, i) => [i, child])
      : Object.entries(node);
    for (const [key, child] of entries) {
      if (typeof key === 'string' && FREE.has(key)) continue;
      const here = [...path, key];
      for (const wrong of wrongValues(child)) {
        if (wrong === null && typeof key === 'string' && NULLABLE.has(key)) continue;
        result.push({
          label: `${here.join('.')} = ${JSON.stringify(wrong)}`,
          value: setAt(root, here, wrong),
        });
      }
      if (typeof key === 'string' && !MAPS.has(String(path.at(-1))) && !OPTIONAL.has(key)) {
        result.push({ label: `${here.join('.')} deleted`, value: setAt(root, here) });
      }
      visit(child, here);
    }
  };
  visit(root, []);
  return result;
}

/** A deep copy of `root` with the node at `path` set to `value`, or deleted when no value is given. */
function setAt(root: Json, path: (string | number)[], ...value: [Json?]): Json {
  const copy = structuredClone(root);
  let parent = copy as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = path.at(-1) as string | number;
  if (value.length) parent[last] = value[0] as Json;
  else delete parent[last];
  return copy;
}

const nested = (depth: number): Json => {
  let value: Json = 1;
  for (let i = 0; i < depth; i += 1) value = { d: value };
  return value;
};

interface Case {
  label: string;
  snapshot: string;
  journal: string;
  /** The file the error must name. */
  names: 'snapshot' | 'journal';
}

function snapshotCase(label: string, snapshot: string): Case {
  return { label: `snapshot: ${label}`, snapshot, journal: journalText([HEADER, ...OPS]), names: 'snapshot' };
}
function journalCase(label: string, lines: (Json | string)[]): Case {
  const text = lines.map((line) => `${typeof line === 'string' ? line : JSON.stringify(line)}\n`).join('');
  return { label: `journal: ${label}`, snapshot: JSON.stringify(SNAPSHOT), journal: text, names: 'journal' };
}

const withSnapshot = (change: (doc: Record<string, Json>) => void) => {
  const doc = structuredClone(SNAPSHOT) as Record<string, Json>;
  change(doc);
  return JSON.stringify(doc);
};
const docCollection = (doc: Record<string, Json>) =>
  (doc.collections as Record<string, Record<string, Record<string, Json>>>).doc as Record<
    string,
    Record<string, Json>
  >;

const CASES: Case[] = [
  ...mutations(SNAPSHOT).map(({ label, value }) => snapshotCase(label, JSON.stringify(value))),
  ...mutations(HEADER).map(({ label, value }) => journalCase(`header ${label}`, [value, ...OPS])),
  ...OPS.flatMap((op, i) =>
    mutations(op).map(({ label, value }) =>
      journalCase(`${(op as { op: string }).op} ${label}`, [
        HEADER,
        ...OPS.slice(0, i),
        value,
        ...OPS.slice(i + 1),
      ]),
    ),
  ),
  // Shapes no field-by-field replacement makes.
  ...[null, 42, '"a string"', [], { op: 'put' }, HEADER].map((line) =>
    journalCase(`a line that is ${JSON.stringify(line)}`, [HEADER, OPS[0] as Json, JSON.stringify(line)]),
  ),
  journalCase('an entity nested 600 deep', [
    HEADER,
    { op: 'put', c: 'doc', e: [{ ...(entity('z') as object), deep: nested(600) }] },
  ]),
  journalCase('an entity with a negative version', [
    HEADER,
    { op: 'put', c: 'doc', e: [{ ...(entity('z') as object), version: -1 }] },
  ]),
  journalCase('an entity with an empty id', [HEADER, { op: 'put', c: 'doc', e: [entity('')] }]),
  journalCase('a number too large for a double', [
    HEADER,
    '{"op":"put","c":"doc","e":[{"id":"z","createdAt":1e400,"updatedAt":1,"version":1,"syncPending":true}]}',
  ]),
  journalCase('a dead letter with a next attempt', [
    HEADER,
    {
      op: 'commit',
      c: 'doc',
      d: {
        synced: [],
        stale: [],
        replaced: [],
        failures: [{ ...(failure('a') as object), deadLettered: true }],
      },
    },
  ]),
  journalCase('a header generation of -1', [{ ...(HEADER as object), generation: -1 }]),
  journalCase('a header generation of 1.5', [{ ...(HEADER as object), generation: 1.5 }]),
  snapshotCase(
    'collections that are an array',
    withSnapshot((doc) => {
      doc.collections = [{ records: {}, failures: {} }];
    }),
  ),
  snapshotCase(
    'a record under another id',
    withSnapshot((doc) => {
      docCollection(doc).records = { b: entity('a') };
    }),
  ),
  snapshotCase(
    'a failure record under another id',
    withSnapshot((doc) => {
      docCollection(doc).failures = { b: failure('a') };
    }),
  ),
  snapshotCase(
    'a record nested 600 deep',
    withSnapshot((doc) => {
      docCollection(doc).records = { a: { ...(entity('a') as object), deep: nested(600) } };
    }),
  ),
  snapshotCase(
    'a failure with 0 attempts',
    withSnapshot((doc) => {
      docCollection(doc).failures = { a: { ...(failure('a') as object), attempts: 0 } };
    }),
  ),
  snapshotCase(
    'a failure with 1.5 attempts',
    withSnapshot((doc) => {
      docCollection(doc).failures = { a: { ...(failure('a') as object), attempts: 1.5 } };
    }),
  ),
  snapshotCase(
    'a scheduled failure with a next attempt that is a string',
    withSnapshot((doc) => {
      docCollection(doc).failures = { a: { ...(failure('a') as object), nextAttemptAt: '5000' } };
    }),
  ),
  snapshotCase(
    'a negative generation',
    withSnapshot((doc) => {
      doc.generation = -1;
    }),
  ),
];

/** Every file in the store's directory with its bytes. */
async function contents(): Promise<Record<string, string>> {
  const names = (await readdir(dir)).sort();
  const entries = await Promise.all(
    names.map(async (name) => [name, (await readFile(join(dir, name))).toString('base64')]),
  );
  return Object.fromEntries(entries);
}

describe('hostile store files', () => {
  it('the undamaged files the cases start from open, with what they say', async () => {
    await writeFile(file, JSON.stringify(SNAPSHOT));
    await writeFile(journal, journalText([HEADER, ...OPS]));
    const store = await LowdbLocalStore.open(file, { readOnly: true });
    const local = store.collection<RepositoryEntity>('doc');
    expect((await local.getAll()).map((record) => record.id)).toEqual(['a', 'b']);
    expect((await local.failures()).map((record) => record.id)).toEqual(['a']);
    expect((await local.outbox(0)).pending).toBe(2);
    await store.close();
  });

  it(`${CASES.length} damaged snapshots and journals are refused with StoreCorruptError naming the file, untouched`, async () => {
    const problems: string[] = [];
    for (const testCase of CASES) {
      await writeFile(file, testCase.snapshot);
      await writeFile(journal, testCase.journal);
      const before = await contents();
      for (const readOnly of [false, true]) {
        const outcome = await LowdbLocalStore.open(file, { readOnly }).then(
          async (store) => {
            await store.close();
            return 'opened';
          },
          (error: unknown) => error,
        );
        const named = testCase.names === 'snapshot' ? file : journal;
        const mode = readOnly ? ' (read-only)' : '';
        if (!(outcome instanceof StoreCorruptError))
          problems.push(`${testCase.label}${mode}: ${String(outcome)}`);
        else if (outcome.file !== named || !outcome.message.includes(named)) {
          problems.push(`${testCase.label}${mode}: names ${outcome.file}, not ${named}`);
        }
        if (JSON.stringify(await contents()) !== JSON.stringify(before)) {
          problems.push(`${testCase.label}${mode}: the files changed`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(CASES.length).toBeGreaterThan(150);
  });

  const kinds: [string, (path: string) => Promise<void>][] = [
    ['a directory', (path) => mkdir(path)],
    [
      'a FIFO',
      async (path) => {
        execFileSync('mkfifo', [path]);
      },
    ],
    [
      'a socket',
      async (path) => {
        const server = createServer();
        await new Promise<void>((resolve) => server.listen(path, resolve));
        // Closing the server removes the socket file; leave it listening until the test's directory goes.
        server.unref();
      },
    ],
  ];
  const where: [string, (file: string) => string][] = [
    ['store file', (f) => f],
    ['journal', (f) => `${f}.journal`],
    ['next journal (a compaction’s)', (f) => `${f}.journal.next`],
    ['lock file', (f) => `${f}.lock`],
  ];
  for (const [kind, make] of kinds) {
    for (const [role, pathOf] of where) {
      it(`${kind} where the ${role} belongs is refused at once, naming it`, { timeout: 5_000 }, async () => {
        const path = pathOf(file);
        await make(path);
        const before = await readdir(dir);
        const error = await LowdbLocalStore.open(file).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreCorruptError);
        expect((error as StoreCorruptError).file).toBe(path);
        expect((error as Error).message).toContain(path);
        expect((error as Error).message).toContain(`${kind},`);
        expect((await readdir(dir)).sort()).toEqual(before.sort());
        if (role !== 'lock file') {
          await expect(LowdbLocalStore.open(file, { readOnly: true })).rejects.toBeInstanceOf(
            StoreCorruptError,
          );
        }
      });
    }
  }
});
