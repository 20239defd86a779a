import { SyncCoordinator } from '../coordinator/sync-coordinator.js';
import type { RepositoryEntity, SyncDirection, SyncResult } from '../domain/types.js';
import { HttpRemoteDataSource } from '../remote/http-remote.js';
import { printableUrl } from '../remote/redactor.js';
import { Repository } from '../repository.js';
import { CliError } from './errors.js';
import { Cleanup, interruptGracefully, signalExitCode } from './lifecycle.js';
import { createProgressView } from './progress-view.js';
import { readTypeStatus, retryFailedCommand, shellWord, type TypeStatus } from './status.js';
import { assertHoldsType, openExistingStore, openOrCreateStore } from './store-file.js';
import { formatCount, formatDuration, plural } from './table.js';

export interface SyncCommandOptions {
  db: string;
  remote: string;
  entity: string;
  /** Falls back to the ACTORSYNC_TOKEN environment variable. */
  token?: string | undefined;
  batchSize: number;
  /** Default `'both'`: push the store's changes, then pull the server's. */
  direction?: SyncDirection | undefined;
}

const print = (line = '') => console.log(line);

/**
 * Syncs one entity type of a store once. Exit code 0 when the run ended synced and nothing is left failed (dead
 * letters or records waiting for a retry, this run's or an earlier one's); 2 otherwise; 130 or 143 after SIGINT or
 * SIGTERM, which cancel the run (a second one exits at once).
 */
export async function runSync(options: SyncCommandOptions): Promise<number> {
  const baseUrl = parseRemote(options.remote);
  const token = options.token || process.env.ACTORSYNC_TOKEN || undefined;
  const cleanup = new Cleanup();
  let coordinator: SyncCoordinator | undefined;
  const interruption = interruptGracefully(cleanup, (signal) => {
    print(`\nInterrupted (${signal}): cancelling the sync…`);
    if (coordinator?.isSyncing(options.entity)) coordinator.cancel(options.entity);
  });
  try {
    const direction = options.direction ?? 'both';
    // A pull may fill a store that does not exist yet; a push needs records of the type to send.
    const store =
      direction === 'pull' ? await openOrCreateStore(options.db) : await openExistingStore(options.db);
    cleanup.add(() => store.close());
    if (direction === 'push') assertHoldsType(store, options.entity);
    if (interruption.signal) return signalExitCode(interruption.signal);
    const repository = new Repository<RepositoryEntity>({
      entityType: options.entity,
      local: store.collection(options.entity),
      remote: new HttpRemoteDataSource({ baseUrl, getToken: () => token }),
      direction,
    });
    const running = new SyncCoordinator({ batchSize: options.batchSize });
    coordinator = running;
    cleanup.add(() => running.stop());
    // The process ends after this run: an automatic retry the actors schedule would never happen.
    const view = createProgressView(running.progress, [options.entity], { tty: false, oneShot: true });
    cleanup.add(() => view.stop());
    print(
      `Syncing "${options.entity}" (${DIRECTION_WORDS[direction]}) between ${store.file} and ${printableUrl(baseUrl)}${token ? '' : ' (no token)'}`,
    );
    const result = await running.sync(repository);
    view.stop();
    await running.stop();
    for (const line of describeResult(result)) print(line);
    const left = await readTypeStatus(store, options.entity, Date.now());
    for (const line of describeLeftOver(left, store.file)) print(line);
    if (interruption.signal) return signalExitCode(interruption.signal);
    return result.state === 'synced' && left.failures.length === 0 ? 0 : 2;
  } finally {
    await cleanup.run();
    interruption.remove();
  }
}

/**
 * The server's base URL, refused early when it is not http(s) or carries credentials, a query or a fragment
 * (where keys go). Messages show it only through the remote's `printableUrl`, which drops all three; a value
 * that does not parse is not echoed at all.
 */
export function parseRemote(remote: string): string {
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    throw new CliError(
      '--remote must be a URL such as http://127.0.0.1:8787; the value given does not parse as one',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(`--remote must be an http:// or https:// URL, got ${printableUrl(url)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new CliError(
      `--remote must not carry a user name or password (${printableUrl(url)}): ` +
        'pass the token with --token or ACTORSYNC_TOKEN',
    );
  }
  if (url.search !== '' || url.hash !== '' || remote.includes('?') || remote.includes('#')) {
    throw new CliError(
      `--remote must not have a query or fragment (${printableUrl(url)}): ` +
        'pass the token with --token or ACTORSYNC_TOKEN',
    );
  }
  return url.href;
}

const DIRECTION_WORDS: Record<SyncDirection, string> = {
  push: 'push',
  pull: 'pull',
  both: 'push, then pull',
};

export function describeResult(result: SyncResult): string[] {
  const pulled =
    result.phase === 'pull'
      ? `, ${formatCount(result.pulledItems)} pulled, ${formatCount(result.deletedItems)} deleted` +
        (result.refusedItems > 0 ? `, ${formatCount(result.refusedItems)} refused` : '') +
        (result.resets > 0 ? `, ${plural(result.resets, 'reset')}` : '')
      : '';
  const counts =
    `${formatCount(result.syncedItems)}/${formatCount(result.totalItems)} synced, ${result.failedItems} failed${pulled}, ` +
    `${result.retries} retries, ${result.conflicts} conflicts in ${formatDuration(result.durationMs)}`;
  const lines = [
    result.cancelled && result.runId === 0
      ? 'Result: cancelled before the run started'
      : `Result: ${result.cancelled ? 'cancelled' : result.state}: ${counts}`,
  ];
  if (result.errorMessage) lines.push(`  ${result.errorMessage}`);
  for (const item of result.failures.slice(0, 10)) {
    const status = item.deadLettered ? 'dead-lettered' : 'will be retried';
    lines.push(`  ✘ ${item.id} (${status}, attempts ${item.attempts}): ${item.error}`);
  }
  if (result.failedItems > 10) lines.push(`  … and ${formatCount(result.failedItems - 10)} more`);
  for (const change of result.refused.slice(0, 10)) {
    lines.push(`  ✘ pulled ${change.id} not stored (${change.kind}): ${change.error}`);
  }
  if (result.refusedItems > 10) lines.push(`  … and ${formatCount(result.refusedItems - 10)} more refused`);
  return lines;
}

/**
 * What the store still holds for this type after the run, whether or not this run touched it: records not yet
 * synced, dead letters and scheduled retries, and the commands that deal with them.
 */
export function describeLeftOver(status: TypeStatus, storeFile: string): string[] {
  if (status.pending === 0) return [`Store: all ${plural(status.records, 'record')} synced.`];
  const parts = [
    status.dueNow > 0 ? `${formatCount(status.dueNow)} due now` : undefined,
    status.waiting > 0 ? `${formatCount(status.waiting)} waiting for a retry` : undefined,
    status.deadLettered > 0 ? `${formatCount(status.deadLettered)} dead-lettered` : undefined,
  ].filter((part) => part !== undefined);
  const lines = [
    `Store: ${formatCount(status.pending)} of ${plural(status.records, 'record')} not synced: ${parts.join(', ')}.`,
  ];
  if (status.nextRetryAt !== undefined && status.waiting > 0) {
    lines.push(
      `  The next retry is due at ${new Date(status.nextRetryAt).toISOString()}: run sync again then.`,
    );
  }
  if (status.failures.length > 0) {
    lines.push(
      `  \`actorsync status --db ${shellWord(storeFile)}\` lists them with their reasons; re-queue them with`,
    );
    lines.push(`  ${retryFailedCommand(storeFile, status.entityType)}`);
  } else if (status.dueNow > 0) {
    lines.push('  Run sync again to push them.');
  }
  return lines;
}
