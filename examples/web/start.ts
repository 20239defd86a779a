// `npm run example:web`: the reference sync server and the notes app (Vite dev server), both on 127.0.0.1.
import { fileURLToPath } from 'node:url';
import { createServer, type Plugin, type ViteDevServer } from 'vite';
import { Cleanup, cleanUpOnSignal } from '../../src/cli/lifecycle.js';
import { createSyncServer, type SyncServer, type SyncServerOptions } from '../../src/server.js';

/** What the app fetches at start: where the sync server is, and its token. */
export interface WebExampleConfig {
  serverUrl: string;
  token: string;
}

export interface WebExample {
  /** The app's page, e.g. `http://127.0.0.1:5173/`. */
  readonly appUrl: string;
  readonly server: SyncServer;
  close(): Promise<void>;
}

export interface WebExampleOptions {
  /** The app's port. Default 5173, or the next free one. 0: any free port. */
  appPort?: number;
  /** The sync server's port. Default 0: any free port. */
  serverPort?: number;
  /** More options for the sync server (the browser tests slow it down with `faults`). */
  server?: Omit<SyncServerOptions, 'port' | 'cors'>;
}

const CONFIG_PATH = '/actorsync-config.json';

/**
 * The token reaches the app through a same-origin request to the dev server (loopback only), not through the
 * page's URL or this process's output, where it would end up in histories and logs.
 */
function serveConfig(config: () => WebExampleConfig | undefined): Plugin {
  return {
    name: 'actorsync-example-config',
    configureServer(vite) {
      vite.middlewares.use(CONFIG_PATH, (_request, response) => {
        const value = config();
        response.setHeader('cache-control', 'no-store');
        response.setHeader('content-type', 'application/json');
        response.statusCode = value ? 200 : 503;
        response.end(JSON.stringify(value ?? { error: 'the sync server is starting' }));
      });
    },
  };
}

export async function startWebExample(options: WebExampleOptions = {}): Promise<WebExample> {
  let config: WebExampleConfig | undefined;
  let vite: ViteDevServer | undefined;
  let server: SyncServer | undefined;
  try {
    vite = await createServer({
      configFile: fileURLToPath(new URL('vite.config.ts', import.meta.url)),
      server: { port: options.appPort ?? 5173, strictPort: false },
      plugins: [serveConfig(() => config)],
      logLevel: 'warn',
    });
    await vite.listen();
    const appUrl = vite.resolvedUrls?.local[0];
    if (!appUrl) throw new Error('the Vite dev server reported no local URL');
    // The app's origin is the only one the sync server answers cross-origin requests from.
    server = await createSyncServer({
      ...options.server,
      port: options.serverPort ?? 0,
      cors: { origins: [new URL(appUrl).origin] },
    });
    config = { serverUrl: server.url, token: server.token };
    const [started, dev] = [server, vite];
    return {
      appUrl,
      server: started,
      async close() {
        await dev.close();
        await started.close();
      },
    };
  } catch (error) {
    await vite?.close();
    await server?.close();
    throw error;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const cleanup = new Cleanup();
  cleanUpOnSignal(cleanup);
  const example = await startWebExample();
  cleanup.add(() => example.close());
  console.log(`Sync server: ${example.server.url} (its token stays out of this output; the app reads it)`);
  console.log(`Notes app:   ${example.appUrl}`);
  console.log(
    'Open it in two tabs, go offline in one (DevTools > Network), edit, and come back. Ctrl-C stops both.',
  );
}
