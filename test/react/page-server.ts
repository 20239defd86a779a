import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { build } from 'esbuild';

// A minimal page harness for the React tests: bundles one entry for the browser and serves it with an empty page
// on 127.0.0.1. (A shared one, test/helpers/browser-page.ts, was not on main yet when these tests were written.)

export interface ServedPage {
  /** e.g. `http://127.0.0.1:40123`: the origin the sync server must allow (CORS). */
  readonly origin: string;
  /** Bytes of the bundle (development React, unminified). */
  readonly bundleBytes: number;
  close(): Promise<void>;
}

/** Bundles `entry` (development React, so StrictMode double-invokes) and serves it at `/` with a `#root` div. */
export async function servePage(entry: string): Promise<ServedPage> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    // React's development build: StrictMode's double renders and effects, and its warnings (an uncached
    // getSnapshot, an update loop) happen only there.
    define: { 'process.env.NODE_ENV': '"development"' },
    sourcemap: 'inline',
    write: false,
    logLevel: 'silent',
  });
  const bundle = result.outputFiles[0]?.contents;
  if (!bundle) throw new Error(`esbuild produced no output for ${entry}`);
  const html =
    '<!doctype html><meta charset="utf-8"><div id="root"></div><script type="module" src="/app.js"></script>';
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    } else if (path === '/app.js') {
      response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(bundle);
    } else {
      response.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    bundleBytes: bundle.byteLength,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
