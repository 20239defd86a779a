/**
 * A real `node:http` server on 127.0.0.1 that answers however a test tells it to: the misbehaving sync servers of
 * the hostile-reply, redirect, retry-storm and secrets suites.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Answers one request; called once its whole body is in (`body`: the bytes as UTF-8 text). */
export type HostileHandler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

export interface HostileServer {
  url: string;
  /** Every request it received, in order. */
  requests: IncomingMessage[];
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a server that answers with `handler`. With a `harness` (anything with `defer`, as the e2e `Harness`),
 * the harness closes it; otherwise the caller must call `close()`.
 */
export async function hostileServer(
  handler: HostileHandler,
  options: { harness?: { defer(cleanup: () => unknown): void } } = {},
): Promise<HostileServer> {
  const requests: IncomingMessage[] = [];
  const server = createServer((request, response) => {
    requests.push(request);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  options.harness?.defer(close);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close };
}
