import type { InspectionEvent } from 'xstate';
import { INGEST_TOKEN_HEADER, type IngestBatch } from './ingest-wire.js';
import { ActorTree, createRecordSanitizers, type InspectorRecord, toRecord } from './inspector-model.js';
import type { SanitizeOptions } from './sanitize.js';

// Browser-safe: no Node built-in, no Node global. `actorsync/inspect/browser` exports it.

export interface RemoteInspectorOptions {
  /** The ingest URL `actorsync inspect --listen` prints, e.g. `http://127.0.0.1:4100/api/ingest`. */
  url: string;
  /** The ingest token it prints: it lets the page send records, and opens nothing else. */
  token: string;
  /**
   * What else to keep from the inspector: pass the sync server's token (and any other secret the app holds) in
   * `secretValues`. Records are sanitised in the page, before they are sent.
   */
  sanitize?: SanitizeOptions;
  /** Records are sent at most this long after they happened. Default 100 ms. */
  flushIntervalMs?: number;
  /** A batch is sent as soon as it has this many records; also the most one POST carries. Default 100. */
  maxBatchRecords?: number;
  /** Most bytes of records one POST carries (the inspector refuses bodies over 1 MiB by default). Default 256 KiB. */
  maxBatchBytes?: number;
  /** Records kept while the inspector is away; later ones are dropped and counted. Default 2,000. */
  maxQueuedRecords?: number;
  /** Backoff after a failed POST: doubles from `initialDelayMs` up to `maxDelayMs`. Default 250 ms and 10 s. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** A POST that takes longer is abandoned and retried. Default 10 s. */
  requestTimeoutMs?: number;
  /** Where the sender says it dropped records or was refused. Default `console`. */
  logger?: Pick<Console, 'warn'>;
}

export interface RemoteInspectorStats {
  /** Records the inspector accepted. */
  sentRecords: number;
  /** Records never sent: the queue was full, a batch was refused as too large, or the token was refused. */
  droppedRecords: number;
  /** POSTs that failed and were retried (the inspector away, a timeout, a 5xx). */
  failedRequests: number;
  /** Records waiting to be sent. */
  queuedRecords: number;
  /** Set once the inspector refused the token or the page's origin (401/403): the sender then stops. */
  refusedWith: number | undefined;
}

export interface RemoteInspector {
  /** Pass as `SyncCoordinator`'s `inspect` option. Never throws. */
  readonly inspect: (event: InspectionEvent) => void;
  /** This page's id at the inspector. */
  readonly source: string;
  stats(): RemoteInspectorStats;
  /** Sends what is queued now; true once the inspector has all of it, false if it could not be delivered. */
  flush(): Promise<boolean>;
  /** Flushes, tells the inspector this page's actors are gone, and stops. */
  close(): Promise<void>;
}

const randomSource = (): string => {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
};

/**
 * Streams a web app's actors to the local inspector (`actorsync inspect --listen`): turns XState inspection events
 * into the inspector's records, sanitises them in the page, and POSTs them in batches (every `flushIntervalMs` or
 * `maxBatchRecords`). While the inspector is away it retries with backoff and keeps at most `maxQueuedRecords`,
 * dropping and counting the rest; once it is back it sends its whole current tree, so the inspector shows it
 * right. Nothing it does throws into the actor system.
 */
export function createRemoteInspector(options: RemoteInspectorOptions): RemoteInspector {
  const sanitizers = createRecordSanitizers({
    ...options.sanitize,
    secretValues: [...(options.sanitize?.secretValues ?? []), options.token],
  });
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const maxBatchRecords = options.maxBatchRecords ?? 100;
  const maxBatchBytes = options.maxBatchBytes ?? 256 * 1024;
  const maxQueued = options.maxQueuedRecords ?? 2_000;
  const initialDelayMs = options.retry?.initialDelayMs ?? 250;
  const maxDelayMs = options.retry?.maxDelayMs ?? 10_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const logger = options.logger ?? console;
  const source = randomSource();
  // The sender's own view of its actors, for the whole-tree resend after a drop.
  const tree = new ActorTree();
  /** Serialised records, oldest first; a batch stays at the head until the inspector accepted it. */
  const queue: string[] = [];
  const stats: RemoteInspectorStats = {
    sentRecords: 0,
    droppedRecords: 0,
    failedRequests: 0,
    queuedRecords: 0,
    refusedWith: undefined,
  };
  /** Bumped at each drop; the tree is resent until a resend made after the latest drop got through. */
  let drops = 0;
  let resentAfter = 0;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let backingOff = false;
  let closed = false;
  let sending: Promise<boolean> | undefined;
  let warnedOfDrops = false;

  const warn = (message: string) => {
    try {
      logger.warn(`actorsync inspector: ${message}`);
    } catch {
      // A logger that throws must not reach the actors either.
    }
  };

  const drop = (count: number, why: string) => {
    if (count <= 0) return;
    stats.droppedRecords += count;
    drops += 1;
    if (!warnedOfDrops) {
      warnedOfDrops = true;
      warn(`dropping records (${why}); the whole tree is resent once the inspector takes them again`);
    }
  };

  const body = (count: number, withReset: boolean): string => {
    const parts = [`"source":${JSON.stringify(source)}`, `"records":[${queue.slice(0, count).join(',')}]`];
    if (withReset) parts.push(`"reset":${JSON.stringify(tree.records())}`);
    return `{${parts.join(',')}}`;
  };

  /** How many queued records the next batch takes: at least one, at most `maxBatchRecords` and `maxBatchBytes`. */
  const batchSize = (): number => {
    let bytes = 0;
    let count = 0;
    for (const record of queue) {
      if (count >= maxBatchRecords || (count > 0 && bytes + record.length > maxBatchBytes)) break;
      bytes += record.length + 1;
      count += 1;
    }
    return count;
  };

  const post = async (text: string, keepalive = false): Promise<number> => {
    const response = await fetch(options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [INGEST_TOKEN_HEADER]: options.token },
      body: text,
      // The inspector never redirects; a redirect means something else answered, and the token stays here.
      redirect: 'error',
      credentials: 'omit',
      cache: 'no-store',
      keepalive,
      ...(keepalive ? {} : { signal: AbortSignal.timeout(requestTimeoutMs) }),
    });
    // The answer's body is a short count: read it so the connection is free for the next POST.
    await response.text().catch(() => '');
    return response.status;
  };

  /** One POST of the head of the queue. True when it went through (or was refused for good), false to retry. */
  const sendBatch = async (): Promise<boolean> => {
    const count = batchSize();
    const dropsNow = drops;
    const withReset = resentAfter < dropsNow;
    let status: number;
    try {
      status = await post(body(count, withReset));
    } catch {
      stats.failedRequests += 1;
      return false;
    }
    if (status >= 200 && status < 300) {
      queue.splice(0, count);
      stats.sentRecords += count;
      if (withReset) resentAfter = dropsNow;
      attempt = 0;
      warnedOfDrops = false;
      return true;
    }
    if (status === 401 || status === 403) {
      // A wrong token or an origin the inspector was not told to allow: retrying cannot help.
      stats.refusedWith = status;
      drop(queue.length, `the inspector refused them with ${status}`);
      queue.length = 0;
      warn(
        status === 401
          ? 'the inspector refused the ingest token: use the one `actorsync inspect --listen` printed'
          : "the inspector refused this page's origin: start it with --allow-origin for it",
      );
      return true;
    }
    if (status >= 400 && status < 500) {
      // Too large (413) or not understood: sending it again would get the same answer.
      queue.splice(0, count);
      drop(count, `the inspector refused a batch with ${status}`);
      // A refused resend is not sent again and again: the next drop asks for another.
      if (withReset) resentAfter = drops;
      return true;
    }
    stats.failedRequests += 1;
    return false;
  };

  const drain = (): Promise<boolean> => {
    sending ??= (async () => {
      try {
        while (queue.length > 0 || resentAfter < drops) {
          if (stats.refusedWith !== undefined) return false;
          if (!(await sendBatch())) {
            scheduleRetry();
            return false;
          }
        }
        return true;
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  };

  const scheduleRetry = () => {
    if (closed) return;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
    attempt += 1;
    backingOff = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      backingOff = false;
      void drain();
    }, delay);
  };

  const schedule = () => {
    if (closed || backingOff || sending) return;
    if (queue.length >= maxBatchRecords) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      void drain();
    } else {
      timer ??= setTimeout(() => {
        timer = undefined;
        void drain();
      }, flushIntervalMs);
    }
  };

  const enqueue = (record: InspectorRecord) => {
    if (queue.length >= maxQueued) {
      drop(1, 'the inspector is away and the queue is full');
      return;
    }
    const text = JSON.stringify(record);
    if (text.length > maxBatchBytes) {
      drop(1, `a record is larger than ${maxBatchBytes} bytes`);
      return;
    }
    queue.push(text);
  };

  const inspect = (event: InspectionEvent) => {
    if (closed || stats.refusedWith !== undefined) return;
    try {
      const record = toRecord(event, sanitizers, Date.now());
      if (!record) return;
      tree.apply(record);
      enqueue(record);
      schedule();
    } catch (error) {
      // A sender bug must not become an actor error: report it, drop the record, resend the tree.
      drop(1, `a record could not be made: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  // Leaving the page: one last request, which outlives the page, takes its actors out of the inspector's tree.
  // (Records still queued are not sent: they would only tell of actors that are about to leave it.)
  const onPageHide = () => {
    if (closed || stats.refusedWith !== undefined) return;
    const last: IngestBatch = { source, records: [], closed: true };
    post(JSON.stringify(last), true).catch(() => {});
  };
  // Back from the back/forward cache: the inspector dropped this page's actors on `pagehide`; send them again.
  const onPageShow = (event: Event) => {
    if ((event as Event & { persisted?: boolean }).persisted) {
      drops += 1;
      schedule();
    }
  };
  const page = globalThis as Partial<Pick<Window, 'addEventListener' | 'removeEventListener'>>;
  page.addEventListener?.('pagehide', onPageHide);
  page.addEventListener?.('pageshow', onPageShow);

  return {
    inspect,
    source,
    stats: () => ({ ...stats, queuedRecords: queue.length }),
    flush: () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      backingOff = false;
      return drain();
    },
    close: async () => {
      if (closed) return;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      backingOff = false;
      page.removeEventListener?.('pagehide', onPageHide);
      page.removeEventListener?.('pageshow', onPageShow);
      const delivered = await drain();
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      drop(queue.length, 'closed before the inspector took them');
      queue.length = 0;
      if (!delivered || stats.refusedWith !== undefined) return;
      const last: IngestBatch = { source, records: [], closed: true };
      await post(JSON.stringify(last)).catch(() => {});
    },
  };
}
