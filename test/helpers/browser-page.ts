import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SourceMap } from 'node:module';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, build } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface PageHarnessOptions {
  /** The page's TypeScript module, relative to the repository: bundled for the browser and served as /app.js. */
  entry: string;
  /** esbuild `alias` (a module name to a repository-relative file), e.g. to swap a Node-only module for the page. */
  alias?: Record<string, string>;
  /** esbuild `define`, e.g. `process.env.NODE_ENV` for React. */
  define?: Record<string, string>;
  /** Served at /index.html (and /): by default a page that only loads /app.js. */
  html?: string;
  /** Answers a request the harness does not (return true when it did): an API stub, more static files. */
  route?: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** A browser to share; by default the harness launches Chromium and closes it with itself. */
  browser?: Browser;
  /** Records console warnings in `pageErrors` too, not only errors: React's development build warns there. */
  consoleWarnings?: boolean;
  /**
   * Console lines not to record, e.g. /^Failed to load resource/: Chromium logs each error status a test had the
   * server answer.
   */
  ignoreConsole?: RegExp;
}

/** An error the page reported, with its stack mapped back to the TypeScript sources. */
export interface PageErrorReport {
  message: string;
  stack?: string;
  name?: string;
  /** An assertion's values, as JSON, so vitest prints its diff. */
  actual?: string;
  expected?: string;
}

/**
 * One origin (http://127.0.0.1:random) serving one bundled page, in its own browser context: what every Chromium
 * test of the client builds on (the store contract suite, the React hooks, the web app streaming to the inspector,
 * bench:browser).
 */
export interface PageHarness {
  readonly origin: string;
  readonly browser: Browser;
  readonly context: BrowserContext;
  /**
   * Uncaught errors and `console.error` lines (and warnings, when asked) of every page opened, for a test to assert
   * empty.
   */
  readonly pageErrors: string[];
  /**
   * Opens a tab at `path` on the harness's origin (default /, a query string may follow), or at a whole URL (another
   * server's page beside the app's), and waits until it loaded. Each call is another tab of the same context.
   * `beforeLoad` runs on the new tab first: listeners that must see its very first requests.
   */
  open(pathOrUrl?: string, beforeLoad?: (page: Page) => void): Promise<Page>;
  /**
   * `open` in another context than the harness's own (a profile on disk, `launchChromiumProfile`), its errors
   * recorded in `pageErrors` the same way.
   */
  openIn(context: BrowserContext, pathOrUrl?: string): Promise<Page>;
  /** An Error to throw in Node for what the page reported: its message, its stack in TypeScript lines. */
  toError(report: PageErrorReport): Error;
  close(): Promise<void>;
}

const DEFAULT_HTML =
  '<!doctype html><meta charset="utf-8"><title>actorsync test page</title><script type="module" src="/app.js"></script>';

/** Bundles `entry` with esbuild (platform browser), serves it on 127.0.0.1 and opens a browser context on it. */
export async function startPageHarness(options: PageHarnessOptions): Promise<PageHarness> {
  const result = await build({
    entryPoints: { app: `${root}/${options.entry}` },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: 'external',
    outdir: '/', // nothing is written: the output stays in memory
    write: false,
    logLevel: 'silent',
    jsx: 'automatic', // a page may be TSX (the React hooks page), as tsconfig.json's react-jsx compiles it
    alias: Object.fromEntries(
      Object.entries(options.alias ?? {}).map(([name, file]) => [name, `${root}/${file}`]),
    ),
    define: options.define,
  } satisfies BuildOptions);
  const files = new Map<string, { body: Uint8Array; type: string }>();
  for (const file of result.outputFiles) {
    const name = file.path.endsWith('.map') ? '/app.js.map' : '/app.js';
    files.set(name, { body: file.contents, type: 'text/javascript; charset=utf-8' });
  }
  const html = new TextEncoder().encode(options.html ?? DEFAULT_HTML);
  files.set('/', { body: html, type: 'text/html; charset=utf-8' });
  files.set('/index.html', { body: html, type: 'text/html; charset=utf-8' });
  const mapFile = files.get('/app.js.map');
  const sourceMap = mapFile ? new SourceMap(JSON.parse(new TextDecoder().decode(mapFile.body))) : undefined;

  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const file = files.get(path);
    if (file && request.method === 'GET') {
      response.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
      response.end(file.body);
      return;
    }
    if (options.route?.(request, response)) return;
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = options.browser ?? (await launchChromium());
  const context = await browser.newContext();
  const pageErrors: string[] = [];

  /** `…/app.js:line:column` in a page stack, as the TypeScript file and line it was bundled from. */
  const mapStack = (stack: string): string =>
    stack.replace(
      new RegExp(`${origin}/app\\.js:(\\d+):(\\d+)`, 'g'),
      (whole, line: string, column: string) => {
        const entry = sourceMap?.findEntry(Number(line) - 1, Number(column) - 1);
        if (!entry || !('originalSource' in entry) || !entry.originalSource) return whole;
        // Sources are named relative to the bundle's directory, "/".
        return `${resolve('/', entry.originalSource)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
      },
    );

  const openTab = async (
    tabContext: BrowserContext,
    pathOrUrl = '/',
    beforeLoad?: (page: Page) => void,
  ): Promise<Page> => {
    const page = await tabContext.newPage();
    beforeLoad?.(page);
    page.on('pageerror', (error) => pageErrors.push(mapStack(error.stack ?? error.message)));
    page.on('console', (message) => {
      const recorded =
        message.type() === 'error' || (options.consoleWarnings && message.type() === 'warning');
      if (recorded && !options.ignoreConsole?.test(message.text())) pageErrors.push(message.text());
    });
    await page.goto(/^https?:/.test(pathOrUrl) ? pathOrUrl : `${origin}${pathOrUrl}`);
    return page;
  };

  return {
    origin,
    browser,
    context,
    pageErrors,
    open: (pathOrUrl, beforeLoad) => openTab(context, pathOrUrl, beforeLoad),
    openIn: (other, pathOrUrl) => openTab(other, pathOrUrl),
    toError(report) {
      const error = new Error(report.message) as Error & {
        actual?: unknown;
        expected?: unknown;
        showDiff?: boolean;
      };
      if (report.name) error.name = report.name;
      error.stack = mapStack(report.stack ?? `${error.name}: ${report.message}`);
      if (report.actual !== undefined || report.expected !== undefined) {
        // vitest prints a diff of these, as it would for an assertion made in Node.
        error.actual = report.actual === undefined ? undefined : JSON.parse(report.actual);
        error.expected = report.expected === undefined ? undefined : JSON.parse(report.expected);
        error.showDiff = true;
      }
      return error;
    },
    async close() {
      await context.close();
      if (!options.browser) await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
