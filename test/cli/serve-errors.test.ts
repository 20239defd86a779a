import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { postSync } from '../helpers/post-sync.js';
import { useTempDir } from '../helpers/temp-dir.js';
import { startCli } from './run-cli.js';

const TOKEN = 'serve-errors-token';

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
