/**
 * A tiny round-robin HTTP proxy on 127.0.0.1, for running several server processes behind one URL: each new
 * request goes to the next upstream in turn. A request whose upstream is dead (refused, reset, cut mid-reply) has
 * its client connection cut too, as a real outage would: no retry here, the client's own retries must cope.
 */
import {
  createServer,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request passed on, as the proxy saw it go and (perhaps) come back. */
export interface ProxiedExchange {
  /** Which upstream it went to (its index in the list). */
  upstream: number;
  method: string;
  path: string;
  /** The request's Idempotency-Key (a sync batch's id), if it had one. */
  idempotencyKey: string | undefined;
  /**
   * `sent`: the whole body went to the upstream, no whole reply yet; `answered`: a whole reply came back;
   * `failed`: the upstream refused, reset or cut it; `abandoned`: the client left first.
   */
  state: 'sending' | 'sent' | 'answered' | 'failed' | 'abandoned';
  status: number | undefined;
}

export interface RoundRobinProxy {
  readonly url: string;
  /** Every request passed on, in the order they came. */
  readonly exchanges: readonly ProxiedExchange[];
  /** Called once a request's whole body has been passed to its upstream: the moment a test may kill it. */
  onSent: ((exchange: ProxiedExchange) => void) | undefined;
  /** Points upstream `index` at `url` (a restarted server on a new port) for the requests that follow. */
  setUpstream(index: number, url: string): void;
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

export async function roundRobinProxy(upstreams: readonly string[]): Promise<RoundRobinProxy> {
  if (upstreams.length === 0) throw new Error('roundRobinProxy needs at least one upstream');
  const targets = upstreams.map((url) => new URL(url));
  const exchanges: ProxiedExchange[] = [];
  // Connections to an upstream are reused, as a load balancer's are: a killed server's are cut with it.
  const agent = new HttpAgent({ keepAlive: true });
  let next = 0;

  const server = createServer((incoming, outgoing) => pass(incoming, outgoing));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: RoundRobinProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    onSent: undefined,
    setUpstream(index, url) {
      if (!(index >= 0 && index < targets.length)) throw new Error(`no upstream ${index}`);
      targets[index] = new URL(url);
    },
    close: async () => {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const pass = (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const upstream = next;
    next = (next + 1) % targets.length;
    const target = targets[upstream] as URL;
    const exchange: ProxiedExchange = {
      upstream,
      method: incoming.method ?? 'GET',
      path: (incoming.url ?? '/').split('?')[0] as string,
      idempotencyKey: incoming.headers['idempotency-key'] as string | undefined,
      state: 'sending',
      status: undefined,
    };
    exchanges.push(exchange);
    /** The upstream failed us: the client's connection goes too (a reply half sent cannot be taken back). */
    const outage = () => {
      if (exchange.state === 'answered' || exchange.state === 'abandoned') return;
      exchange.state = 'failed';
      incoming.socket.destroy();
    };
    const forwarded = httpRequest(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: incoming.method,
        path: incoming.url,
        headers: { ...incoming.headers, host: target.host },
      },
      (reply) => {
        exchange.status = reply.statusCode;
        outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.on('error', outage);
        reply.on('aborted', outage);
        reply.pipe(outgoing);
        reply.on('end', () => {
          if (reply.complete) exchange.state = 'answered';
          else outage();
        });
      },
    );
    forwarded.on('error', outage);
    forwarded.on('finish', () => {
      if (exchange.state !== 'sending') return;
      exchange.state = 'sent';
      proxy.onSent?.(exchange);
    });
    // A client that leaves (a long-poll ended by its client) ends the upstream request too.
    outgoing.on('close', () => {
      if (outgoing.writableFinished || exchange.state === 'failed') return;
      exchange.state = 'abandoned';
      forwarded.destroy();
    });
    incoming.pipe(forwarded);
  };

  return proxy;
}
