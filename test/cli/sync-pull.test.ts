/**
 * Issue 13 at the command line: `actorsync sync` pushes, then pulls (`--direction both`, the default), and
 * `--direction pull` fills a store that does not exist yet. Real CLI processes, a real server, real store files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepositoryEntity } from '../../src/domain/types.js';
import { createSyncServer, type SyncServer } from '../../src/server/sync-server.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { runCli } from './run-cli.js';

let dir: string;
let server: SyncServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-cli-pull-'));
  server = await createSyncServer({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('actorsync sync in both directions', () => {
  it('a laptop pushes its notes; a phone with no store yet pulls them; an edit comes back the other way', async () => {
    const env = { ACTORSYNC_TOKEN: server.token };
    const laptop = join(dir, 'laptop.json');
    const phone = join(dir, 'phone.json');
    const lines = join(dir, 'notes.jsonl');
    await writeFile(
      lines,
      `${[1, 2, 3].map((i) => JSON.stringify({ id: `n${i}`, text: `note ${i}` })).join('\n')}\n`,
    );
    expect((await runCli(['import', '--db', laptop, '--entity', 'note', lines])).code).toBe(0);

    const pushed = await runCli(['sync', '--db', laptop, '--remote', server.url, '--entity', 'note'], {
      env,
    });
    expect(pushed.stderr).toBe('');
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toContain('(push, then pull)');
    expect(pushed.stdout).toMatch(/Result: synced: 3\/3 synced, 0 failed, 0 pulled, 0 deleted/);

    const pulled = await runCli(
      ['sync', '--db', phone, '--remote', server.url, '--entity', 'note', '--direction', 'pull'],
      { env },
    );
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toMatch(/Result: synced: 0\/0 synced, 0 failed, 3 pulled, 0 deleted/);

    // An edit on the phone, pushed by a two-way sync, reaches the laptop's next sync.
    const store = await LowdbLocalStore.open(phone);
    const notes = store.collection<RepositoryEntity & { text: string }>('note');
    const n2 = await notes.get('n2');
    if (!n2) throw new Error('n2 was not pulled');
    await notes.save({
      ...n2,
      text: 'edited on the phone',
      version: n2.version + 1,
      baseVersion: n2.version,
      syncPending: true,
    });
    await store.close();
    expect(
      (await runCli(['sync', '--db', phone, '--remote', server.url, '--entity', 'note'], { env })).code,
    ).toBe(0);
    const back = await runCli(['sync', '--db', laptop, '--remote', server.url, '--entity', 'note'], { env });
    expect(back.stdout).toMatch(/1 pulled/);
    const reopened = await LowdbLocalStore.open(laptop, { readOnly: true });
    expect(await reopened.collection<RepositoryEntity & { text: string }>('note').get('n2')).toMatchObject({
      text: 'edited on the phone',
      version: 2,
      syncPending: false,
    });
    await reopened.close();
  });

  it('refuses an unknown direction before touching anything', async () => {
    const result = await runCli([
      'sync',
      '--db',
      join(dir, 'none.json'),
      '--remote',
      server.url,
      '--entity',
      'note',
      '--direction',
      'sideways',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /--direction.*sideways.*push, pull, both|Allowed choices are push, pull, both/,
    );
  });
});
