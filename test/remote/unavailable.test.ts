/**
 * Which failures say the remote is out of reach (a `RemoteUnavailableError`: a run stops with its items pending and
 * no attempt counted against them) and which may be the batch's own doing (a plain `TransientSyncError`, counted).
 * The HTTP remote over a fetch that answers as a server or a dead network would.
 */
import { describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import { RemoteUnavailableError, TransientSyncError } from '../../src/index.js';

const item = { id: 'a', version: 1, createdAt: 1, updatedAt: 1, syncPending: true };

async function failureOf(fetchImpl: typeof fetch): Promise<unknown> {
  const remote = new HttpRemoteDataSource({
    baseUrl: 'http://127.0.0.1:9',
    getToken: () => 'token-123456',
    fetch: fetchImpl,
  });
  try {
    await remote.syncBatch([item], {
      signal: new AbortController().signal,
      batchId: 'b1',
      entityType: 'note',
    });
  } catch (error) {
    return error;
  }
  throw new Error('the push did not fail');
}

describe('RemoteUnavailableError: nothing about the items', () => {
  it.each([429, 502, 503, 504])('%i is unavailable', async (status) => {
    const error = await failureOf(async () => new Response('{"error":"later"}', { status }));
    expect(error).toBeInstanceOf(RemoteUnavailableError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('a request that gets no answer at all (no network) is unavailable', async () => {
    const error = await failureOf(() =>
      Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })),
    );
    expect(error).toBeInstanceOf(RemoteUnavailableError);
  });

  it.each([500, 408])('%i may be the batch: transient, and counted', async (status) => {
    const error = await failureOf(async () => new Response('{"error":"boom"}', { status }));
    expect(error).toBeInstanceOf(TransientSyncError);
    expect(error).not.toBeInstanceOf(RemoteUnavailableError);
    expect(error).toMatchObject({ code: 'TRANSIENT' });
  });
});
