/**
 * Issue 14 from the command line, on real PostgreSQL: `migrate`, `serve --database-url` (records outlive the
 * process; a second server on the same database sees them; CORS and shared types from flags; a graceful stop) and
 * `demo --server postgres` (on the test database, and on an embedded PostgreSQL it starts itself).
 */
import { describe, expect, it } from 'vitest';
import { note } from '../e2e/harness.js';
import { postSync } from '../helpers/post-sync.js';
import { testDatabase } from '../helpers/postgres.js';
import { runCli, startCli } from './run-cli.js';

const TOKEN = 'postgres-cli-token-123';

function serve(databaseUrl: string, ...more: string[]) {
  const process = startCli([
    'serve',
    '--port',
    '0',
    '--token',
    TOKEN,
    '--database-url',
    databaseUrl,
    ...more,
  ]);
  return {
    process,
    // The whole banner is out once it says how to stop.
    url: process
      .waitFor(/listening on (http:\/\/\S+)[\s\S]*Ctrl-C stops it/)
      .then(([, url]) => url as string),
  };
}

describe('actorsync migrate', () => {
  it('applies the migrations once, then has nothing to apply; the password is never printed', async () => {
    const database = await testDatabase();
    const password = new URL(database.url).password;

    const first = await runCli(['migrate', '--database-url', database.url]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(
      /^Applied migrations? [\d, ]+ to postgres:\/\/postgres:\*\*\*@.*: schema version \d+\n$/,
    );
    const again = await runCli(['migrate', '--database-url', database.url]);
    expect(again.stdout).toMatch(/is at schema version \d+: nothing to apply/);
    for (const run of [first, again]) expect(run.stdout + run.stderr).not.toContain(password);
  });

  it('names an unreachable database without its password and exits 1', async () => {
    const url = 'postgres://someone:s3cret-pass-word@127.0.0.1:1/nowhere';
    const { code, stdout, stderr } = await runCli(['migrate', '--database-url', url]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^actorsync: Cannot reach the database postgres:\/\/someone:\*\*\*@127\.0\.0\.1:1\/nowhere/,
    );
    expect(stdout + stderr).not.toContain('s3cret-pass-word');
  });
});

describe('actorsync serve --database-url', () => {
  it('keeps records in PostgreSQL: a second server on the same database serves them, and a stop is clean', async () => {
    const database = await testDatabase();
    const first = serve(database.url, '--cors-origin', 'https://app.example', '--shared-type', 'catalog');
    const url = await first.url;
    expect(first.process.stdout()).toMatch(/storing in PostgreSQL at postgres:\/\/postgres:\*\*\*@/);
    expect(first.process.stdout()).toContain('browsers may call it from https://app.example');
    const pushed = await postSync(url, TOKEN, 'k1', JSON.stringify({ batchId: 'k1', items: [note('a')] }));
    expect(pushed.status).toBe(200);
    const preflight = await fetch(`${url}/v1/sync/note`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    first.process.child.kill('SIGTERM');
    const stopped = await first.process.exited;
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('Stopped (SIGTERM).');
    expect(stopped.stdout + stopped.stderr).not.toContain(new URL(database.url).password);

    // Nothing was in the process: a new server on the database answers the same key from its stored reply.
    const second = serve(database.url);
    const again = await second.url;
    try {
      const items = (await (
        await fetch(`${again}/v1/items/note`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as { items: { item: { id: string } }[] };
      expect(items.items.map((stored) => stored.item.id)).toEqual(['a']);
      const retried = await postSync(
        again,
        TOKEN,
        'k1',
        JSON.stringify({ batchId: 'k1', items: [note('a')] }),
      );
      expect(await retried.json()).toEqual({ results: [{ id: 'a', status: 'ok', version: 1 }] });
    } finally {
      second.process.child.kill('SIGTERM');
      expect((await second.process.exited).code).toBe(0);
    }
  });

  it('refuses --file with --database-url, and an unreachable database, in one line each', async () => {
    const both = await runCli([
      'serve',
      '--port',
      '0',
      '--file',
      'x.json',
      '--database-url',
      'postgres://a@b/c',
    ]);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('--file and --database-url both say where records live');
    const down = await runCli([
      'serve',
      '--port',
      '0',
      '--database-url',
      'postgres://u:hunter2-pw@127.0.0.1:1/db',
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain('postgres://u:***@127.0.0.1:1/db');
    expect(down.stderr).not.toContain('hunter2-pw');
  });
});

describe('actorsync demo --server postgres', () => {
  it('syncs both clients through a server on the given database, and all three agree', async () => {
    const database = await testDatabase();
    const { code, stdout, stderr } = await runCli([
      'demo',
      '--server',
      'postgres',
      '--database-url',
      database.url,
      '--items',
      '120',
      '--fault-rate',
      '0',
      '--seed',
      '7',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /store {3}PostgreSQL at postgres:\/\/postgres:\*\*\*@.* \(given by --database-url\)/,
    );
    expect(stdout).toMatch(
      /^✔ phone, laptop and server agree: \d+ live records, \d+ deleted; 18 conflicts resolved/m,
    );
  });

  it('starts an embedded PostgreSQL when no database is given', async () => {
    const { code, stdout, stderr } = await runCli([
      'demo',
      '--server',
      'postgres',
      '--items',
      '30',
      '--seed',
      '3',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/\(embedded PostgreSQL 18 on port \d+, started for the demo\)/);
    expect(stdout).toMatch(/^✔ phone, laptop and server agree/m);
  });

  it('refuses --database-url without --server postgres', async () => {
    const { code, stderr } = await runCli(['demo', '--database-url', 'postgres://a@b/c']);
    expect(code).toBe(1);
    expect(stderr).toContain('--database-url needs --server postgres');
  });
});
