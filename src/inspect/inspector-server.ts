import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnyStateMachine, InspectionEvent } from 'xstate';
import { batchPushMachine } from '../../machines/batch-push.machine.js';
import { coordinatorMachine } from '../../machines/coordinator.machine.js';
import type { CoordinatorCommand } from '../../machines/coordinator.types.js';
import { entitySyncMachine } from '../../machines/entity-sync.machine.js';
import { clampDelay } from '../core/timers.js';
import { InvalidOptionsError } from '../domain/errors.js';
import {
  answerPreflight,
  corsHeaders,
  emptyIngestStats,
  type IngestOptions,
  type IngestStats,
  ingestBatch,
  ingestedRecord,
  normalizeOrigin,
  readCappedBody,
} from './ingest.js';
import { INGEST_PATH, INGEST_TOKEN_HEADER } from './ingest-wire.js';
import { ActorTree, createRecordSanitizers, type InspectorRecord, toRecord } from './inspector-model.js';
import { machineGraph } from './machine-graph.js';
import { createSanitizer, type SanitizeOptions } from './sanitize.js';
import type { Trace } from './trace.js';

export interface LocalInspectorOptions {
  /** Default 127.0.0.1; another address needs `allowRemote`. */
  host?: string;
  port?: number;
  allowRemote?: boolean;
  /** The per-run token the page URL carries. Default: a random one. */
  token?: string;
  /** What else to keep from the page (the sync server's token, say). */
  sanitize?: SanitizeOptions;
  /** Event log entries kept for pages that open late. Default 500. */
  logLimit?: number;
  /** Machines whose charts the page draws. Default actorsync's three. */
  machines?: readonly AnyStateMachine[];
  /**
   * Also take records from web apps (`createRemoteInspector` from `actorsync/inspect/browser`) on `/api/ingest`,
   * with a token of their own. `actorsync inspect --listen` sets this.
   */
  ingest?: IngestOptions;
}

/** What a web app needs to stream to this inspector: pass both to `createRemoteInspector`. */
export interface InspectorIngest {
  readonly url: string;
  /** Opens the ingest endpoint only: a page that leaks it cannot read the stream or drive the controls. */
  readonly token: string;
  /** The page origins allowed to send. */
  readonly allowOrigins: readonly string[];
  stats(): IngestStats;
}

/** Something the page's controls can drive: a `SyncCoordinator` or its root actor. */
export interface InspectorControlTarget {
  send(command: CoordinatorCommand): void;
}

export interface LocalInspector {
  /** The page, with the token: print it for the user, never log it elsewhere. */
  readonly url: string;
  readonly origin: string;
  /** Pass to `createActor` / the `inspect` option before the actors start. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Lets the page send SYNC, SYNC_ALL and CANCEL. */
  attach(target: InspectorControlTarget): void;
  /** Switches to replaying a trace with a time slider. */
  loadTrace(trace: Trace): void;
  /** Resolves true once a page is connected (or already is), false after `timeoutMs`. */
  waitForPage(timeoutMs: number): Promise<boolean>;
  /** The live actor tree as the page sees it. */
  tree(): ReturnType<ActorTree['nodes']>;
  /** Set when the inspector takes records from web apps (the `ingest` option). */
  readonly ingest: InspectorIngest | undefined;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};
const CONTROL_TYPES = new Set(['SYNC', 'SYNC_ALL', 'CANCEL']);
/** Looser than any page's own cut (20 items, 500 characters, depth 6 by default), so a second pass changes nothing. */
const INGEST_BOUNDS = { maxDepth: 8, maxArrayItems: 50, maxStringLength: 2_000 } as const;

function asset(file: string): string {
  return readFileSync(new URL(`./page/${file}`, import.meta.url), 'utf8');
}

/**
 * actorsync's own inspector: a small web app on loopback, fed by the XState inspection stream over server-sent
 * events. Shows the live actor tree, each machine's chart with its current state, progress and the event log, and
 * sends SYNC / SYNC_ALL / CANCEL to an attached coordinator. Every request needs the per-run token; requests from
 * other origins or hosts are refused; context and events are sanitised before they leave the process.
 */
export async function createInspector(options: LocalInspectorOptions = {}): Promise<LocalInspector> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.allowRemote) {
    throw new InvalidOptionsError(
      `Refusing to bind ${host}: the inspector binds loopback unless allowRemote is set`,
    );
  }
  const token = options.token ?? randomBytes(18).toString('base64url');
  const tokenDigest = createHash('sha256').update(token).digest();
  const ingestToken = options.ingest ? (options.ingest.token ?? randomBytes(18).toString('base64url')) : '';
  if (options.ingest && ingestToken.length < 16) {
    throw new InvalidOptionsError('The ingest token must have at least 16 characters');
  }
  if (options.ingest && ingestToken === token) {
    throw new InvalidOptionsError(
      "The ingest token must differ from the page's token, which opens the controls",
    );
  }
  const ingestDigest = createHash('sha256').update(ingestToken).digest();
  const allowOrigins = (options.ingest?.allowOrigins ?? []).map((allowed) => {
    try {
      return normalizeOrigin(allowed);
    } catch (error) {
      throw new InvalidOptionsError((error as Error).message);
    }
  });
  const ingestStats = emptyIngestStats();
  const maxIngestBytes = options.ingest?.maxBodyBytes ?? 1024 * 1024;
  const maxActors = options.ingest?.maxActors ?? 5_000;
  const sanitize = createRecordSanitizers({
    ...options.sanitize,
    secretValues: [
      ...(options.sanitize?.secretValues ?? []),
      token,
      ...(options.ingest ? [ingestToken] : []),
    ],
  });
  // A page's records were cut to size in the page: here they are checked for secrets again (a sender may be
  // misconfigured), under bounds loose enough to leave what the page cut as it is, and tight enough to bound memory.
  const ingestSanitizer = createSanitizer({
    secretKeys: options.sanitize?.secretKeys,
    secretValues: [...(options.sanitize?.secretValues ?? []), token, ingestToken],
    ...INGEST_BOUNDS,
  });
  const ingestSanitizers = { context: ingestSanitizer, payload: ingestSanitizer };
  const logLimit = options.logLimit ?? 500;
  const machines = (options.machines ?? [coordinatorMachine, entitySyncMachine, batchPushMachine]).map(
    machineGraph,
  );
  const tree = new ActorTree();
  const log: InspectorRecord[] = [];
  const clients = new Set<ServerResponse>();
  let target: InspectorControlTarget | undefined;
  let trace: Trace | undefined;
  let treeTimer: NodeJS.Timeout | undefined;
  /** Callers of `waitForPage`: told true when a page connects, false when the inspector closes first. */
  const pageWaiters: ((connected: boolean) => void)[] = [];

  const send = (client: ServerResponse, event: string, data: unknown) => {
    client.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const broadcast = (event: string, data: unknown) => {
    for (const client of clients) send(client, event, data);
  };
  // Snapshots come in bursts; the page needs the tree at most every 50 ms.
  const scheduleTree = () => {
    treeTimer ??= setTimeout(() => {
      treeTimer = undefined;
      broadcast('tree', tree.nodes());
    }, 50);
  };

  const accept = (record: InspectorRecord) => {
    tree.apply(record);
    if (record.kind === 'event') {
      log.push(record);
      if (log.length > logLimit) log.splice(0, log.length - logLimit);
      broadcast('log', record);
    } else {
      scheduleTree();
    }
  };

  const inspect = (event: InspectionEvent) => {
    if (trace) return;
    const record = toRecord(event, sanitize, Date.now());
    if (record) accept(record);
  };

  /** A page's actors leave the tree: it closed, or it sends its whole tree again. */
  const removeSource = (source: string) => {
    const prefix = `${source}/`;
    for (const node of tree.nodes()) {
      if (!node.sessionId.startsWith(prefix) || node.parent?.startsWith(prefix)) continue;
      // Its root actors stop; their children go with them.
      tree.apply({
        kind: 'snapshot',
        at: Date.now(),
        sessionId: node.sessionId,
        status: 'stopped',
        value: undefined,
        context: undefined,
        event: 'actorsync.inspector.closed',
        systemId: undefined,
        children: undefined,
      });
    }
    scheduleTree();
  };

  /** Takes a page's records; each that is not an inspector record is counted and skipped. */
  const acceptFromPage = (source: string, records: readonly unknown[]) => {
    let accepted = 0;
    let malformed = 0;
    for (const raw of records) {
      const record = ingestedRecord(raw, source, ingestSanitizers);
      if (!record) {
        malformed += 1;
        continue;
      }
      if (record.kind === 'actor' && tree.size >= maxActors && !tree.get(record.sessionId)) {
        ingestStats.overflowRecords += 1;
        continue;
      }
      accept(record);
      accepted += 1;
    }
    ingestStats.acceptedRecords += accepted;
    ingestStats.malformedRecords += malformed;
    return { accepted, malformed };
  };

  const replayState = (index: number) => {
    const records = trace?.records ?? [];
    const replayTree = new ActorTree();
    const replayLog: InspectorRecord[] = [];
    for (const record of records.slice(0, index + 1)) {
      replayTree.apply(record);
      if (record.kind === 'event') replayLog.push(record);
    }
    return { index, at: records[index]?.at, tree: replayTree.nodes(), log: replayLog.slice(-logLimit) };
  };

  let origin = '';
  const allowedHosts = new Set<string>();
  const matches = (presented: string | string[] | null | undefined, digest: Buffer) =>
    typeof presented === 'string' && timingSafeEqual(createHash('sha256').update(presented).digest(), digest);
  const authorized = (presented: string | null | undefined) => matches(presented, tokenDigest);

  /** `/api/ingest`: a web app's records. Its own token, its own origin rule (the allowed pages), nothing else. */
  const handleIngest = async (request: IncomingMessage, response: ServerResponse) => {
    const requestOrigin = request.headers.origin;
    if (requestOrigin !== undefined && requestOrigin !== origin && !allowOrigins.includes(requestOrigin)) {
      ingestStats.refused.origin += 1;
      try {
        options.ingest?.onOriginRefused?.(requestOrigin);
      } catch {
        // A listener's failure is not the page's answer.
      }
      return text(
        response,
        403,
        `Origin ${requestOrigin} is not allowed: start the inspector with --allow-origin`,
      );
    }
    if (request.method === 'OPTIONS') return answerPreflight(request, response, requestOrigin ?? origin);
    // Every answer names the page's origin, so its sender can read a 401 or a 413 instead of a CORS error.
    for (const [name, value] of Object.entries(corsHeaders(requestOrigin, origin)))
      response.setHeader(name, value);
    if (request.method !== 'POST') return text(response, 405, 'POST records here');
    if (!matches(request.headers[INGEST_TOKEN_HEADER], ingestDigest)) {
      ingestStats.refused.unauthorized += 1;
      return text(response, 401, 'Send the ingest token `actorsync inspect --listen` printed');
    }
    if (request.headers['content-type']?.split(';')[0] !== 'application/json') {
      ingestStats.refused.badRequest += 1;
      return json(response, 415, { error: 'Send JSON' });
    }
    const body = await readCappedBody(request, maxIngestBytes);
    if (body === 'too-large') {
      ingestStats.refused.tooLarge += 1;
      response.setHeader('connection', 'close');
      return json(response, 413, { error: `Bodies are at most ${maxIngestBytes} bytes` });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const batch = ingestBatch(parsed);
    if (!batch) {
      ingestStats.refused.badRequest += 1;
      return json(response, 400, { error: 'Not an ingest batch' });
    }
    // Replaying a trace: the past is not mixed with live records (the sender drops this batch and goes on).
    if (trace) return json(response, 409, { error: 'The inspector is replaying a trace' });
    const taken = acceptFromPage(batch.source, batch.records);
    if (batch.reset) {
      removeSource(batch.source);
      const reset = acceptFromPage(batch.source, batch.reset);
      taken.accepted += reset.accepted;
      taken.malformed += reset.malformed;
    }
    if (batch.closed) removeSource(batch.source);
    ingestStats.batches += 1;
    return json(response, 200, taken);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', origin);
    response.setHeader('x-content-type-options', 'nosniff');
    response.setHeader('referrer-policy', 'no-referrer');
    // DNS rebinding and cross-site requests: only our own host and origin are served.
    if (!allowedHosts.has(request.headers.host ?? '')) return text(response, 403, 'Unknown host');
    if (options.ingest && url.pathname === INGEST_PATH) return handleIngest(request, response);
    const requestOrigin = request.headers.origin;
    if (requestOrigin !== undefined && requestOrigin !== origin)
      return text(response, 403, 'Cross-origin request refused');
    if (request.headers['sec-fetch-site'] === 'cross-site')
      return text(response, 403, 'Cross-site request refused');

    // Browsers ask for it unprompted; without this they log a 401 for every page load.
    if (request.method === 'GET' && url.pathname === '/favicon.ico') {
      response.writeHead(204, { 'cache-control': 'max-age=86400' });
      return response.end();
    }
    const assetFile = ASSETS[url.pathname];
    if (request.method === 'GET' && assetFile) {
      response.writeHead(200, { 'content-type': assetFile.type, 'cache-control': 'no-store' });
      return response.end(asset(assetFile.file));
    }
    const presented = request.headers['x-inspector-token'] ?? url.searchParams.get('token');
    if (!authorized(Array.isArray(presented) ? presented[0] : presented)) {
      return text(
        response,
        401,
        'Open the inspector with the URL printed in the terminal (it carries the token).',
      );
    }
    if (request.method === 'GET' && url.pathname === '/') {
      response.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        'x-frame-options': 'DENY',
      });
      return response.end(asset('index.html'));
    }
    if (request.method === 'GET' && url.pathname === '/api/stream') {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      clients.add(response);
      request.on('close', () => clients.delete(response));
      for (const notify of pageWaiters.splice(0)) notify(true);
      // A page that opens late still sees the whole tree and the recent log.
      return send(response, 'init', {
        mode: trace ? 'replay' : 'live',
        controls: target !== undefined,
        ingest: options.ingest !== undefined,
        machines,
        tree: tree.nodes(),
        log,
        trace: trace ? { count: trace.records.length, startedAt: trace.header.startedAt } : undefined,
      });
    }
    if (request.method === 'GET' && url.pathname === '/api/trace/state') {
      if (!trace) return json(response, 409, { error: 'No trace loaded' });
      const index = Math.max(
        0,
        Math.min(trace.records.length - 1, Number(url.searchParams.get('at') ?? 0) || 0),
      );
      return json(response, 200, replayState(index));
    }
    if (request.method === 'POST' && url.pathname === '/api/control') {
      if (request.headers['content-type']?.split(';')[0] !== 'application/json') {
        return json(response, 415, { error: 'Send JSON' });
      }
      const body = await readJson(request, 4096);
      const command = body as Partial<{ type: string; entityType: string }> | undefined;
      if (!command || !CONTROL_TYPES.has(String(command.type)))
        return json(response, 400, { error: 'Unknown command' });
      if (command.type !== 'SYNC_ALL' && typeof command.entityType !== 'string') {
        return json(response, 400, { error: 'entityType is required' });
      }
      if (!target) return json(response, 409, { error: 'No coordinator is attached' });
      try {
        target.send(
          command.type === 'SYNC_ALL'
            ? { type: 'SYNC_ALL' }
            : { type: command.type as 'SYNC' | 'CANCEL', entityType: command.entityType as string },
        );
      } catch (error) {
        return json(response, 409, { error: (error as Error).message });
      }
      return json(response, 202, { accepted: command.type });
    }
    return text(response, 404, 'Not found');
  };

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) text(response, 400, 'Bad request');
      else response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port, address, family } = server.address() as AddressInfo;
  const urlHost = family === 'IPv6' ? `[${address}]` : address;
  origin = `http://${urlHost}:${port}`;
  allowedHosts.add(`${urlHost}:${port}`);
  if (LOOPBACK.has(address)) allowedHosts.add(`localhost:${port}`);

  return {
    url: `${origin}/?token=${encodeURIComponent(token)}`,
    origin,
    inspect,
    attach: (next) => {
      target = next;
      broadcast('controls', true);
    },
    loadTrace: (loaded) => {
      trace = loaded;
      broadcast('reload', {});
    },
    tree: () => tree.nodes(),
    ingest: options.ingest
      ? {
          url: `${origin}${INGEST_PATH}`,
          token: ingestToken,
          allowOrigins,
          stats: () => structuredClone(ingestStats),
        }
      : undefined,
    waitForPage: (timeoutMs) =>
      clients.size > 0
        ? Promise.resolve(true)
        : new Promise<boolean>((resolve) => {
            // Clamped: Node would give up on a timeout above 2^31-1 ms after 1 ms. Unref'd: a long wait must not
            // keep the process alive once the inspector is closed.
            const timer = setTimeout(() => resolve(false), clampDelay(timeoutMs));
            timer.unref();
            pageWaiters.push((connected) => {
              clearTimeout(timer);
              resolve(connected);
            });
          }),
    close: async () => {
      if (treeTimer) clearTimeout(treeTimer);
      for (const notify of pageWaiters.splice(0)) notify(false);
      for (const client of clients) client.end();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function text(response: ServerResponse, status: number, body: string): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  response.end(body);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function readJson(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new Error('too large'));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error);
      }
    });
    request.on('error', reject);
  });
}
