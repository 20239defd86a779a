import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { InvalidOptionsError } from '../domain/errors.js';
import { MemoryServerStore } from './memory-server-store.js';
import { DEFAULT_TOMBSTONE_RETENTION_MS, type SyncServerState } from './server-state.js';
import type { ServerStore } from './server-store.js';
import {
  createSyncHandler,
  type SyncHandler,
  type SyncHandlerOptions,
  type SyncHandlerStats,
  textOf,
} from './sync-handler.js';

export interface SyncServerOptions<Store extends ServerStore = MemoryServerStore>
  extends Omit<SyncHandlerOptions, 'store'> {
  /** Default 127.0.0.1. Any other address needs `allowRemote`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Bind an address other than loopback. Default false. */
  allowRemote?: boolean;
  /**
   * Where records live. Default: a `MemoryServerStore` the server opens (with `file`, `tombstoneRetentionMs` and
   * `now`) and closes with itself. A store given here is the caller's to close.
   */
  store?: Store;
  /** Memory store only: persist to this JSON file (rewritten durably before each applied batch). */
  file?: string;
  /** Memory store only: how long a pushed delete (a tombstone) is served by the change feed, in ms. Default 7 days. */
  tombstoneRetentionMs?: number;
  /** Memory store only: the clock tombstones are dated and expired by (tests). Default `Date.now`. */
  now?: () => number;
}

export type SyncServerStats = SyncHandlerStats;

export interface SyncServer<Store extends ServerStore = MemoryServerStore> {
  /** e.g. `http://127.0.0.1:40123` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The default principal's bearer token (given or generated); `''` when `authenticate` replaces tokens. */
  readonly token: string;
  readonly store: Store;
  /** The memory store's state, for tests, tools and the demo (only when the store is a `MemoryServerStore`). */
  readonly state: Store extends MemoryServerStore ? SyncServerState : undefined;
  readonly handler: SyncHandler;
  readonly faults: SyncHandler['faults'];
  /** The fault plan of `GET /v1/changes` requests (`pullFaults`); `queue()` steers it. */
  readonly pullFaults: SyncHandler['pullFaults'];
  stats(): SyncServerStats;
  /** Stops listening, finishes the batches being applied, answers held long-polls, then drops every connection. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** The host of the URL a request is given to the handler with: it routes by path only. */
const LOOPBACK_NAME = 'localhost';

/**
 * The sync server on `node:http`: `createSyncHandler` behind a listening socket. Binds loopback unless told
 * otherwise. Without a `store`, the reference server of the sync protocol in memory (or one JSON file): for
 * development, tests and the demo; with a `PostgresServerStore`, any number of these processes share one database.
 */
export async function createSyncServer<Store extends ServerStore = MemoryServerStore>(
  options: SyncServerOptions<Store> = {},
): Promise<SyncServer<Store>> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.has(host) && !options.allowRemote) {
    throw new InvalidOptionsError(
      `Refusing to bind ${host}: the sync server binds loopback unless allowRemote is set`,
    );
  }
  const port = options.port ?? 0;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) {
    throw new InvalidOptionsError(`port must be a whole number from 0 to 65535, got ${port}`);
  }
  const {
    host: _host,
    port: _port,
    allowRemote: _allowRemote,
    store: given,
    file,
    tombstoneRetentionMs,
    now,
    ...handlerOptions
  } = options;
  if (given && (file !== undefined || tombstoneRetentionMs !== undefined || now !== undefined)) {
    throw new InvalidOptionsError(
      'file, tombstoneRetentionMs and now configure the memory store: give them to the store',
    );
  }
  const retention = tombstoneRetentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS;
  if (!(retention >= 0)) {
    throw new InvalidOptionsError(`tombstoneRetentionMs must be at least 0, got ${retention}`);
  }
  // The handler checks its options before a store is opened (a file written) or a port bound.
  const owned = given
    ? undefined
    : await MemoryServerStore.open({
        tombstoneRetentionMs: retention,
        ...(file ? { file } : {}),
        ...(now ? { now } : {}),
      });
  const store = (given ?? owned) as Store;
  let handler: SyncHandler;
  try {
    handler = createSyncHandler({ ...handlerOptions, store });
  } catch (error) {
    await owned?.close();
    throw error;
  }
  const sockets = new Set<Socket>();
  /** Requests being answered: close() lets those whose body arrived finish, and drops the others. */
  const inFlight = new Map<IncomingMessage, Promise<void>>();

  const server: Server = createServer((request, response) => {
    const done = serve(handler, request, response);
    inFlight.set(request, done);
    void done.finally(() => inFlight.delete(request));
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  }).catch(async (error: unknown) => {
    await handler.close();
    await owned?.close();
    throw error;
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    token: handler.token,
    store,
    state: (owned?.state ??
      (store instanceof MemoryServerStore ? store.state : undefined)) as SyncServer<Store>['state'],
    handler,
    faults: handler.faults,
    pullFaults: handler.pullFaults,
    stats: () => handler.stats(),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A request still sending its body would hold the shutdown for as long as its client likes.
      for (const request of inFlight.keys()) if (!request.complete) request.socket.destroy();
      await handler.close();
      await Promise.allSettled([...inFlight.values()]);
      for (const socket of sockets) socket.destroy();
      await closed;
      await owned?.close();
    },
  };
}

/** Answers one `node:http` request with the handler: the request as a Web `Request`, the `Response` written back. */
async function serve(
  handler: SyncHandler,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const gone = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) gone.abort();
  });
  const method = request.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  let answer: Response;
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string') headers.set(name, value);
      else if (Array.isArray(value)) for (const one of value) headers.append(name, one);
    }
    // Origin-form (`/v1/…`), absolute-form (`http://host/v1/…`) and `*` alike: the handler routes by path only.
    const url = new URL(request.url ?? '/', `http://${LOOPBACK_NAME}`);
    const webRequest = new Request(url, {
      method,
      headers,
      signal: gone.signal,
      ...(hasBody ? { body: bodyOf(request), duplex: 'half' } : {}),
    } as RequestInit);
    answer = await handler.fetch(webRequest);
  } catch {
    // The handler answers every error itself: this is a request the Web API cannot represent (or a bug).
    answer = new Response('{"error":"Bad request"}', {
      status: 400,
      headers: { 'content-type': 'application/json', connection: 'close' },
    });
  }
  if (answer.type === 'error') {
    request.socket.destroy();
    return;
  }
  if (response.destroyed) return;
  response.statusCode = answer.status;
  for (const [name, value] of answer.headers) response.setHeader(name, value);
  const text = textOf(answer);
  if (text !== undefined) {
    response.setHeader('content-length', Buffer.byteLength(text));
    response.end(text);
    return;
  }
  if (!answer.body) {
    response.end();
    return;
  }
  try {
    for await (const chunk of answer.body) {
      if (response.destroyed) return;
      response.write(chunk);
    }
    response.end();
  } catch {
    request.socket.destroy();
  }
}

/**
 * The request body as a Web stream. Cancelling it (a body over the limit) stops reading and drains the rest
 * instead of destroying the socket, so the 413 still reaches the client.
 */
function bodyOf(request: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      request.on('data', (chunk: Buffer) => {
        if (!open) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) request.pause();
      });
      request.once('end', () => {
        if (open) controller.close();
        open = false;
      });
      request.once('error', (error) => {
        if (open) controller.error(error);
        open = false;
      });
    },
    pull() {
      request.resume();
    },
    cancel() {
      open = false;
      request.resume();
    },
  });
}
