import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { InspectionEvent } from 'xstate';
import { ActorSyncError } from '../domain/errors.js';
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

export interface TraceInspector {
  readonly file: string;
  /** Pass to `createActor` (or `SyncCoordinator`'s `inspect` option). */
  readonly inspect: (event: InspectionEvent) => void;
  /** Records written so far. */
  readonly count: number;
  /** Flushes and closes the file. */
  close(): Promise<void>;
}

/**
 * Writes the inspection stream as JSON lines (a header, then one sanitised record per line) for headless
 * debugging; `actorsync inspect --trace FILE` replays it in the local inspector.
 */
export function createTraceInspector(options: { file: string; sanitize?: SanitizeOptions }): TraceInspector {
  const sanitize = createRecordSanitizers(options.sanitize);
  const stream: WriteStream = createWriteStream(options.file, { flags: 'w' });
  const header: TraceHeader = { format: FORMAT, version: 1, startedAt: Date.now() };
  stream.write(`${JSON.stringify(header)}\n`);
  let count = 0;
  let closed = false;
  return {
    file: options.file,
    get count() {
      return count;
    },
    inspect: (event) => {
      if (closed) return;
      const record = toRecord(event, sanitize, Date.now());
      if (!record) return;
      stream.write(`${JSON.stringify(record)}\n`);
      count += 1;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (closed) return resolve();
        closed = true;
        stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
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
