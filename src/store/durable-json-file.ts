import { constants } from 'node:fs';
import { type FileHandle, open, readdir, rename, stat, unlink } from 'node:fs/promises';
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
  readonly #validate: (data: unknown, read: ReadInfo) => T;
  readonly #fsync: boolean;
  /** Size in bytes of the last document read or written. */
  bytes = 0;

  constructor(
    file: string,
    validate: (data: unknown, read: ReadInfo) => T,
    options: { fsync?: boolean } = {},
  ) {
    this.file = file;
    this.#validate = validate;
    this.#fsync = options.fsync ?? true;
  }

  /**
   * Removes temporary files a crash mid-write left behind: those of dead processes, and this process's own (it
   * holds the store's lock, so it is not writing one). A live process's temp file is never touched, whatever it
   * is doing. Only call while holding the store's lock.
   */
  async removeOrphans(): Promise<number> {
    const prefix = `.${basename(this.file)}.`;
    const names = await readdir(dirname(this.file)).catch(() => [] as string[]);
    const orphans = names.filter((name) => {
      if (!name.startsWith(prefix) || !name.endsWith('.tmp')) return false;
      const pid = Number(name.slice(prefix.length, -'.tmp'.length));
      return Number.isSafeInteger(pid) && pid > 0 && (pid === process.pid || !isProcessAlive(pid));
    });
    await Promise.all(orphans.map((name) => unlink(join(dirname(this.file), name)).catch(() => {})));
    return orphans.length;
  }

  async read(): Promise<T | null> {
    // Read as text: Node decodes a file read with an encoding chunk by chunk, while a whole-file Buffer (37 MB for
    // 100,000 records) is external memory that lingers until a full GC, which a sync may not run for a long time.
    const text = await readRegularFile(this.file, 'utf8');
    if (text === undefined) return null;
    this.bytes = Buffer.byteLength(text);
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new StoreCorruptError(this.file, `not valid JSON (${(error as Error).message})`);
    }
    return this.#validate(data, { depth: jsonTextDepth(text) });
  }

  async write(data: T): Promise<void> {
    await this.writeText([JSON.stringify(data)]);
  }

  /**
   * Writes a document given as pieces of its JSON text, in order, as durably as `write`: to a temporary file,
   * fsynced, renamed over the target, the directory fsynced. The text goes out in chunks of about
   * `WRITE_CHUNK_CHARS` as the pieces come: a large document is never one string nor one Buffer in memory, and the
   * event loop runs between chunks. The caller vouches that the pieces make valid JSON that `read` accepts.
   */
  async writeText(pieces: Iterable<string>): Promise<void> {
    const temp = join(dirname(this.file), `.${basename(this.file)}.${process.pid}.tmp`);
    const handle = await open(temp, 'w');
    let bytes = 0;
    try {
      let chunk = '';
      for (const piece of pieces) {
        chunk += piece;
        if (chunk.length >= WRITE_CHUNK_CHARS) {
          bytes += await writeString(handle, chunk, bytes);
          chunk = '';
        }
      }
      bytes += await writeString(handle, chunk, bytes);
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
    this.bytes = bytes;
  }
}

/** Characters of JSON text converted and written at a time (a few MiB of Buffer at most). */
const WRITE_CHUNK_CHARS = 1 << 20;

/**
 * Writes `text` as UTF-8 at `position`, in slices of `WRITE_CHUNK_CHARS` (a single piece may be a whole document),
 * until every byte is written; returns the bytes written.
 */
async function writeString(handle: FileHandle, text: string, position: number): Promise<number> {
  let written = 0;
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + WRITE_CHUNK_CHARS);
    // Never between the two halves of a surrogate pair: each half alone would be encoded as U+FFFD.
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end += 1;
    const buffer = Buffer.from(text.slice(start, end), 'utf8');
    for (let offset = 0; offset < buffer.length; ) {
      const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset, position + written);
      offset += bytesWritten;
      written += bytesWritten;
    }
    start = end;
  }
  return written;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
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

/** Whether process `pid` exists (one we may not signal exists too). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What a store path holds when it is not a regular file, for the error that refuses it. */
function describeKind(info: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  return 'a device or other special file';
}

/**
 * Refuses, with `StoreCorruptError` naming it, a path that exists but is not a regular file (following symlinks):
 * reading a FIFO would hang, a directory or device is no store. Missing is fine.
 */
export async function assertRegularOrMissing(path: string): Promise<void> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (info && !info.isFile()) throw new StoreCorruptError(path, `it is ${describeKind(info)}, not a file`);
}

/**
 * The contents of `path`, or `undefined` if it does not exist. Opened non-blocking and checked on the open
 * handle, so a FIFO or device put there (even after an earlier check) is refused instead of hanging the read.
 */
export async function readRegularFile(path: string): Promise<Buffer | undefined>;
export async function readRegularFile(path: string, encoding: 'utf8'): Promise<string | undefined>;
export async function readRegularFile(path: string, encoding?: 'utf8'): Promise<Buffer | string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new StoreCorruptError(path, `it cannot be read (${code ?? (error as Error).message})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new StoreCorruptError(path, `it is ${describeKind(info)}, not a file`);
    return encoding === undefined ? await handle.readFile() : await handle.readFile(encoding);
  } finally {
    await handle.close();
  }
}

/** What a read learnt about the file besides its data. */
export interface ReadInfo {
  /** The deepest nesting of objects and arrays in the text (the document itself being level 1). */
  depth: number;
}

/**
 * The deepest nesting of objects and arrays in a JSON text, by one pass over its characters or its UTF-8 bytes
 * (the characters that matter are ASCII, and no byte of a multi-byte character nor any UTF-16 code unit of a
 * non-ASCII character is): far cheaper than walking every parsed value, so a reader can skip per-record depth
 * checks when the whole document is shallow. A string is scanned as it is, never encoded into a copy.
 */
export function jsonTextDepth(text: string | Uint8Array): number {
  const isString = typeof text === 'string';
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const code = isString ? text.charCodeAt(i) : (text[i] as number);
    if (inString) {
      if (code === 0x5c)
        i += 1; // a backslash escapes the next character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return deepest;
}
