/** The page of indexeddb-store.test.ts: the IndexedDB store's cases on the browser's own IndexedDB. */
import { expect } from '../helpers/page-expect.js';
import { PageTestRegistry } from '../helpers/page-test-registry.js';
import { registerIndexedDbStoreCases } from './indexeddb-store.cases.js';

/** The page's uncaught errors while `body` runs: `reportError` raises them as the window's `error` events. */
async function collectUncaught(body: () => Promise<void>): Promise<unknown[]> {
  const thrown: unknown[] = [];
  const onError = (event: ErrorEvent) => {
    thrown.push(event.error);
    // Handled: not reported as the page's own uncaught error.
    event.preventDefault();
  };
  window.addEventListener('error', onError);
  try {
    await body();
  } finally {
    window.removeEventListener('error', onError);
  }
  return thrown;
}

const registry = new PageTestRegistry();
registerIndexedDbStoreCases(
  { describe: registry.describe, it: registry.it, afterEach: registry.afterEach, expect, collectUncaught },
  () => indexedDB,
);

declare global {
  interface Window {
    /** What the Node side of the test drives. */
    storeCases?: { names: () => string[]; run: PageTestRegistry['run'] };
  }
}
window.storeCases = { names: () => registry.names(), run: (name) => registry.run(name) };
