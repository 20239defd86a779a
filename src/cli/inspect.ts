import { createInspector } from '../inspect/inspector-server.js';
import { readTrace } from '../inspect/trace.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';
import { printableUrl } from './printable-url.js';

/** `actorsync inspect --trace FILE`: serves the local inspector in replay mode until Ctrl-C. */
export async function runInspect(options: { trace: string; port: number }): Promise<number> {
  const trace = await readTrace(options.trace);
  const inspector = await createInspector({ port: options.port });
  const cleanup = new Cleanup();
  cleanup.add(() => inspector.close());
  cleanUpOnSignal(cleanup);
  inspector.loadTrace(trace);
  console.log(`Replaying ${trace.records.length} records from ${options.trace}`);
  console.log(`Inspector: ${printableUrl(inspector.url)}`);
  console.log('Press Ctrl-C to exit.');
  await new Promise<never>(() => {});
  return 0;
}
