/**
 * Issue 10 points 3 and 4 against real `node:http` servers on 127.0.0.1 that misbehave on purpose: compressed
 * replies that inflate past `maxResponseBytes`, a custom fetch whose Content-Length does not bound its body, and
 * redirects of a sync request to another origin.
 */
import { Readable } from 'node:stream';
import { brotliCompressSync, constants, createGzip, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HttpRemoteDataSource } from '../../src/http.js';
import {
  ActorSyncError,
  FatalSyncError,
  MalformedReplyError,
  Repository,
  TransientSyncError,
} from '../../src/index.js';
import { context, ENTITY, Harness, type Note, note, noteId } from '../e2e/harness.js';
import { countingFetch } from '../helpers/counting-fetch.js';
import { type HostileHandler, hostileServer } from '../helpers/hostile-server.js';

const h = new Harness();
afterEach(() => h.dispose());

/** A server on 127.0.0.1 that answers with `handler` once the request body is in; counts requests. */
const hostile = (handler: HostileHandler) => hostileServer(handler, { harness: h });

const MiB = 1024 * 1024;
const CAP = MiB;
/** Decoded size of each bomb: 32 times the cap. */
const BOMB_BYTES = 32 * MiB;

/** A remote for `baseUrl` whose reply cap is `CAP`, fetching through `fetch`. */
const cappedRemote = (baseUrl: string, fetch: typeof globalThis.fetch) =>
  new HttpRemoteDataSource<Note>({ baseUrl, maxResponseBytes: CAP, fetch });

type Encoding = 'gzip' | 'deflate' | 'br';
const bombs = new Map<Encoding, Buffer>();

beforeAll(() => {
  // Valid JSON when read in full (a reply with no results), so only the cap can refuse it.
  const decoded = Buffer.concat([
    Buffer.from('{"results":[],"error":"inflated","pad":"'),
    Buffer.alloc(BOMB_BYTES, '0'),
    Buffer.from('"}'),
  ]);
  bombs.set('gzip', gzipSync(decoded));
  bombs.set('deflate', deflateSync(decoded));
  bombs.set('br', brotliCompressSync(decoded, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }));
});

type Length = 'honest' | 'absent' | 'lying';

/** Answers `status` with the `encoding` bomb; its Content-Length honest (compressed size), absent or too large. */
function bombReply(status: number, encoding: Encoding, length: Length): HostileHandler {
  return (_, response) => {
    const body = bombs.get(encoding) as Buffer;
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-encoding': encoding,
    };
    if (length === 'honest') headers['content-length'] = body.length;
    if (length === 'lying') headers['content-length'] = body.length + 1_000;
    response.writeHead(status, headers);
    if (length === 'lying') response.write(body, () => response.destroy());
    else response.end(body);
  };
}

describe('the reply size cap counts decoded bytes (issue 10 point 3)', () => {
  const cases = (['gzip', 'deflate', 'br'] as const).flatMap((encoding) =>
    (['honest', 'absent', 'lying'] as const).map((length) => [encoding, length] as const),
  );

  it.each(cases)(
    'a %s reply that inflates past the cap (Content-Length %s) is refused early',
    async (encoding, length) => {
      const server = await hostile(bombReply(200, encoding, length));
      const counter = countingFetch();
      const remote = cappedRemote(server.url, counter.fetch);
      const error = await remote.syncBatch([note('a')], context('bomb')).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ActorSyncError);
      if (length !== 'lying') {
        expect(error).toBeInstanceOf(MalformedReplyError);
        expect((error as Error).message).toBe(`Server reply exceeds the ${CAP} byte limit`);
      }
      // It stopped reading soon after the cap, instead of inflating all 32 MiB.
      expect(counter.pulled()).toBeLessThan(4 * MiB);
    },
  );

  it.each(['gzip', 'deflate', 'br'] as const)(
    'an error reply compressed with %s is read only up to the cap too',
    async (encoding) => {
      const server = await hostile(bombReply(500, encoding, 'honest'));
      const counter = countingFetch();
      const remote = cappedRemote(server.url, counter.fetch);
      const error = await remote.syncBatch([note('a')], context('bomb')).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientSyncError);
      expect((error as Error).message).toBe('Server answered 500');
      expect(counter.pulled()).toBeLessThan(4 * MiB);
    },
  );

  it('a reply streamed in chunks that split a character is decoded whole', async () => {
    const reason = 'refusé: clé € 🔑';
    const bytes = new TextEncoder().encode(
      JSON.stringify({ results: [{ id: 'n1', status: 'rejected', reason, retryable: false }] }),
    );
    const split = bytes.indexOf(0xf0) + 2; // inside the 4-byte 🔑
    const chunks = [bytes.slice(0, bytes.indexOf(0xc3) + 1), bytes.slice(bytes.indexOf(0xc3) + 1, split)];
    chunks.push(bytes.slice(split));
    // No Content-Length: the remote reads chunk by chunk, counting bytes against its cap.
    const streamed: typeof fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            for (const chunk of chunks) controller.enqueue(chunk);
            controller.close();
          },
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: 'http://127.0.0.1:9', fetch: streamed });
    const item = { id: 'n1', text: 'x', createdAt: 1, updatedAt: 1, version: 1, syncPending: true };
    const results = await remote.syncBatch([item], {
      signal: new AbortController().signal,
      batchId: 'b1',
      entityType: ENTITY,
    });
    expect(results).toEqual([{ id: 'n1', status: 'failed', error: reason, retryable: false }]);
  });

  it('an endless gzip stream is cut off: the server sees the connection closed', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const server = await hostile((_, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      const zeros = Buffer.alloc(64 * 1024, '0');
      const endless = new Readable({
        read() {
          this.push(zeros);
        },
      });
      const gzip = createGzip();
      endless.pipe(gzip).pipe(response);
      response.on('close', () => {
        endless.destroy();
        gzip.destroy();
        closed();
      });
    });
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: server.url, maxResponseBytes: CAP });
    const error = await remote.syncBatch([note('a')], context('endless')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedReplyError);
    await connectionClosed;
  });

  it('an honest uncompressed reply is still read whole, and one over the cap refused before reading', async () => {
    const reply = JSON.stringify({ results: [{ id: 'a', status: 'ok', version: 1 }] });
    const server = await hostile((request, response) => {
      const big = request.headers['idempotency-key'] === 'big';
      const body = big ? Buffer.alloc(CAP + 1, ' ') : Buffer.from(reply);
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      response.end(body);
    });
    const remote = new HttpRemoteDataSource<Note>({ baseUrl: server.url, maxResponseBytes: CAP });
    expect(await remote.syncBatch([note('a')], context('small'))).toEqual([{ id: 'a', status: 'ok' }]);
    await expect(remote.syncBatch([note('a')], context('big'))).rejects.toThrow(
      `Server reply of ${CAP + 1} bytes exceeds the ${CAP} byte limit`,
    );
  });
});

describe('a custom fetch cannot get a reply past the cap with its Content-Length', () => {
  const SMALL_CAP = 1_000;
  /** An acknowledgement padded to `bytes`: valid JSON, so only the cap can refuse it. */
  const paddedOk = (bytes: number) =>
    new TextEncoder().encode(
      `{"results":[{"id":"a","status":"ok","version":1}],"pad":"${'0'.repeat(bytes)}"}`,
    );

  /** A body of `bytes` handed over in 16 KiB chunks as they are pulled; counts what was pulled. */
  function pulledBody(bytes: Uint8Array): { body: ReadableStream<Uint8Array>; pulled: () => number } {
    let offset = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + 16 * 1024));
        offset += 16 * 1024;
      },
    });
    return { body, pulled: () => Math.min(offset, bytes.length) };
  }

  it('a fetch whose Content-Length says 10 while the body is 5 MB is refused at the cap', async () => {
    const reply = pulledBody(paddedOk(5 * MiB));
    const lying: typeof fetch = async () =>
      new Response(reply.body, {
        status: 200,
        headers: { 'content-type': 'application/json', 'content-length': '10' },
      });
    const remote = new HttpRemoteDataSource<Note>({
      baseUrl: 'http://127.0.0.1:9',
      maxResponseBytes: SMALL_CAP,
      fetch: lying,
    });
    const error = await remote.syncBatch([note('a')], context('lying')).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MalformedReplyError);
    expect((error as Error).message).toBe(`Server reply exceeds the ${SMALL_CAP} byte limit`);
    expect(reply.pulled()).toBeLessThan(64 * 1024);
  });

  it.each(['gzip', 'deflate', 'br'] as const)(
    'a proxy fetch that inflates %s and keeps the compressed Content-Length is refused at the cap',
    async (encoding) => {
      const server = await hostile(bombReply(200, encoding, 'honest'));
      const counter = countingFetch();
      // Drops Content-Encoding (the body it hands on is inflated) but keeps the length of the compressed body.
      const inflating: typeof fetch = async (input, init) => {
        const response = await counter.fetch(input, init);
        const headers = new Headers(response.headers);
        headers.delete('content-encoding');
        expect(Number(headers.get('content-length'))).toBeLessThan(CAP);
        return new Response(response.body, { status: response.status, headers });
      };
      const remote = cappedRemote(server.url, inflating);
      const error = await remote.syncBatch([note('a')], context('inflated')).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(MalformedReplyError);
      expect((error as Error).message).toBe(`Server reply exceeds the ${CAP} byte limit`);
      expect(counter.pulled()).toBeLessThan(4 * MiB);
    },
  );

  it('with the global fetch, a text longer than the cap is refused even if the declared length was under it', async () => {
    // The global fetch's HTTP parser enforces Content-Length; one that does not (a patched global) still cannot
    // get a longer reply accepted, since the one-call read is measured afterwards.
    const lying: typeof fetch = async () =>
      new Response(paddedOk(64 * 1024), {
        status: 200,
        headers: { 'content-type': 'application/json', 'content-length': '10' },
      });
    const original = globalThis.fetch;
    globalThis.fetch = lying;
    try {
      const remote = new HttpRemoteDataSource<Note>({
        baseUrl: 'http://127.0.0.1:9',
        maxResponseBytes: SMALL_CAP,
      });
      const error = await remote.syncBatch([note('a')], context('patched')).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MalformedReplyError);
      expect((error as Error).message).toBe(`Server reply exceeds the ${SMALL_CAP} byte limit`);
    } finally {
      globalThis.fetch = original;
    }
  });
});

describe('a sync request is never redirected (issue 10 point 4)', () => {
  const SECRET = 'query-secret-7c1d';

  /** A second origin that would happily acknowledge anything. */
  async function elsewhere() {
    // Acks whatever it is sent: a redirect that reached it would look like a complete success.
    return hostile((_, response, body) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      const ids = body ? (JSON.parse(body) as { items: { id: string }[] }).items.map((i) => i.id) : [];
      response.end(JSON.stringify({ results: ids.map((id) => ({ id, status: 'ok', version: 1 })) }));
    });
  }

  /** A server that answers every request `status` to `location`, with no body. */
  const redirecting = (status: number, location: string) =>
    hostile((_, response) => {
      response.writeHead(status, { location });
      response.end();
    });

  it.each([301, 302, 303, 307, 308])(
    'a %i is a fatal error naming where it pointed, stripped of secrets',
    async (status) => {
      const other = await elsewhere();
      const location = `${other.url.replace('//', `//user:${SECRET}@`)}/v1/sync/note?access_token=${SECRET}#x`;
      const server = await hostile((_, response) => {
        response.writeHead(status, { location, 'content-type': 'application/json' });
        response.end('{}');
      });
      const remote = new HttpRemoteDataSource<Note>({
        baseUrl: server.url,
        getToken: () => 'bearer-token-1234',
      });
      const error = await remote.syncBatch([note('a')], context('redirected')).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalSyncError);
      expect((error as Error).message).toBe(
        `Server redirected POST ${server.url}/v1/sync/note (${status}) to ${other.url}/v1/sync/note: ` +
          'a sync request is never redirected; point baseUrl at the sync server itself',
      );
      expect(
        JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack }),
      ).not.toContain(SECRET);
      expect(other.requests).toHaveLength(0);
    },
  );

  it('a relative Location is named against the request URL; a fetch that follows anyway is refused', async () => {
    const other = await elsewhere();
    const server = await redirecting(307, `${other.url}/v1/sync/note`);
    const relative = await redirecting(308, '/elsewhere?key=abc');
    const error = await new HttpRemoteDataSource<Note>({ baseUrl: relative.url })
      .syncBatch([note('a')], context('r'))
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain(`(308) to ${relative.url}/elsewhere:`);

    // A custom fetch that follows redirects itself: the reply came from elsewhere, so it is not trusted.
    const following: typeof fetch = (input, init) =>
      globalThis.fetch(
        new Request(input as Request, { redirect: 'follow' }),
        init && { ...init, redirect: 'follow' },
      );
    const followed = await new HttpRemoteDataSource<Note>({ baseUrl: server.url, fetch: following })
      .syncBatch([note('a')], context('f'))
      .catch((e: unknown) => e);
    expect(followed).toBeInstanceOf(FatalSyncError);
    expect((followed as Error).message).toContain(`(200) to ${other.url}/v1/sync/note:`);
    expect(other.requests).toHaveLength(1);
  });

  it('a sync run that is redirected ends in error with every record still pending, none sent elsewhere', async () => {
    const other = await elsewhere();
    const server = await redirecting(307, `${other.url}/v1/sync/note`);
    const dir = await h.tempDir();
    const store = await h.store(`${dir}/store.json`);
    const local = store.collection<Note>(ENTITY);
    const remote = new HttpRemoteDataSource<Note>({
      baseUrl: server.url,
      getToken: () => 'bearer-token-1234',
    });
    const repository = new Repository<Note>({ entityType: ENTITY, local, remote });
    await repository.saveMany([0, 1, 2].map((n) => ({ id: noteId(n), text: `note ${n}` })));
    const result = await h.coordinator().sync(repository);

    expect(result).toMatchObject({ state: 'error', syncedItems: 0 });
    expect(result.errorMessage).toMatch(
      /Server redirected POST .* \(307\) to http:\/\/127\.0\.0\.1:\d+\/v1\/sync\/note/,
    );
    expect(await repository.pendingCount()).toBe(3);
    expect(await local.failures()).toEqual([]);
    expect(other.requests).toHaveLength(0);
  });
});
