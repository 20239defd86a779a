import { type FileHandle, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeValue } from '../domain/entity.js';
import { InvalidEntityError, StoreCorruptError } from '../domain/errors.js';
import type { RepositoryEntity } from '../domain/types.js';
import { readRegularFile, syncDirectory } from './durable-json-file.js';
import {
  assertStoredEntity,
  type CommitDelta,
  type PageDelta,
  validateCommitDelta,
  validatePageDelta,
} from './outbox-index.js';

/** One line of the journal: a change to one collection. */
export type JournalOp =
  | { op: 'put'; c: string; e: RepositoryEntity[] }
  | { op: 'del'; c: string; id: string }
  | { op: 'commit'; c: string; d: CommitDelta<RepositoryEntity> }
  | { op: 'requeue'; c: string; ids: string[] }
  /** A pulled page: its records, removals and the checkpoint, in one line (so in one durable append). */
  | { op: 'page'; c: string; d: PageDelta<RepositoryEntity> };

const FORMAT = 'actorsync-journal';
/** How every header line starts (`JSON.stringify` keeps key order): a torn header is a prefix of it and digits. */
const HEADER_START = `{"format":${JSON.stringify(FORMAT)},"generation":`;

export interface JournalContents {
  generation: number;
  ops: JournalOp[];
  /** Bytes of complete lines; anything after is a torn write from a crash. */
  goodBytes: number;
  tornBytes: number;
}

/**
 * An append-only JSON-lines file of changes since the last snapshot. Each append is fsynced before it resolves.
 * The first line names the snapshot generation it follows, so a journal left over from before a compaction is
 * recognised and dropped. Every complete line ends in a newline: a crash mid-append leaves a tail without one,
 * which was never acknowledged and is cut off on open.
 */
export class Journal {
  /** Where it is now: a compaction renames the journal it started over the one it made stale (`moveTo`). */
  file: string;
  readonly #fsync: boolean;
  #handle: FileHandle | undefined;
  bytes = 0;

  constructor(file: string, options: { fsync?: boolean } = {}) {
    this.file = file;
    this.#fsync = options.fsync ?? true;
  }

  /**
   * Reads the journal; `undefined` if there is none. Refuses a damaged line that is not the torn tail, and any
   * line that is not exactly an operation this store writes.
   */
  async read(): Promise<JournalContents | undefined> {
    const buffer = await readRegularFile(this.file);
    if (buffer === undefined) return undefined;
    const goodBytes = buffer.lastIndexOf(0x0a) + 1;
    if (goodBytes === 0) {
      // A crash while the header was written leaves a prefix of one (nothing was acknowledged after it yet);
      // anything else is not a journal this store wrote, and is refused rather than started over.
      if (!isTornHeader(buffer.toString('utf8'))) {
        throw new StoreCorruptError(this.file, 'its first line is not an actorsync journal header');
      }
      return { generation: -1, ops: [], goodBytes: 0, tornBytes: buffer.length };
    }
    // Decoded line by line: a journal may hold several times the snapshot after a pull, and one string of all of
    // it would double what the read holds in memory.
    let start = buffer.indexOf(0x0a) + 1;
    const header = this.#parse(buffer.toString('utf8', 0, start - 1), 1);
    if (
      header.format !== FORMAT ||
      typeof header.generation !== 'number' ||
      !Number.isSafeInteger(header.generation) ||
      header.generation < 0
    ) {
      throw new StoreCorruptError(this.file, 'its first line is not an actorsync journal header');
    }
    const ops: JournalOp[] = [];
    for (let lineNumber = 2; start < goodBytes; lineNumber += 1) {
      const end = buffer.indexOf(0x0a, start);
      const line = buffer.toString('utf8', start, end);
      start = end + 1;
      try {
        ops.push(parseOp(this.#parse(line, lineNumber)));
      } catch (error) {
        if (!(error instanceof InvalidEntityError)) throw error;
        throw new StoreCorruptError(
          this.file,
          `line ${lineNumber} is not a valid operation: ${error.message}`,
        );
      }
    }
    return { generation: header.generation, ops, goodBytes, tornBytes: buffer.length - goodBytes };
  }

  /**
   * Opens for appending, keeping the first `keepBytes` of `currentBytes` (0 starts a fresh journal for
   * `generation`). An intact journal is not written to: opening a store to look at it changes nothing.
   */
  async open(generation: number, keepBytes: number, currentBytes = keepBytes): Promise<void> {
    if (keepBytes > 0 && keepBytes < currentBytes) {
      // Cut off a torn last append (a crash mid-write); it was never acknowledged.
      const handle = await open(this.file, 'r+');
      try {
        await handle.truncate(keepBytes);
        if (this.#fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
    }
    this.#handle = await open(this.file, 'a');
    this.bytes = keepBytes;
    if (keepBytes === 0) await this.reset(generation);
  }

  /** Empties the journal and starts it again after snapshot `generation`. */
  async reset(generation: number): Promise<void> {
    const handle = this.#requireHandle();
    await handle.truncate(0);
    this.bytes = 0;
    await this.#write(`${JSON.stringify({ format: FORMAT, generation })}\n`);
  }

  /**
   * Renames the journal to `path`, replacing what is there, durably (the directory is synced); appends go on
   * through the same handle.
   */
  async moveTo(path: string): Promise<void> {
    await rename(this.file, path);
    this.file = path;
    if (this.#fsync) await syncDirectory(dirname(path));
  }

  async append(ops: readonly JournalOp[]): Promise<number> {
    let text = '';
    for (const op of ops) text += `${JSON.stringify(op)}\n`;
    return this.#write(text);
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }

  /** Appends `text` durably; returns its size in bytes. */
  async #write(text: string): Promise<number> {
    const handle = this.#requireHandle();
    // Encoded once: its length is the size, and the write takes it as it is.
    const bytes = Buffer.from(text, 'utf8');
    for (let offset = 0; offset < bytes.length; ) {
      offset += (await handle.write(bytes, offset)).bytesWritten;
    }
    if (this.#fsync) await handle.datasync();
    this.bytes += bytes.length;
    return bytes.length;
  }

  #requireHandle(): FileHandle {
    if (!this.#handle) throw new Error(`Journal ${this.file} is not open`);
    return this.#handle;
  }

  #parse(line: string, lineNumber: number): Record<string, unknown> {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error('not an object');
      return value as Record<string, unknown>;
    } catch (error) {
      throw new StoreCorruptError(this.file, `line ${lineNumber} is damaged (${(error as Error).message})`);
    }
  }
}

function isTornHeader(text: string): boolean {
  if (text.length <= HEADER_START.length) return HEADER_START.startsWith(text);
  return text.startsWith(HEADER_START) && /^\d*\}?$/.test(text.slice(HEADER_START.length));
}

/**
 * One journal line as the operation it must be, checked whole (collection name, every field, every entity and
 * failure record); throws `InvalidEntityError` saying what is wrong. Replay then cannot fail half-way.
 */
export function parseOp(line: Record<string, unknown>): JournalOp {
  const c = line.c;
  // Any string: earlier versions stored any collection name, and a name already written must stay readable.
  // New names are checked where they enter, in `LowdbLocalStore.collection`.
  if (typeof c !== 'string')
    throw new InvalidEntityError(`its collection name ${describeValue(c)} is not a string`);
  switch (line.op) {
    case 'put': {
      const entities = line.e;
      if (!Array.isArray(entities)) throw new InvalidEntityError('put needs an array of entities');
      entities.forEach((entity, i) => {
        assertStoredEntity(entity, `entity ${i}`);
      });
      return { op: 'put', c, e: entities as RepositoryEntity[] };
    }
    case 'del':
      if (typeof line.id !== 'string') throw new InvalidEntityError('del needs a string id');
      return { op: 'del', c, id: line.id };
    case 'commit':
      return { op: 'commit', c, d: validateCommitDelta(line.d) };
    case 'page':
      return { op: 'page', c, d: validatePageDelta(line.d) };
    case 'requeue': {
      const ids = line.ids;
      if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string')) {
        throw new InvalidEntityError('requeue needs an array of string ids');
      }
      return { op: 'requeue', c, ids: ids as string[] };
    }
    default:
      throw new InvalidEntityError(`unknown operation ${describeValue(line.op)}`);
  }
}
