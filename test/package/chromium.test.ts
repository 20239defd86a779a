import { access, chmod, constants, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, unpackBundledChromium } from '../helpers/chromium.js';

// A fresh machine has no Chromium and no root: the browser tests must find one on their own, or fail saying how.
let dir: string;
let fakeChromium: string;
const noBundled = () => Promise.reject(new Error('not installed'));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'actorsync-chromium-'));
  fakeChromium = join(dir, 'chromium');
  await writeFile(fakeChromium, '#!/bin/sh\n');
  await chmod(fakeChromium, 0o755);
  await writeFile(join(dir, 'not-executable'), '');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const expectAllThreeWaysNamed = (message: string) => {
  expect(message).toContain('CHROMIUM_PATH');
  expect(message).toContain('chromium, chromium-browser, google-chrome on PATH or in /usr/bin');
  expect(message).toContain('@sparticuz/chromium');
};

describe('findChromium', () => {
  it('uses CHROMIUM_PATH first, ahead of a system Chromium', async () => {
    const other = join(dir, 'not-on-path');
    await writeFile(other, '#!/bin/sh\n');
    await chmod(other, 0o755);
    await expect(
      findChromium({ env: { CHROMIUM_PATH: other, PATH: dir }, systemDirs: [], bundled: noBundled }),
    ).resolves.toEqual({ executablePath: other, source: 'CHROMIUM_PATH' });
  });

  it('refuses a CHROMIUM_PATH that is not an executable, naming all three ways', async () => {
    for (const wrong of [join(dir, 'missing'), join(dir, 'not-executable')]) {
      const error = await findChromium({ env: { CHROMIUM_PATH: wrong, PATH: dir }, systemDirs: [] }).catch(
        (e: unknown) => e as Error,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(wrong);
      expectAllThreeWaysNamed((error as Error).message);
    }
  });

  it('finds a system Chromium on PATH, then in the system directories', async () => {
    await expect(findChromium({ env: { PATH: `/nonexistent:${dir}` }, systemDirs: [] })).resolves.toEqual({
      executablePath: fakeChromium,
      source: 'system',
    });
    await expect(findChromium({ env: {}, systemDirs: [dir] })).resolves.toEqual({
      executablePath: fakeChromium,
      source: 'system',
    });
  });

  it('falls back to the Chromium shipped in @sparticuz/chromium, which really launches', async () => {
    const found = await findChromium({ env: { PATH: '' }, systemDirs: [] });
    expect(found.source).toBe('@sparticuz/chromium');
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: found.executablePath,
      args: ['--no-sandbox', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      await page.setContent('<p id="out"></p><script>out.textContent = String(6 * 7)</script>');
      expect(await page.locator('#out').textContent()).toBe('42');
    } finally {
      await browser.close();
    }
  });

  it('unpacks the bundled Chromium atomically: concurrent unpacks never leave a partial binary', async () => {
    const unpackDir = join(dir, 'unpack');
    const [first, second] = await Promise.all([
      unpackBundledChromium(unpackDir),
      unpackBundledChromium(unpackDir),
    ]);
    expect(second).toBe(first);
    expect(first.startsWith(unpackDir)).toBe(true);
    await access(first, constants.X_OK);
    const [versionDir] = await readdir(unpackDir);
    expect(await readdir(join(unpackDir, String(versionDir)))).toEqual(['chromium']);
  }, 60_000);

  it('unpacks into node_modules/.cache by default, never a shared temp path', async () => {
    const path = await unpackBundledChromium();
    expect(path).toMatch(/node_modules\/\.cache\/actorsync-chromium-[^/]+\/chromium$/);
  }, 60_000);

  it('fails, never skips, when none is found, naming all three ways', async () => {
    const error = await findChromium({ env: { PATH: '' }, systemDirs: [], bundled: noBundled }).catch(
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expectAllThreeWaysNamed((error as Error).message);
    expect((error as Error).message).toContain('not installed');
  });
});
