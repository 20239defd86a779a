import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { StoreCorruptError } from '../domain/errors.js';

/**
 * A lowdb adapter that writes durably: the whole document goes to a temporary file, which is fsynced, renamed over
 * the target, and the directory fsynced, so a crash leaves the old file or the new one, never a torn one.
 * (lowdb's own JSONFile renames without fsync.) Reads refuse anything that is not valid JSON or fails `validate`.
 */
export class DurableJSONFile<T> implements Adapter<T> {
  readonly file: string;
  readonly #validate: (data: unknown) => T;
  readonly #fsync: boolean;
  /** Size in bytes of the last document read or written. */
  bytes = 0;

  constructor(file: string, validate: (data: unknown) => T, options: { fsync?: boolean } = {}) {
    this.file = file;
    this.#validate = validate;
    this.#fsync = options.fsync ?? true;
  }

  /** Removes temporary files a crash mid-write left behind. Only call while holding the store's lock. */
  async removeOrphans(): Promise<number> {
    const prefix = `.${basename(this.file)}.`;
    const names = await readdir(dirname(this.file)).catch(() => [] as string[]);
    const orphans = names.filter((name) => name.startsWith(prefix) && name.endsWith('.tmp'));
    await Promise.all(orphans.map((name) => unlink(join(dirname(this.file), name)).catch(() => {})));
    return orphans.length;
  }

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    this.bytes = Buffer.byteLength(text);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new StoreCorruptError(this.file, `not valid JSON (${(error as Error).message})`);
    }
    return this.#validate(data);
  }

  async write(data: T): Promise<void> {
    const text = JSON.stringify(data);
    const temp = join(dirname(this.file), `.${basename(this.file)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w');
    try {
      await handle.writeFile(text, 'utf8');
      if (this.#fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await rename(temp, this.file);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    if (this.#fsync) await syncDirectory(dirname(this.file));
    this.bytes = Buffer.byteLength(text);
  }
}

/** Makes a rename or a new file in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
