import { HttpRemoteDataSource } from '../../src/http.js';

/** What one push from the page ended with: its results, or the error's class and message. */
export type PushOutcome = { ok: true; statuses: string[] } | { ok: false; name: string; message: string };

declare global {
  interface Window {
    pushOnce?: (baseUrl: string, token: string) => Promise<PushOutcome>;
  }
}

// One batch of one note through the HTTP remote, from the page: the test sees how each failure reads in a browser.
window.pushOnce = async (baseUrl, token) => {
  const remote = new HttpRemoteDataSource({ baseUrl, getToken: () => token, timeoutMs: 5_000 });
  const note = { id: 'n1', version: 1, createdAt: 1, updatedAt: 1, syncPending: true, text: 'x' };
  try {
    const results = await remote.syncBatch([note], {
      entityType: 'notes',
      batchId: crypto.randomUUID(),
      signal: new AbortController().signal,
    });
    return { ok: true, statuses: results.map((result) => result.status) };
  } catch (error) {
    return { ok: false, name: (error as Error).name, message: (error as Error).message };
  }
};
