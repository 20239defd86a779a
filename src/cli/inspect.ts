import { createInspector, type LocalInspector } from '../inspect/inspector-server.js';
import { readTrace } from '../inspect/trace.js';
import { CliError } from './errors.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';

export interface InspectOptions {
  /** Replay this trace file. */
  trace?: string;
  /** Take live records from web apps (`createRemoteInspector`). */
  listen?: boolean;
  port: number;
  /** With `listen`: page origins allowed to send (e.g. Vite's http://localhost:5173). */
  allowOrigins?: readonly string[];
  /** With `listen`: the ingest token (default: ACTORSYNC_INSPECT_TOKEN, else a random one). */
  ingestToken?: string;
}

/**
 * `actorsync inspect --trace FILE` serves the local inspector in replay mode; `actorsync inspect --listen` serves it
 * live, for web apps to stream their actors to. Either runs until Ctrl-C.
 */
export async function runInspect(options: InspectOptions): Promise<number> {
  if ((options.trace === undefined) === (options.listen !== true)) {
    throw new CliError('Give either --trace <file> (replay a trace) or --listen (watch a web app)');
  }
  if (!options.listen && (options.allowOrigins?.length || options.ingestToken)) {
    throw new CliError('--allow-origin and --ingest-token go with --listen');
  }
  const cleanup = new Cleanup();
  let inspector: LocalInspector;
  if (options.trace !== undefined) {
    const trace = await readTrace(options.trace);
    inspector = await createInspector({ port: options.port });
    cleanup.add(() => inspector.close());
    inspector.loadTrace(trace);
    console.log(`Replaying ${trace.records.length} records from ${options.trace}`);
  } else {
    const refused = new Set<string>();
    const token = options.ingestToken || process.env.ACTORSYNC_INSPECT_TOKEN || undefined;
    inspector = await createInspector({
      port: options.port,
      ingest: {
        allowOrigins: options.allowOrigins ?? [],
        ...(token ? { token } : {}),
        onOriginRefused: (origin) => {
          if (refused.has(origin)) return;
          refused.add(origin);
          console.log(
            `Refused records from a page at ${origin}: to take them, restart with --allow-origin ${origin}`,
          );
        },
      },
    });
    cleanup.add(() => inspector.close());
    printListening(inspector);
  }
  cleanUpOnSignal(cleanup);
  // The per-run token in this link is what opens the page: printed on purpose, for the user to click.
  console.log(`Inspector: ${inspector.url}`);
  console.log('Press Ctrl-C to exit.');
  await new Promise<never>(() => {});
  return 0;
}

function printListening(inspector: LocalInspector): void {
  const ingest = inspector.ingest;
  if (!ingest) return;
  // The ingest token lets a page send records and opens nothing else: printed for the developer to paste.
  console.log(`Ingest URL: ${ingest.url}`);
  console.log(`Ingest token: ${ingest.token}`);
  console.log(
    `In the web app: createRemoteInspector({ url: '${ingest.url}', token: '${ingest.token}' }) from actorsync/inspect/browser`,
  );
  console.log(
    ingest.allowOrigins.length > 0
      ? `Pages allowed to send: ${ingest.allowOrigins.join(', ')}`
      : 'No page origin is allowed yet: add --allow-origin for your app (Vite: --allow-origin http://localhost:5173)',
  );
}
