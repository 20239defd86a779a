import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LowdbLocalStore } from '../store/lowdb-store.js';
import { CliError } from './errors.js';
import { Cleanup, cleanUpOnSignal } from './lifecycle.js';

export interface OpenStoreOptions {
  /** Read without writing anything: no lock, no repair of a torn journal, no files created. */
  readOnly?: boolean;
}

/** Opens a store that must already exist: the CLI's read and sync commands never create one by accident. */
export async function openExistingStore(
  file: string,
  options: OpenStoreOptions = {},
): Promise<LowdbLocalStore> {
  const path = resolve(file);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliError(`No store at ${path} (\`actorsync import\` creates one)`);
  if (!info.isFile()) throw new CliError(`${path} is not a file`);
  return LowdbLocalStore.open(path, { readOnly: options.readOnly === true });
}

/** Opens the store at `file`, creating it if it does not exist yet (its directory must). */
export async function openOrCreateStore(file: string): Promise<LowdbLocalStore> {
  const path = resolve(file);
  const info = await stat(path).catch(() => undefined);
  if (info && !info.isFile()) throw new CliError(`${path} is not a file`);
  if (!info) await assertDirectory(dirname(path));
  return LowdbLocalStore.open(path);
}

/** Refuses a directory that does not exist (or is not one) before anything tries to write into it. */
export async function assertDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) throw new CliError(`Directory ${dir} does not exist`);
  if (!info.isDirectory()) throw new CliError(`${dir} is not a directory`);
  await access(dir, constants.W_OK).catch(() => {
    throw new CliError(`Cannot write into directory ${dir}`);
  });
}

/**
 * Opens a store, hands it to `use` and closes it on every way out: return, throw, SIGINT or SIGTERM (which then
 * exit with 130 or 143), so the store's lock never outlives the command.
 */
export async function withStore<R>(
  open: () => Promise<LowdbLocalStore>,
  use: (store: LowdbLocalStore) => Promise<R>,
): Promise<R> {
  const cleanup = new Cleanup();
  const removeHandlers = cleanUpOnSignal(cleanup);
  try {
    const store = await open();
    cleanup.add(() => store.close());
    return await use(store);
  } finally {
    await cleanup.run();
    removeHandlers();
  }
}

/** Refuses an entity type the store holds no records of, naming the ones it does hold. */
export function assertHoldsType(store: LowdbLocalStore, entityType: string): void {
  if (store.entityTypes.includes(entityType)) return;
  const held = store.entityTypes.length > 0 ? store.entityTypes.join(', ') : 'none';
  throw new CliError(`Store ${store.file} has no "${entityType}" records (entity types: ${held})`);
}
