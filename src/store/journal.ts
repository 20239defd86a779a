import { type FileHandle, open, readFile } from 'node:fs/promises';
import { StoreCorruptError } from '../domain/errors.js';
import type { RepositoryEntity } from '../domain/types.js';
import type { CommitDelta } from './outbox-index.js';

/** One line of the journal: a change to one collection. */
export type JournalOp =
  | { op: 'put'; c: string; e: RepositoryEntity[] }
  | { op: 'del'; c: string; id: string }
  | { op: 'commit'; c: string; d: CommitDelta<RepositoryEntity> }
  | { op: 'requeue'; c: string; ids: string[] };

const FORMAT = 'actorsync-journal';

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
  readonly file: string;
  readonly #fsync: boolean;
  #handle: FileHandle | undefined;
  bytes = 0;

  constructor(file: string, options: { fsync?: boolean } = {}) {
    this.file = file;
    this.#fsync = options.fsync ?? true;
  }

  /** Reads the journal; `undefined` if there is none. Refuses a damaged line that is not the torn tail. */
  async read(): Promise<JournalContents | undefined> {
    let buffer: Buffer;
    try {
      buffer = await readFile(this.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const goodBytes = buffer.lastIndexOf(0x0a) + 1;
    const lines = buffer.subarray(0, goodBytes).toString('utf8').split('\n');
    lines.pop();
    if (lines.length === 0) return { generation: -1, ops: [], goodBytes: 0, tornBytes: buffer.length };
    const header = this.#parse(lines[0] as string, 1) as { format?: unknown; generation?: unknown };
    if (header.format !== FORMAT || typeof header.generation !== 'number') {
      throw new StoreCorruptError(this.file, 'its first line is not an actorsync journal header');
    }
    const ops = lines.slice(1).map((line, index) => this.#parse(line, index + 2) as JournalOp);
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

  async append(ops: readonly JournalOp[]): Promise<number> {
    const text = ops.map((op) => `${JSON.stringify(op)}\n`).join('');
    await this.#write(text);
    return Buffer.byteLength(text);
  }

  async close(): Promise<void> {
    await this.#handle?.close();
    this.#handle = undefined;
  }

  async #write(text: string): Promise<void> {
    const handle = this.#requireHandle();
    await handle.write(text);
    if (this.#fsync) await handle.datasync();
    this.bytes += Buffer.byteLength(text);
  }

  #requireHandle(): FileHandle {
    if (!this.#handle) throw new Error(`Journal ${this.file} is not open`);
    return this.#handle;
  }

  #parse(line: string, lineNumber: number): unknown {
    try {
      const value: unknown = JSON.parse(line);
      if (typeof value !== 'object' || value === null) throw new Error('not an object');
      return value;
    } catch (error) {
      throw new StoreCorruptError(this.file, `line ${lineNumber} is damaged (${(error as Error).message})`);
    }
  }
}
