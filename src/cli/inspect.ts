import { createInspector } from '../inspect/inspector-server.js';
import { readTrace } from '../inspect/trace.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';

/** `actorsync inspect --trace FILE`: serves the local inspector in replay mode until Ctrl-C. */
export async function runInspect(options: { trace: string; port: number }): Promise<number> {
  const trace = await readTrace(options.trace);
  const inspector = await createInspector({ port: options.port });
  const cleanup = new Cleanup();
  cleanup.add(() => inspector.close());
  cleanUpOnSignal(cleanup);
  inspector.loadTrace(trace);
  console.log(`Replaying ${trace.records.length} records from ${options.trace}`);
  // The per-run token in this link is what opens the page: printed on purpose, for the user to click.
  console.log(`Inspector: ${inspector.url}`);
  console.log('Press Ctrl-C to exit.');
  await new Promise<never>(() => {});
  return 0;
}
