import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RepositoryEntity } from '../../src/domain/types.js';
import { Repository } from '../../src/repository.js';
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
  it('demo syncs a phone and a laptop both ways through injected push and pull faults, and all three agree', async () => {
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
    expect(stdout).toContain('phone   created 50 telemetry, 50 model-info, 50 configuration');
    expect(stdout).toContain('laptop  created 50 telemetry, 50 model-info, 50 configuration');
    // Plain progress lines, not bars: stdout is a pipe. Each client pushes its records and pulls the other's.
    expect(stdout).toMatch(/phone {2}telemetry +run 1 +50\/50 \(100%\)/);
    expect(stdout).toMatch(/laptop telemetry +run 1 +50\/50 \(100%\)/);
    expect(stdout).toMatch(/, pulled \d+/);
    expect(stdout).toMatch(/phone: configuration at \d+%: re-saved 20 records mid-sync/);
    expect(stdout).toMatch(/laptop: model-info at \d+%: deleted 20 synced records mid-sync/);
    expect(stdout).toMatch(
      /laptop {2}sync while offline: failed after \d+ retries \(Network error: ENETUNREACH\)/,
    );
    expect(stdout).toMatch(/Faults injected: pushes [1-9]\d* \(.*\); pulls [1-9]\d* \(/);
    const summary = stdout.slice(stdout.indexOf('Summary'), stdout.indexOf('Agreement check'));
    // records, pushed, pulled, removed, conflicts, pending: the laptop met the phone's changes as conflicts.
    expect(summary).toMatch(/ {2}phone\n(.*\n){2} +telemetry +75 +\d+ +\d+ +\d+ +\d+ +0 /);
    expect(summary).toMatch(/ {2}laptop\n(.*\n){4} +configuration +117 +\d+ +\d+ +\d+ +1\d +0 /);
    expect(stdout).toContain('✔ mid-sync edits: 20/20 records the phone re-saved kept the edit');
    expect(stdout).toMatch(/deletes: phone 18, laptop 33 made; the server keeps 48 tombstones/);
    const verdictLine = stdout.split('\n').find((line) => /^[✔✘]/.test(line));
    const [, live, deleted, conflicts, dead] =
      /^✔ phone, laptop and server agree: (\d+) live records, (\d+) deleted; (\d+) conflicts resolved \(server-wins\); 0 applied twice, (\d+) dead-lettered/.exec(
        verdictLine ?? '',
      ) ?? [];
    expect(verdictLine).toBeDefined();
    // 300 created, 20 more while the laptop was offline, 51 deleted of which 3 lost their conflict to an edit. An
    // injected reject may dead-letter a change (the client keeps it, the others never see it).
    expect(Number(live) + Number(dead)).toBeGreaterThanOrEqual(272);
    expect(Number(live)).toBeLessThanOrEqual(272);
    expect(Number(deleted)).toBeLessThanOrEqual(48);
    expect(Number(conflicts)).toBeGreaterThan(0);
    expect(stdout).not.toContain('Bearer');
  });

  it("demo without faults: every figure is the seed's, and client-wins keeps the laptop's offline changes", async () => {
    const { code, stdout, stderr } = await runCli([
      'demo',
      '--items',
      '300',
      '--fault-rate',
      '0',
      '--seed',
      '7',
      '--conflicts',
      'client-wins',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('Faults injected: pushes none; pulls none');
    expect(stdout).toContain('conflicts: client-wins (--conflicts server-wins|client-wins)');
    expect(stdout).toContain(
      'laptop  sync while offline: failed after 9 retries (Network error: ENETUNREACH): 38 changes kept pending',
    );
    expect(stdout).toContain('deletes: phone 18, laptop 33 made; the server keeps 48 tombstones');
    expect(stdout).toContain('✔ 12 edited on both: 12 ended the laptop’s edit, as client-wins says');
    expect(stdout).toContain('✔ 3 edited on the laptop, deleted on the phone: 3 ended the laptop’s edit');
    expect(stdout).toContain('✔ 3 deleted on the laptop, edited on the phone: 3 ended deleted');
    expect(stdout).toContain(
      '✔ phone, laptop and server agree: 272 live records, 48 deleted; 18 conflicts resolved (client-wins); ' +
        '0 applied twice, 0 dead-lettered',
    );
  });

  it('demo refuses a conflict policy it does not know', async () => {
    const { code, stderr } = await runCli(['demo', '--conflicts', 'merge']);
    expect(code).toBe(1);
    expect(stderr).toContain('Expected server-wins or client-wins.');
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
