import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { InspectionEvent } from 'xstate';
import { ActorSyncError, errorMessage } from '../domain/errors.js';
import type { SyncLogger } from '../domain/types.js';
import { createRecordSanitizers, type InspectorRecord, toRecord } from './inspector-model.js';
import type { SanitizeOptions } from './sanitize.js';

const FORMAT = 'actorsync-trace';

export interface TraceHeader {
  format: typeof FORMAT;
  version: 1;
  startedAt: number;
}

export interface Trace {
  header: TraceHeader;
  records: InspectorRecord[];
}

export class TraceFormatError extends ActorSyncError {
  constructor(file: string, reason: string) {
    super('TRACE_FORMAT', `Cannot read trace ${file}: ${reason}`);
  }
}

/** A trace file that cannot be created or opened for writing (a missing directory, no permission). */
export class TraceFileError extends ActorSyncError {
  readonly file: string;
  constructor(file: string, reason: string, options?: ErrorOptions) {
    super('TRACE_FILE', `Cannot write trace ${file}: ${reason}`, options);
    this.file = file;
  }
}

export interface TraceInspectorOptions {
  file: string;
  sanitize?: SanitizeOptions;
  /** Where a write error is reported (the trace then stops; the app goes on). Default `console`. */
  logger?: SyncLogger;
}

export interface TraceInspector {
  readonly file: string;
  /** Pass to `createActor` (or `SyncCoordinator`'s `inspect` option). */
  readonly inspect: (event: InspectionEvent) => void;
  /** Records written so far. */
  readonly count: number;
  /** The write error that stopped the trace, if one did (it was reported to the logger). */
  readonly error: Error | undefined;
  /** Flushes and closes the file. Resolves even after a write error, which the logger has already had. */
  close(): Promise<void>;
}

function openReason(error: unknown): string {
  switch ((error as NodeJS.ErrnoException | null)?.code) {
    case 'ENOENT':
      return 'its directory does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return errorMessage(error);
  }
}

/**
 * Writes the inspection stream as JSON lines (a header, then one sanitised record per line) for headless
 * debugging; `actorsync inspect --trace FILE` replays it in the local inspector. The file is opened before this
 * returns, so a path that cannot be written throws a `TraceFileError` here; a write that fails later (a full
 * disk) goes to `logger` and ends the trace, never the process.
 */
export function createTraceInspector(options: TraceInspectorOptions): TraceInspector {
  const sanitize = createRecordSanitizers(options.sanitize);
  const logger = options.logger ?? console;
  let fd: number;
  try {
    fd = openSync(options.file, 'w');
  } catch (error) {
    throw new TraceFileError(options.file, openReason(error), { cause: error });
  }
  const stream: WriteStream = createWriteStream(options.file, { fd });
  let failure: Error | undefined;
  stream.on('error', (error) => {
    if (failure) return;
    failure = error;
    logger.error(`Trace ${options.file} stopped: a write failed`, { error: errorMessage(error) });
  });
  const header: TraceHeader = { format: FORMAT, version: 1, startedAt: Date.now() };
  stream.write(`${JSON.stringify(header)}\n`);
  let count = 0;
  let closed = false;
  return {
    file: options.file,
    get count() {
      return count;
    },
    get error() {
      return failure;
    },
    inspect: (event) => {
      if (closed || failure) return;
      const record = toRecord(event, sanitize, Date.now());
      if (!record) return;
      stream.write(`${JSON.stringify(record)}\n`);
      count += 1;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        if (failure) {
          stream.destroy();
          return resolve();
        }
        // A failure while flushing reaches the 'error' listener (and so the logger).
        stream.end(() => resolve());
      }),
  };
}

export async function readTrace(file: string): Promise<Trace> {
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n').filter((line) => line.length > 0);
  const parse = (line: string, index: number): unknown => {
    try {
      return JSON.parse(line);
    } catch {
      throw new TraceFormatError(file, `line ${index + 1} is not JSON`);
    }
  };
  const header = parse(lines[0] ?? '', 0) as Partial<TraceHeader> | null;
  if (header?.format !== FORMAT || header.version !== 1 || typeof header.startedAt !== 'number') {
    throw new TraceFormatError(file, 'it does not start with an actorsync trace header');
  }
  const records = lines.slice(1).map((line, index) => {
    const record = parse(line, index + 1) as Partial<InspectorRecord> | null;
    if (
      !record ||
      !['actor', 'snapshot', 'event'].includes(String(record.kind)) ||
      typeof record.at !== 'number'
    ) {
      throw new TraceFormatError(file, `line ${index + 2} is not an inspector record`);
    }
    return record as InspectorRecord;
  });
  return { header: header as TraceHeader, records };
}
