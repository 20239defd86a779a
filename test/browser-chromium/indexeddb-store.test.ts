import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PageHarness, startPageHarness } from '../helpers/browser-page.js';
import { PageTestRegistry } from '../helpers/page-test-registry.js';
import { registerIndexedDbStoreCases } from './indexeddb-store.cases.js';

// Issue 15: the store contract suite in real Chromium. The cases register here only for their names (nothing runs
// in Node: the IndexedDB factory is never called); each vitest test then runs its case in the page.
const registry = new PageTestRegistry();
const inThePage = (): never => {
  throw new Error('the IndexedDB cases run in the page, not in Node');
};
registerIndexedDbStoreCases(
  {
    describe: registry.describe,
    it: registry.it,
    afterEach: registry.afterEach,
    expect,
    collectUncaught: inThePage,
  },
  inThePage,
);

let harness: PageHarness;
let page: Page;

beforeAll(async () => {
  harness = await startPageHarness({ entry: 'test/browser-chromium/indexeddb-store.page.ts' });
  page = await harness.open();
  await page.waitForFunction(() => window.storeCases !== undefined);
  // The page registered the very cases Node did: a case missing on either side would go unnoticed otherwise.
  expect(await page.evaluate(() => window.storeCases?.names())).toEqual(registry.names());
}, 60_000);

afterAll(async () => {
  await harness?.close();
});

describe('in Chromium', () => {
  for (const name of registry.names()) {
    it(name, async () => {
      const outcome = await page.evaluate((caseName) => window.storeCases?.run(caseName), name);
      if (!outcome) throw new Error('the page has no store cases');
      if (!outcome.ok) throw harness.toError(outcome);
      expect(harness.pageErrors).toEqual([]);
      // The bound-of-purged-tombstones case writes a thousand records one transaction each, flushed to disk.
    }, 60_000);
  }
});
