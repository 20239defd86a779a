import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countFailures, readTypeStatus, type StatusReport, statusReport } from '../../src/cli/status.js';
import { describeLeftOver } from '../../src/cli/sync.js';
import type { FailureRecord, RepositoryEntity } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
import { createSyncServer } from '../../src/server/sync-server.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { runCli } from './run-cli.js';

interface Note extends RepositoryEntity {
  text: string;
}

const HOUR = 3_600_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-failure-counts-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Five notes: n0 dead-lettered, n1 waiting for a retry an hour from now, n2 and n3 failed two hours ago with a
 * retry that came due an hour ago, n4 never failed.
 */
async function storeWithDueFailures(name: string): Promise<string> {
  const file = join(dir, name);
  const store = await LowdbLocalStore.open(file);
  const notes = new Repository<Note>({ entityType: 'note', local: store.collection<Note>('note') });
  const saved = await notes.saveMany(
    Array.from({ length: 5 }, (_, i) => ({ id: `n${i}`, text: `note ${i}` })),
  );
  const policy = { maxItemAttempts: 5, retryDelayMs: () => HOUR };
  const fail = (note: Note, retryable: boolean) => ({
    id: note.id,
    version: note.version,
    error: retryable ? 'timeout' : 'no',
    retryable,
  });
  const [n0, n1, n2, n3] = saved as [Note, Note, Note, Note];
  await notes.local.commit({
    failures: [fail(n2, true), fail(n3, true)],
    failurePolicy: policy,
    now: Date.now() - 2 * HOUR,
  });
  await notes.local.commit({
    failures: [fail(n0, false), fail(n1, true)],
    failurePolicy: policy,
    now: Date.now(),
  });
  await store.close();
  return file;
}

describe('review of issue 11: one definition of "waiting for a retry" for sync and status', () => {
  it('countFailures counts a failure as waiting only while its next attempt is ahead', () => {
    const failure = (id: string, deadLettered: boolean, nextAttemptAt?: number): FailureRecord => ({
      id,
      version: 1,
      attempts: 1,
      deadLettered,
      lastError: 'x',
      retryable: !deadLettered,
      failedAt: 0,
      nextAttemptAt,
    });
    expect(
      countFailures(
        [
          failure('a', true),
          failure('b', false, 2_000),
          failure('c', false, 1_000),
          failure('d', false, 500),
        ],
        1_000,
      ),
    ).toEqual({ deadLettered: 1, waiting: 1, dueAgain: 2 });
  });

  it('what sync says is left over agrees with status and status --json when failed records are already due', async () => {
    const db = await storeWithDueFailures('due.json');
    const store = await LowdbLocalStore.open(db, { readOnly: true });
    const now = Date.now();
    const status = await readTypeStatus(store, 'note', now);
    await store.close();
    expect(status).toMatchObject({ pending: 5, dueNow: 3, waiting: 1, dueAgain: 2, deadLettered: 1 });
    const left = describeLeftOver(status, db);
    expect(left[0]).toBe(
      'Store: 5 of 5 records not synced: 3 due now, 1 waiting for a retry, 1 dead-lettered.',
    );
    expect(statusReport(db, [status], now).entityTypes[0]).toMatchObject({ dueNow: 3, waitingForRetry: 1 });

    // The same through the CLI: a run stopped by a 401 pushes nothing, so the store is as it was.
    const server = await createSyncServer();
    try {
      const sync = await runCli(['sync', '--db', db, '--remote', server.url, '--entity', 'note'], {
        env: { ACTORSYNC_TOKEN: 'not-the-token' },
      });
      expect(sync.code).toBe(2);
      expect(sync.stdout).toContain(
        'Store: 5 of 5 records not synced: 3 due now, 1 waiting for a retry, 1 dead-lettered.',
      );
      const json = await runCli(['status', '--db', db, '--json']);
      const [report] = (JSON.parse(json.stdout) as StatusReport).entityTypes;
      expect(report).toMatchObject({ pending: 5, dueNow: 3, waitingForRetry: 1, deadLettered: 1 });
      const text = await runCli(['status', '--db', db]);
      expect(text.stdout).toContain('  note: 1 dead-lettered, 1 waiting for a retry, 2 due again now');
      expect(text.stdout).toMatch(/note +5 +5 +3 +1 +1 +\S+Z/);
    } finally {
      await server.close();
    }
  });
});
