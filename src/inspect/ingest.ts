import type { IncomingMessage, ServerResponse } from 'node:http';
import { INGEST_TOKEN_HEADER, type IngestBatch, SOURCE_PATTERN } from './ingest-wire.js';
import type { InspectorRecord, RecordSanitizers } from './inspector-model.js';

// The local inspector's ingest endpoint (Node only): browser pages POST the records `createRemoteInspector` makes.

export interface IngestOptions {
  /**
   * Origins of the pages allowed to send (`http://localhost:5173`, say). Default none: a page from another origin
   * is refused (403); clients that send no `Origin` (not browsers) need only the token.
   */
  allowOrigins?: readonly string[];
  /** The ingest token. Default: a random one, different from the page's token. At least 16 characters. */
  token?: string;
  /** Larger bodies are refused (413). Default 1 MiB. */
  maxBodyBytes?: number;
  /** Live actors kept from all pages together; an `actor` record beyond this is dropped and counted. Default 5,000. */
  maxActors?: number;
  /**
   * Told of each request from a page whose origin is not allowed: the page itself only sees a CORS failure, so
   * this is where a developer learns which `--allow-origin` to add (the CLI prints it).
   */
  onOriginRefused?: (origin: string) => void;
}

export interface IngestStats {
  /** POSTs whose records were taken. */
  batches: number;
  acceptedRecords: number;
  /** Records that were not inspector records (counted and skipped; the rest of their batch is taken). */
  malformedRecords: number;
  /** `actor` records dropped because `maxActors` actors were live. */
  overflowRecords: number;
  /** Requests refused, by reason. */
  refused: { unauthorized: number; origin: number; tooLarge: number; badRequest: number };
}

export function emptyIngestStats(): IngestStats {
  return {
    batches: 0,
    acceptedRecords: 0,
    malformedRecords: 0,
    overflowRecords: 0,
    refused: { unauthorized: 0, origin: 0, tooLarge: 0, badRequest: 0 },
  };
}

/** `http://localhost:5173/` → `http://localhost:5173`; anything but an http(s) origin is refused. */
export function normalizeOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${value} is not an origin (expected e.g. http://localhost:5173)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${value} is not an http(s) origin`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    throw new Error(
      `${value} is not an origin: give scheme, host and port only (e.g. http://localhost:5173)`,
    );
  }
  return url.origin;
}

const MAX_ID = 200;
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isId = (value: unknown): value is string => typeof value === 'string' && value.length <= MAX_ID;
const isOptionalId = (value: unknown): value is string | undefined => value === undefined || isId(value);

/**
 * A record from a page, checked field by field, sanitised again (a page may be misconfigured), and with every
 * session id put under `source` (two tabs, or a page and its reload, both have an actor `x:0`). `undefined` when
 * it is not an inspector record.
 */
export function ingestedRecord(
  raw: unknown,
  source: string,
  sanitize: RecordSanitizers,
): InspectorRecord | undefined {
  if (!isObject(raw) || typeof raw.at !== 'number' || !Number.isFinite(raw.at) || !isId(raw.sessionId)) {
    return undefined;
  }
  const under = (sessionId: string) => `${source}/${sessionId}`;
  const text = (value: string) => sanitize.context(value) as string;
  const sessionId = under(raw.sessionId);
  switch (raw.kind) {
    case 'actor': {
      const { id, systemId, parent, machine } = raw;
      if (!isId(id) || !isOptionalId(systemId) || !isOptionalId(parent) || !isOptionalId(machine))
        return undefined;
      return {
        kind: 'actor',
        at: raw.at,
        sessionId,
        id: text(id),
        systemId: systemId === undefined ? undefined : text(systemId),
        parent: parent === undefined ? undefined : under(parent),
        machine,
      };
    }
    case 'snapshot': {
      const { status, event, systemId, children } = raw;
      if (!isId(status) || !isId(event) || !isOptionalId(systemId)) return undefined;
      if (children !== undefined && !(Array.isArray(children) && children.every(isId))) return undefined;
      return {
        kind: 'snapshot',
        at: raw.at,
        sessionId,
        status,
        value: sanitize.context(raw.value),
        context: sanitize.context(raw.context),
        event: text(event),
        systemId: systemId === undefined ? undefined : text(systemId),
        children: children?.map(under),
      };
    }
    case 'event': {
      const { source: sender, type } = raw;
      if (!isOptionalId(sender) || !isId(type)) return undefined;
      return {
        kind: 'event',
        at: raw.at,
        sessionId,
        source: sender === undefined ? undefined : under(sender),
        type: text(type),
        payload: sanitize.payload(raw.payload),
      };
    }
    default:
      return undefined;
  }
}

/** A batch's envelope, or `undefined` when it is not one. Its records are checked one by one later. */
export function ingestBatch(body: unknown):
  | (Omit<IngestBatch, 'records' | 'reset'> & {
      records: unknown[];
      reset: unknown[] | undefined;
    })
  | undefined {
  if (!isObject(body) || typeof body.source !== 'string' || !SOURCE_PATTERN.test(body.source))
    return undefined;
  if (!Array.isArray(body.records)) return undefined;
  if (body.reset !== undefined && !Array.isArray(body.reset)) return undefined;
  if (body.closed !== undefined && typeof body.closed !== 'boolean') return undefined;
  return { source: body.source, records: body.records, reset: body.reset, closed: body.closed === true };
}

/** CORS headers for an allowed page of another origin (none for our own origin or a client without one). */
export function corsHeaders(origin: string | undefined, own: string): Record<string, string> {
  if (origin === undefined || origin === own) return {};
  return { 'access-control-allow-origin': origin, vary: 'origin' };
}

/** The preflight a browser sends before a cross-origin POST with the token header. */
export function answerPreflight(request: IncomingMessage, response: ServerResponse, origin: string): void {
  const headers: Record<string, string> = {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'POST',
    'access-control-allow-headers': `content-type, ${INGEST_TOKEN_HEADER}`,
    'access-control-max-age': '600',
    vary: 'origin',
  };
  // Chromium's Private Network Access: a page may ask before it talks to a loopback address.
  if (request.headers['access-control-request-private-network'] === 'true') {
    headers['access-control-allow-private-network'] = 'true';
  }
  response.writeHead(204, headers);
  response.end();
}

/**
 * Reads a body of at most `maxBytes`, or `'too-large'` as soon as it is known to be larger (the rest is read and
 * discarded, so the client gets the 413 instead of a reset connection).
 */
export function readCappedBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      request.resume();
      return resolve('too-large');
    }
    let size = 0;
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.off('data', onData);
        request.resume();
        resolve('too-large');
      } else chunks.push(chunk);
    };
    request.on('data', onData);
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}
