import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AgreementInput, checkAgreement } from '../../src/cli/agreement.js';
import { formatAgreement, verdict } from '../../src/cli/summary.js';
import type { FailureRecord, RepositoryEntity } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
import type { StoredItem } from '../../src/server/server-state.js';
import { createSyncServer } from '../../src/server/sync-server.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { runCli } from './run-cli.js';

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

interface Note extends RepositoryEntity {
  text: string;
}

let dir: string;
useTempDir('actorsync-cli-test-', (created) => (dir = created), { scope: 'all' });

describe('actorsync CLI', () => {
  it('demo syncs through injected faults and reports that server and client agree', async () => {
    const { code, stdout, stderr } = await runCli([
      'demo',
      '--items',
      '300',
      '--fault-rate',
      '0.05',
      '--seed',
      '42',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('seeded  100 telemetry, 100 model-info, 100 configuration');
    // Plain progress lines, not bars: stdout is a pipe.
    expect(stdout).toMatch(/telemetry +run 1 +100\/100 \(100%\)/);
    expect(stdout).toMatch(/configuration at \d+%: re-saved 20 records mid-sync/);
    const summary = stdout.slice(stdout.indexOf('Summary'));
    for (const type of ['telemetry', 'model-info', 'configuration']) {
      expect(summary).toMatch(new RegExp(`\\n  ${type} +100 +\\d+ +0 `));
    }
    expect(summary).toMatch(/\n {2}total +300 /);
    expect(stdout).toMatch(/Server: \d+ sync requests, \d+ batches applied/);
    expect(stdout).toMatch(/Faults injected: /);
    expect(stdout).toContain(
      'mid-sync edits: 20/20 re-saved records are on the server at their edited version',
    );
    const verdictLine = stdout.split('\n').find((line) => line.startsWith('✔'));
    expect(verdictLine).toMatch(
      /^✔ server and client agree: \d+ records, 0 applied twice, \d+ dead-lettered/,
    );
    const [, agreed, dead] =
      /agree: (\d+) records, 0 applied twice, (\d+) dead-lettered/.exec(verdictLine ?? '') ?? [];
    expect(Number(agreed) + Number(dead)).toBe(300);
    expect(stdout).not.toContain('Bearer');
  });

  it('status reports the outbox of each entity type and leaves the store byte-identical', async () => {
    const file = join(dir, 'status.json');
    const store = await LowdbLocalStore.open(file);
    const notes = new Repository<Note>({ entityType: 'note', local: store.collection<Note>('note') });
    const saved = await notes.saveMany(
      Array.from({ length: 10 }, (_, i) => ({ id: `n${i}`, text: `note ${i}` })),
    );
    const tasks = new Repository<Note>({ entityType: 'task', local: store.collection<Note>('task') });
    await tasks.saveMany([{ id: 't1', text: 'task' }]);
    const now = Date.now();
    const version = (id: string) => saved.find((note) => note.id === id)?.version ?? 0;
    await notes.local.commit({
      acks: [
        { id: 'n0', version: version('n0') },
        { id: 'n1', version: version('n1') },
      ],
      failures: [
        { id: 'n2', version: version('n2'), error: 'server said no', retryable: false },
        { id: 'n3', version: version('n3'), error: 'timeout', retryable: true },
      ],
      failurePolicy: { maxItemAttempts: 5, retryDelayMs: () => 3_600_000 },
      now,
    });
    await store.close();
    const files = [file, `${file}.journal`];
    const before = await Promise.all(files.map(sha256));

    const { code, stdout, stderr } = await runCli(['status', '--db', file]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`Store ${file}`);
    const row = (type: string) =>
      stdout
        .split('\n')
        .find((line) => line.trimStart().startsWith(`${type} `))
        ?.trim()
        .split(/\s+/);
    // records, pending, due now, waiting for retry, dead-lettered, next retry
    expect(row('note')?.slice(1, 6)).toEqual(['10', '8', '6', '1', '1']);
    expect(row('note')?.[6]).toBe(new Date(now + 3_600_000).toISOString());
    expect(row('task')?.slice(1, 7)).toEqual(['1', '1', '1', '0', '0', '-']);
    expect(await Promise.all(files.map(sha256))).toEqual(before);
  });

  it('sync pushes one entity type to a server, taking the token from ACTORSYNC_TOKEN', async () => {
    const file = join(dir, 'sync.json');
    const store = await LowdbLocalStore.open(file);
    const notes = new Repository<Note>({ entityType: 'note', local: store.collection<Note>('note') });
    await notes.saveMany(Array.from({ length: 25 }, (_, i) => ({ id: `n${i}`, text: `note ${i}` })));
    await store.close();
    const server = await createSyncServer();
    try {
      const { code, stdout, stderr } = await runCli(
        ['sync', '--db', file, '--remote', server.url, '--entity', 'note', '--batch-size', '10'],
        { env: { ACTORSYNC_TOKEN: server.token } },
      );
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain('Result: synced: 25/25 synced, 0 failed');
      expect(stdout).not.toContain(server.token);
      expect(server.state.list('note')).toHaveLength(25);
      expect(server.stats().batchesApplied).toBe(3);

      const status = await runCli(['status', '--db', file]);
      expect(status.stdout).toMatch(/note +25 +0 +0 +0 +0 +-/);
    } finally {
      await server.close();
    }
  });

  it('sync exits 2 when the run ends in error (no token)', async () => {
    const file = join(dir, 'sync-error.json');
    const store = await LowdbLocalStore.open(file);
    await new Repository<Note>({ entityType: 'note', local: store.collection<Note>('note') }).save({
      id: 'n1',
      text: 'x',
    });
    await store.close();
    const server = await createSyncServer();
    try {
      const { code, stdout } = await runCli([
        'sync',
        '--db',
        file,
        '--remote',
        server.url,
        '--entity',
        'note',
      ]);
      expect(code).toBe(2);
      expect(stdout).toContain('Authentication failed');
    } finally {
      await server.close();
    }
  });

  it('refuses a corrupt store with one line naming the file, and leaves it untouched', async () => {
    const file = join(dir, 'corrupt.json');
    await writeFile(file, '{"format": "actorsync-store", "collections": ');
    const before = await sha256(file);
    for (const args of [
      ['status', '--db', file],
      ['sync', '--db', file, '--remote', 'http://127.0.0.1:9', '--entity', 'note'],
    ]) {
      const { code, stdout, stderr } = await runCli(args);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      const lines = stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(/^actorsync: Refusing to open store file .*not valid JSON/);
    }
    expect(await sha256(file)).toBe(before);
  });
});

// ---- The agreement check, as a pure function ----

const entity = (id: string, version: number, extra: Record<string, unknown> = {}): RepositoryEntity => ({
  id,
  version,
  createdAt: 1,
  updatedAt: 1,
  syncPending: false,
  ...extra,
});

const stored = (item: RepositoryEntity, appliedVersions = [item.version]): StoredItem => ({
  item: { ...item, syncPending: false },
  appliedCount: appliedVersions.length,
  appliedVersions,
});

const deadLetter = (
  id: string,
  version: number,
  lastError = 'Injected fault: item rejected',
): FailureRecord => ({
  id,
  version,
  attempts: 1,
  lastError,
  retryable: false,
  nextAttemptAt: undefined,
  deadLettered: true,
  failedAt: 1,
});

function agreeing(): AgreementInput {
  const a = entity('a', 1, { text: 'A' });
  const b = entity('b', 2, { text: 'B' });
  const c = { ...entity('c', 1, { text: 'C' }), syncPending: true };
  return {
    entityType: 'note',
    local: [a, b, c],
    failures: [deadLetter('c', 1)],
    server: [stored(a), stored(b, [1, 2])],
  };
}

describe('checkAgreement', () => {
  it('agrees when every synced record is on the server at its version and dead letters are listed', () => {
    const report = checkAgreement([agreeing()]);
    expect(report.agree).toBe(true);
    expect(report.matched).toBe(2);
    expect(report.appliedTwice).toBe(0);
    expect(report.deadLetters).toEqual([
      {
        entityType: 'note',
        id: 'c',
        version: 1,
        reason: 'Injected fault: item rejected',
        heldByServer: false,
      },
    ]);
    expect(verdict(report)).toBe(
      '✔ server and client agree: 2 records, 0 applied twice, 1 dead-lettered (rejected by the server)',
    );
    expect(formatAgreement(report).join('\n')).toContain('note/c v1: Injected fault: item rejected');
  });

  it('ignores key order and syncPending when comparing content', () => {
    const input = agreeing();
    const [a] = input.local as RepositoryEntity[];
    const reordered = { text: 'A', version: 1, id: 'a', updatedAt: 1, createdAt: 1, syncPending: false };
    const report = checkAgreement([{ ...input, server: [stored(reordered), ...input.server.slice(1)] }]);
    expect(a?.id).toBe('a');
    expect(report.agree).toBe(true);
  });

  it('detects a version mismatch, changed content, a missing record, an extra one and a double apply', () => {
    const input = agreeing();
    const report = checkAgreement([
      {
        ...input,
        local: [...input.local, entity('d', 1, { text: 'D' }), entity('e', 1, { text: 'E' })],
        server: [
          stored(entity('a', 1, { text: 'changed' })),
          stored(entity('b', 2, { text: 'B' }), [1, 2, 2]),
          stored(entity('d', 2, { text: 'D' })),
          stored(entity('z', 1)),
        ],
      },
    ]);
    expect(report.agree).toBe(false);
    expect(report.appliedTwice).toBe(1);
    const problems = Object.fromEntries(report.differences.map((d) => [d.id, d.problem]));
    expect(problems).toEqual({
      a: 'content differs at v1 (text)',
      b: 'applied twice by the server (versions applied: 1, 2, 2)',
      d: 'local v1, server v2',
      e: 'synced locally at v1, but missing on the server',
      z: 'on the server but not in the local store',
    });
    expect(verdict(report)).toBe('✘ server and client disagree: 5 differences (listed above)');
  });

  it('flags a record still pending and a dead letter the server holds a newer version of', () => {
    const input = agreeing();
    const pending = { ...entity('p', 3), syncPending: true };
    const report = checkAgreement([
      {
        ...input,
        local: [...input.local, pending],
        server: [...input.server, stored(entity('c', 2, { text: 'C2' })), stored(entity('p', 2))],
      },
    ]);
    expect(report.agree).toBe(false);
    expect(report.differences.map((d) => `${d.id}: ${d.problem}`)).toEqual([
      'c: dead-lettered locally at v1, yet the server holds v2',
      'p: still pending locally at v3 (the server holds v2)',
    ]);
  });

  it('accepts a dead letter the server holds at the same version and content, and says so', () => {
    const input = agreeing();
    const c = input.local[2] as RepositoryEntity;
    const report = checkAgreement([{ ...input, server: [...input.server, stored(c)] }]);
    expect(report.agree).toBe(true);
    expect(report.deadLetters[0]?.heldByServer).toBe(true);
    expect(verdict(report)).toContain('1 of them held by the server at the same version');
  });
});
