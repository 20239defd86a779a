import { CliError } from './errors.js';
import { assertHoldsType, openExistingStore, withStore } from './store-file.js';
import { formatCount, plural } from './table.js';

export interface RetryFailedOptions {
  db: string;
  entity: string;
  /** Only these records; default every failure record of the type. */
  ids?: readonly string[] | undefined;
}

/**
 * `actorsync retry-failed`: clears failure records (dead letters and scheduled retries) so the next `sync` pushes
 * those records at once. An id that has no failure record is refused before anything is changed.
 */
export async function runRetryFailed(options: RetryFailedOptions): Promise<number> {
  return withStore(
    () => openExistingStore(options.db),
    async (store) => {
      assertHoldsType(store, options.entity);
      const collection = store.collection(options.entity);
      const failures = await collection.failures();
      if (options.ids !== undefined) {
        const failed = new Set(failures.map((f) => f.id));
        const unknown = [...new Set(options.ids)].filter((id) => !failed.has(id));
        if (unknown.length > 0) {
          throw new CliError(
            `No failure record for ${unknown.map((id) => JSON.stringify(id)).join(', ')} in "${options.entity}" ` +
              `of ${store.file}; nothing was re-queued (\`actorsync status\` lists the failures)`,
          );
        }
      }
      if (failures.length === 0) {
        console.log(`Nothing to re-queue: "${options.entity}" in ${store.file} has no failed records.`);
        return 0;
      }
      const requeued = await collection.requeueFailures(options.ids ? [...new Set(options.ids)] : undefined);
      const dead = failures.filter(
        (f) => f.deadLettered && (!options.ids || options.ids.includes(f.id)),
      ).length;
      console.log(
        `Re-queued ${plural(requeued, 'record')} of "${options.entity}" in ${store.file} ` +
          `(${formatCount(dead)} dead-lettered, ${formatCount(requeued - dead)} waiting for a retry): ` +
          'the next sync pushes them.',
      );
      return 0;
    },
  );
}
