import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postSync } from '../helpers/post-sync.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { startCli } from './run-cli.js';

const TOKEN = 'serve-errors-token';

/** A browser's CORS preflight for a pull, from `origin`. */
function preflightFrom(url: string, origin: string): Promise<Response> {
  return fetch(`${url}/v1/changes/note`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'GET' },
  });
}

let dir: string;
useTempDir('actorsync-serve-errors-', (created) => (dir = created), { scope: 'all' });

describe('review of issue 11: serve says why it answered 500', () => {
  it('a state file it cannot write is printed as one line with the request, on stderr', async () => {
    const file = join(dir, 's.json');
    const serve = startCli(['serve', '--port', '0', '--file', file, '--token', TOKEN]);
    try {
      const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)/);
      // Root ignores permissions: a directory where the server's temp file goes blocks the write.
      const blocker = join(dir, `.s.json.${serve.child.pid}.tmp`);
      await mkdir(blocker);
      const body = JSON.stringify({
        batchId: 'k1',
        items: [{ id: 'a', version: 1, createdAt: 1, updatedAt: 1, syncPending: true }],
      });
      const response = await postSync(url as string, TOKEN, 'k1', body);
      expect(response.status).toBe(500);
      await serve.waitFor(/POST \/v1\/sync\/note 500\n/);
    } finally {
      serve.child.kill('SIGINT');
    }
    const { code, stderr } = await serve.exited;
    expect(code).toBe(0);
    const lines = stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\S+Z POST \/v1\/sync\/note 500 error: EISDIR: .*\.s\.json\.\d+\.tmp/);
    expect(stderr).not.toContain(TOKEN);
  });

  it('--tombstone-retention takes whole days and the banner names the change feed', async () => {
    const refused = startCli(['serve', '--port', '0', '--tombstone-retention', '0', '--token', TOKEN]);
    const { code, stderr } = await refused.exited;
    expect(code).not.toBe(0);
    expect(stderr).toContain('--tombstone-retention');
    const serve = startCli(['serve', '--port', '0', '--tombstone-retention', '2', '--token', TOKEN]);
    try {
      const [, url] = await serve.waitFor(/GET (http:\/\/\S+)\/v1\/changes\/\{entityType\}/);
      const response = await fetch(`${url}/v1/changes/note`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ changes: [], hasMore: false });
    } finally {
      serve.child.kill('SIGINT');
    }
    expect((await serve.exited).code).toBe(0);
  });
});

describe('serve says why a browser is refused (issue 15)', () => {
  it('logs each preflight and names an origin it refused, with the flag that allows it', async () => {
    // Without --cors-origin a web app only sees "Network error: Failed to fetch", as if it were offline.
    const serve = startCli([
      'serve',
      '--port',
      '0',
      '--token',
      TOKEN,
      '--cors-origin',
      'http://localhost:5173',
    ]);
    try {
      const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)[\s\S]*Ctrl-C stops it/);
      const preflight = (origin: string) => preflightFrom(url as string, origin);
      expect((await preflight('http://localhost:5173')).status).toBe(204);
      await serve.waitFor(/OPTIONS \/v1\/changes\/note 204\n/);
      for (let n = 0; n < 2; n++) expect((await preflight('http://127.0.0.1:5173')).status).toBe(403);
      await serve.waitFor(/(OPTIONS \/v1\/changes\/note 403\n[\s\S]*){2}/);
      // Any client may send any Origin, as many as it likes: only the first 100 are named.
      for (let n = 0; n < 105; n++) await preflight(`http://host-${n}.test`);
      await serve.waitFor(/Refused a browser request from http:\/\/host-98\.test/);
    } finally {
      serve.child.kill('SIGINT');
    }
    const { code, stdout } = await serve.exited;
    expect(code).toBe(0);
    // Once per origin, however many preflights it sends.
    expect(stdout.match(/Refused a browser request from http:\/\/127\.0\.0\.1:5173/g)).toHaveLength(1);
    expect(stdout.match(/Refused/g)).toHaveLength(100);
    expect(stdout).toContain(
      'Refused a browser request from http://127.0.0.1:5173: to allow it, restart with --cors-origin http://127.0.0.1:5173',
    );
  });
});

describe('serve logs a request the client closed first', () => {
  it('a long poll the client stops waiting for reads "closed by the client", not status 0', async () => {
    const serve = startCli(['serve', '--port', '0', '--token', TOKEN]);
    try {
      const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)/);
      // The poll is written whole, then the client hangs up before the server (which holds it: nothing to send)
      // answers.
      await new Promise<void>((resolve, reject) => {
        const poll = request(`${url}/v1/changes/note?wait=30`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        poll.on('error', () => {}); // the socket this test destroys
        poll.on('finish', () => {
          poll.destroy();
          resolve();
        });
        poll.on('response', () => reject(new Error('the server answered a poll it should hold')));
        poll.end();
      });
      await serve.waitFor(/GET \/v1\/changes\/note closed by the client\n/);
    } finally {
      serve.child.kill('SIGINT');
    }
    const { code, stdout } = await serve.exited;
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/GET \/v1\/changes\/note 0\n/);
  });
});

describe('review: serve suggests only a flag it accepts, and blames the right side for a dropped request', () => {
  it('a page without an origin (Origin: null) is not told to restart with --cors-origin null', async () => {
    // A page opened from a file, or in a sandboxed frame, sends `Origin: null`; serve refuses that flag at start.
    const serve = startCli(['serve', '--port', '0', '--token', TOKEN]);
    try {
      const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)[\s\S]*Ctrl-C stops it/);
      const preflight = (origin: string) => preflightFrom(url as string, origin);
      expect((await preflight('null')).status).toBe(403);
      // Not a browser's origin: a client may send any text, which must not come back as a command to paste.
      expect((await preflight('http://x; rm -rf ~')).status).toBe(403);
      await serve.waitFor(/(OPTIONS \/v1\/changes\/note 403\n[\s\S]*){2}/);
    } finally {
      serve.child.kill('SIGINT');
    }
    const { code, stdout } = await serve.exited;
    expect(code).toBe(0);
    expect(stdout).not.toContain('--cors-origin null');
    expect(stdout).toContain('serve the page over http(s)');
    expect(stdout).not.toContain('rm -rf');
  });

  it('a connection the server drops by injected fault is not logged as closed by the client', async () => {
    const serve = startCli(['serve', '--port', '0', '--token', TOKEN, '--fault-rate', '1']);
    try {
      const [, url] = await serve.waitFor(/listening on (http:\/\/\S+)[\s\S]*Ctrl-C stops it/);
      // Every request gets a fault drawn at random; a third of the kinds drop the connection. Sent until one did.
      for (let n = 0; n < 60 && !/fault=(reset|dropReply)\n/.test(serve.stdout()); n++) {
        const body = JSON.stringify({
          batchId: `k${n}`,
          items: [{ id: `a${n}`, version: 1, createdAt: 1, updatedAt: 1, syncPending: true }],
        });
        await postSync(url as string, TOKEN, `k${n}`, body).catch(() => undefined);
      }
      await serve.waitFor(/POST \/v1\/sync\/note \S.* fault=(reset|dropReply)\n/);
    } finally {
      serve.child.kill('SIGINT');
    }
    const { stdout } = await serve.exited;
    expect(stdout).toMatch(/POST \/v1\/sync\/note dropped by the server fault=(reset|dropReply)\n/);
    expect(stdout).not.toMatch(/closed by the client fault=/);
  });
});
