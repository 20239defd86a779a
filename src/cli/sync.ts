import { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import type { RepositoryEntity, SyncResult } from '../domain/types.js';
import { HttpRemoteDataSource } from '../remote/http-remote.js';
import { Repository } from '../repository.js';
import { CliError } from './errors.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';
import { createProgressView } from './progress-view.js';
import { openExistingStore } from './store-file.js';
import { formatCount, formatDuration } from './table.js';

export interface SyncCommandOptions {
  db: string;
  remote: string;
  entity: string;
  /** Falls back to the ACTORSYNC_TOKEN environment variable. */
  token?: string | undefined;
  batchSize: number;
}

const print = (line = '') => console.log(line);

/** Syncs one entity type of a store once. Exit code 0 when the run ended synced, 2 when it ended in error. */
export async function runSync(options: SyncCommandOptions): Promise<number> {
  const baseUrl = parseRemote(options.remote);
  const token = options.token ?? process.env.ACTORSYNC_TOKEN;
  const cleanup = new Cleanup();
  const removeHandlers = cleanUpOnSignal(cleanup, () => print('\nInterrupted: cancelling the sync…'));
  try {
    const store = await openExistingStore(options.db);
    cleanup.add(() => store.close());
    if (!store.entityTypes.includes(options.entity)) {
      const held = store.entityTypes.length > 0 ? store.entityTypes.join(', ') : 'none';
      throw new CliError(`Store ${store.file} has no "${options.entity}" records (entity types: ${held})`);
    }
    const repository = new Repository<RepositoryEntity>({
      entityType: options.entity,
      local: store.collection(options.entity),
      remote: new HttpRemoteDataSource({ baseUrl, getToken: () => token }),
    });
    const coordinator = new SyncCoordinator({ batchSize: options.batchSize });
    cleanup.add(() => coordinator.stop());
    const view = createProgressView(coordinator.progress, [options.entity], { tty: false });
    cleanup.add(() => view.stop());
    print(`Syncing "${options.entity}" from ${store.file} to ${baseUrl}${token ? '' : ' (no token)'}`);
    const result = await coordinator.sync(repository);
    view.stop();
    for (const line of describeResult(result)) print(line);
    return result.state === 'synced' ? 0 : 2;
  } finally {
    await cleanup.run();
    removeHandlers();
  }
}

function parseRemote(remote: string): string {
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    throw new CliError(`--remote must be a URL such as http://127.0.0.1:8787, got ${JSON.stringify(remote)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--remote must be an http:// or https:// URL, got ${JSON.stringify(remote)}`);
  }
  return url.href;
}

export function describeResult(result: SyncResult): string[] {
  const counts =
    `${formatCount(result.syncedItems)}/${formatCount(result.totalItems)} synced, ${result.failedItems} failed, ` +
    `${result.retries} retries, ${result.conflicts} conflicts in ${formatDuration(result.durationMs)}`;
  const lines = [`Result: ${result.state}${result.cancelled ? ' (cancelled)' : ''}: ${counts}`];
  if (result.errorMessage) lines.push(`  ${result.errorMessage}`);
  for (const item of result.failed.slice(0, 10)) {
    const status = item.deadLettered ? 'dead-lettered' : 'will be retried';
    lines.push(`  ✘ ${item.id} (${status}, attempts ${item.attempts}): ${item.error}`);
  }
  if (result.failed.length > 10) lines.push(`  … and ${result.failed.length - 10} more`);
  const waiting = result.failed.filter((item) => !item.deadLettered).length;
  if (waiting > 0 && result.nextRetryAt !== undefined) {
    lines.push(
      `  ${waiting} items may be retried from ${new Date(result.nextRetryAt).toISOString()}: run sync again.`,
    );
  }
  return lines;
}
