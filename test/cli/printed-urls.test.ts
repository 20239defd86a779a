import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRemote } from '../../src/cli/sync.js';
import { Repository } from '../../src/repository.js';
import { LowdbLocalStore } from '../../src/store/lowdb-store.js';
import { runCli } from './run-cli.js';

const USER_SECRET = 'pw-in-userinfo-1234';
const QUERY_SECRET = 'key-in-query-5678';
const FRAGMENT_SECRET = 'key-in-fragment-9012';

/** --remote values that hide a secret in the userinfo, the query or the fragment, parsable or not. */
const REMOTES = [
  `ftp://host/?key=${QUERY_SECRET}`,
  `ftp://admin:${USER_SECRET}@host/x?key=${QUERY_SECRET}#${FRAGMENT_SECRET}`,
  `http://127.0.0.1:9/?key=${QUERY_SECRET}`,
  `http://127.0.0.1:9/v1#${FRAGMENT_SECRET}`,
  `https://admin:${USER_SECRET}@127.0.0.1:9/?access_token=${QUERY_SECRET}`,
  `http://admin:${USER_SECRET}@[oops?key=${QUERY_SECRET}`,
  `not a url?key=${QUERY_SECRET}#${FRAGMENT_SECRET}`,
];

let dir: string;
let db: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-printed-urls-'));
  db = join(dir, 'store.json');
  const store = await LowdbLocalStore.open(db);
  await new Repository({ entityType: 'note', local: store.collection('note') }).save({ id: 'n1' });
  await store.close();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('review of issue 10: the CLI prints URLs through the one stripper the remote uses', () => {
  it('no secret from the userinfo, query or fragment of --remote appears in any output of sync', async () => {
    const runs = await Promise.all(
      REMOTES.map((remote) => runCli(['sync', '--db', db, '--remote', remote, '--entity', 'note'])),
    );
    for (const [i, run] of runs.entries()) {
      const output = run.stdout + run.stderr;
      expect(run.code, `${REMOTES[i]}: ${output}`).toBe(1);
      for (const secret of [USER_SECRET, QUERY_SECRET, FRAGMENT_SECRET]) expect(output).not.toContain(secret);
      expect(run.stderr).toMatch(/^actorsync: --remote must /);
    }
    expect(runs[0]?.stderr).toBe('actorsync: --remote must be an http:// or https:// URL, got ftp://host/\n');
    expect(runs[2]?.stderr).toBe(
      'actorsync: --remote must not have a query or fragment (http://127.0.0.1:9/): ' +
        'pass the token with --token or ACTORSYNC_TOKEN\n',
    );
  });

  it('parseRemote keeps a plain base URL as given, path included', () => {
    expect(parseRemote('http://127.0.0.1:8787')).toBe('http://127.0.0.1:8787/');
    expect(parseRemote('https://sync.example.com/api/')).toBe('https://sync.example.com/api/');
    expect(() => parseRemote('http://127.0.0.1:8787/?')).toThrow(/query or fragment/);
  });
});
