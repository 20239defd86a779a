import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseImportLines } from '../../src/cli/records.js';
import type { StatusReport } from '../../src/cli/status.js';
import type { RepositoryEntity } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
import { createSyncServer } from '../../src/server/sync-server.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { runCli, startCli } from './run-cli.js';

interface Note extends RepositoryEntity {
  text: string;
}

const sha256 = async (file: string) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-cli-commands-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A store with `count` notes, the first `dead` of them dead-lettered and the next `waiting` waiting for a retry. */
async function storeWithFailures(name: string, count: number, dead: number, waiting = 0): Promise<string> {
  const file = join(dir, name);
  const store = await LowdbLocalStore.open(file);
  const notes = new Repository<Note>({ entityType: 'note', local: store.collection<Note>('note') });
  const saved = await notes.saveMany(
    Array.from({ length: count }, (_, i) => ({ id: `n${i}`, text: `note ${i}` })),
  );
  await notes.local.commit({
    failures: saved.slice(0, dead + waiting).map((note, i) => ({
      id: note.id,
      version: note.version,
      error: i < dead ? `server said no to ${note.id}` : 'timeout',
      retryable: i >= dead,
    })),
    failurePolicy: { maxItemAttempts: 5, retryDelayMs: () => 3_600_000 },
    now: Date.now(),
  });
  await store.close();
  return file;
}

describe('issue 11: import and export', () => {
  it('imports JSON lines into a new store, fills the bookkeeping like Repository.save, and exports them back', async () => {
    const db = join(dir, 'imported.json');
    const input = join(dir, 'events.jsonl');
    await writeFile(
      input,
      '{"id":"evt-1","name":"cpu","value":42}\n\n{"name":"mem","value":7,"version":99,"syncPending":false}\n',
    );
    const imported = await runCli(['import', '--db', db, '--entity', 'telemetry', input]);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(
      `Imported 2 records into "telemetry" of ${db} (2 new, 0 updated); 2 pending`,
    );
    expect(await exists(`${db}.lock`)).toBe(false);

    const exported = await runCli(['export', '--db', db, '--entity', 'telemetry']);
    expect(exported.code).toBe(0);
    const records = exported.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ id: 'evt-1', name: 'cpu', value: 42, version: 1, syncPending: true });
    // A line's own bookkeeping is replaced, as save() does: a new record is version 1 and pending.
    expect(records[1]).toMatchObject({ name: 'mem', value: 7, version: 1, syncPending: true });
    expect(records[1]?.id).toEqual(expect.any(String));
    expect(typeof records[1]?.createdAt).toBe('number');

    // Importing again updates: the next version, still pending.
    const again = await runCli(['import', '--db', db, '--entity', 'telemetry', input]);
    expect(again.stdout).toContain('(1 new, 1 updated)');
  });

  it('refuses a file with invalid lines, naming each, and writes nothing (not even a new store)', async () => {
    const input = join(dir, 'bad.jsonl');
    await writeFile(input, '{"id":"a"}\nnot json\n[1]\n{"id":3}\n{"id":""}\n{"id":"a","x":1}\nnull\n');
    const fresh = join(dir, 'never-created.json');
    const refused = await runCli(['import', '--db', fresh, '--entity', 'note', input]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trimEnd().split('\n')).toEqual([
      `actorsync: ${input}: 6 invalid lines; nothing was imported`,
      '  line 2: not valid JSON',
      '  line 3: expected a JSON object (one record), got an array',
      '  line 4: "id" must be a non-empty string, got 3',
      '  line 5: "id" must be a non-empty string, got ""',
      '  line 6: id "a" is already on line 1',
      '  line 7: expected a JSON object (one record), got null',
    ]);
    expect(await exists(fresh)).toBe(false);

    const existing = await storeWithFailures('import-existing.json', 3, 0);
    const before = await Promise.all([existing, `${existing}.journal`].map(sha256));
    expect((await runCli(['import', '--db', existing, '--entity', 'note', input])).code).toBe(1);
    expect(await Promise.all([existing, `${existing}.journal`].map(sha256))).toEqual(before);
  });

  it('parses import lines as a pure function: blank lines and a BOM are fine, CRLF too', () => {
    expect(parseImportLines('\uFEFF{"id":"a"}\r\n\r\n  \n{"b":1}\r\n')).toEqual({
      records: [{ id: 'a' }, { b: 1 }],
      invalid: [],
    });
  });

  it('export refuses an entity type the store does not hold, in one line', async () => {
    const db = await storeWithFailures('export-unknown.json', 1, 0);
    const { code, stdout, stderr } = await runCli(['export', '--db', db, '--entity', 'nope']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`actorsync: Store ${db} has no "nope" records (entity types: note)\n`);
  });
});

describe('issue 11: dead letters are visible and recoverable from the CLI', () => {
  it('status lists failures with their reasons and the command that re-queues them; --json has a stable shape', async () => {
    const db = await storeWithFailures('status-failures.json', 4, 1, 1);
    const text = await runCli(['status', '--db', db]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('  note: 1 dead-lettered, 1 waiting for a retry');
    expect(text.stdout).toMatch(/↻ n1 v1 {2}retried from \S+Z \(1 failed run\): timeout/);
    expect(text.stdout).toContain('✘ n0 v1  dead-lettered after 1 failed run: server said no to n0');
    expect(text.stdout).toContain(`Re-queue them: actorsync retry-failed --db ${db} --entity note`);

    const json = await runCli(['status', '--db', db, '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as StatusReport;
    expect(report).toEqual({
      format: 'actorsync-status',
      version: 1,
      store: db,
      at: expect.stringMatching(/Z$/),
      entityTypes: [
        {
          entityType: 'note',
          records: 4,
          pending: 4,
          dueNow: 2,
          waitingForRetry: 1,
          deadLettered: 1,
          nextRetryAt: expect.stringMatching(/Z$/),
          failures: [
            {
              id: 'n1',
              version: 1,
              attempts: 1,
              deadLettered: false,
              error: 'timeout',
              failedAt: expect.stringMatching(/Z$/),
              nextAttemptAt: expect.stringMatching(/Z$/),
            },
            {
              id: 'n0',
              version: 1,
              attempts: 1,
              deadLettered: true,
              error: 'server said no to n0',
              failedAt: expect.stringMatching(/Z$/),
              nextAttemptAt: null,
            },
          ],
        },
      ],
    });
  });

  it('sync exits 2 while records are dead-lettered, even when the run had nothing to do; retry-failed re-queues them', async () => {
    const db = await storeWithFailures('dead-letters.json', 3, 1);
    const server = await createSyncServer();
    const sync = () =>
      runCli(['sync', '--db', db, '--remote', server.url, '--entity', 'note'], {
        env: { ACTORSYNC_TOKEN: server.token },
      });
    try {
      const first = await sync();
      expect(first.stdout).toContain('Result: synced: 2/2 synced');
      expect(first.stdout).toContain('Store: 1 of 3 records not synced: 1 dead-lettered.');
      expect(first.stdout).toContain(`actorsync retry-failed --db ${db} --entity note`);
      expect(first.code).toBe(2);

      const idle = await sync();
      expect(idle.stdout).toContain('Result: synced: 0/0 synced');
      expect(idle.stdout).toContain('1 dead-lettered');
      expect(idle.code).toBe(2);

      const files = [db, `${db}.journal`];
      const before = await Promise.all(files.map(sha256));
      const unknown = await runCli(['retry-failed', '--db', db, '--entity', 'note', '--id', 'n0', 'n9']);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(
        /^actorsync: No failure record for "n9" in "note" .*nothing was re-queued/,
      );
      expect(await Promise.all(files.map(sha256))).toEqual(before);

      const requeued = await runCli(['retry-failed', '--db', db, '--entity', 'note', '--id', 'n0']);
      expect(requeued.code).toBe(0);
      expect(requeued.stdout).toContain('Re-queued 1 record of "note"');

      const last = await sync();
      expect(last.stdout).toContain('Result: synced: 1/1 synced');
      expect(last.stdout).toContain('Store: all 3 records synced.');
      expect(last.code).toBe(0);
      expect(server.state.list('note')).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  it('status opens the store read-only: a torn journal tail is left byte-identical, and no lock file appears', async () => {
    const db = await storeWithFailures('torn.json', 2, 0);
    await appendFile(`${db}.journal`, '{"op":"save","entityType":"note","rec');
    const files = [db, `${db}.journal`];
    const before = await Promise.all(files.map(sha256));
    const { code, stdout } = await runCli(['status', '--db', db]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/note +2 +2 +2 +0 +0 +-/);
    expect(await Promise.all(files.map(sha256))).toEqual(before);
    expect(await exists(`${db}.lock`)).toBe(false);
  });
});

describe('issue 11: smaller CLI items', () => {
  it('serve names the --allow-remote flag, and refuses a --file whose directory does not exist before starting', async () => {
    const remote = await runCli(['serve', '--host', '0.0.0.0', '--port', '0']);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toBe(
      'actorsync: Refusing to bind 0.0.0.0: serve binds loopback (127.0.0.1, ::1, localhost) unless --allow-remote is given\n',
    );
    const missing = join(dir, 'no-such-dir', 's.json');
    const file = await runCli(['serve', '--port', '0', '--file', missing]);
    expect(file.code).toBe(1);
    expect(file.stdout).toBe('');
    expect(file.stderr).toBe(`actorsync: Directory ${join(dir, 'no-such-dir')} does not exist\n`);
  });

  it('sync never prints credentials from --remote: such a URL is refused, without them', async () => {
    const db = await storeWithFailures('creds.json', 1, 0);
    const { code, stdout, stderr } = await runCli([
      'sync',
      '--db',
      db,
      '--remote',
      'http://user:hunter2-secret@127.0.0.1:9/',
      '--entity',
      'note',
    ]);
    expect(code).toBe(1);
    expect(stdout + stderr).not.toContain('hunter2');
    expect(stderr).toContain('--remote must not carry a user name or password (http://127.0.0.1:9/)');
    const unparsable = await runCli([
      'sync',
      '--db',
      db,
      '--remote',
      'http://user:hunter2@[oops',
      '--entity',
      'note',
    ]);
    expect(unparsable.code).toBe(1);
    expect(unparsable.stderr).not.toContain('hunter2');
  });

  it('a fatal 401 does not promise a retry the one-shot sync will never make', async () => {
    const db = await storeWithFailures('fatal.json', 1, 0);
    const server = await createSyncServer();
    try {
      const { code, stdout } = await runCli(['sync', '--db', db, '--remote', server.url, '--entity', 'note']);
      expect(code).toBe(2);
      expect(stdout).toContain('Authentication failed');
      expect(stdout).not.toContain('retry in');
    } finally {
      await server.close();
    }
  });

  it('SIGINT cancels the sync: the run is reported with its counts and the pending records, the lock released', async () => {
    const db = await storeWithFailures('interrupted.json', 30, 0);
    // The second request hangs until the server closes, so the run is surely under way when interrupted.
    const server = await createSyncServer({ faults: { script: ['none', 'timeout'], hangMs: 60_000 } });
    try {
      const sync = startCli(
        ['sync', '--db', db, '--remote', server.url, '--entity', 'note', '--batch-size', '10'],
        {
          env: { ACTORSYNC_TOKEN: server.token },
        },
      );
      await sync.waitFor(/run 1 +10\/30/);
      sync.child.kill('SIGINT');
      const { code, stdout, stderr } = await sync.exited;
      expect(stderr).toBe('');
      expect(stdout).toContain('Interrupted (SIGINT): cancelling the sync…');
      expect(stdout).toMatch(/Result: cancelled: 10\/30 synced, 0 failed, \d+ retries, 0 conflicts in \d/);
      expect(stdout).not.toContain('in 0 ms');
      expect(stdout).toContain('Store: 20 of 30 records not synced: 20 due now.');
      expect(code).toBe(130);
      expect(await exists(`${db}.lock`)).toBe(false);
    } finally {
      await server.close();
    }
  });

  it('demo --trace into a missing directory prints one line, exits 1 and leaves no store or lock behind', async () => {
    const trace = join(dir, 'no-such-dir', 't.jsonl');
    const { code, stdout, stderr } = await runCli([
      'demo',
      '--items',
      '30',
      '--fault-rate',
      '0',
      '--keep',
      '--trace',
      trace,
    ]);
    expect(code).toBe(1);
    expect(stderr).toBe(`actorsync: Cannot write trace ${trace}: its directory does not exist\n`);
    const kept = /Kept (\S+):/.exec(stdout)?.[1];
    expect(kept).toBeDefined();
    try {
      // The trace is checked before the clients open their stores.
      expect(await readdir(kept as string)).toEqual([]);
    } finally {
      await rm(kept as string, { recursive: true, force: true });
    }
  });
});
