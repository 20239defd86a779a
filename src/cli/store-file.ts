import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LowdbLocalStore } from '../store/lowdb-store.js';
import { CliError } from './errors.js';

/** Opens a store that must already exist: the CLI's read and sync commands never create one by accident. */
export async function openExistingStore(file: string): Promise<LowdbLocalStore> {
  const path = resolve(file);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CliError(`No store at ${path}`);
  if (!info.isFile()) throw new CliError(`${path} is not a file`);
  return LowdbLocalStore.open(path);
}
