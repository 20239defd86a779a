import type { InspectorRecord } from './inspector-model.js';

// What a remote sender (`createRemoteInspector`, in a browser page) POSTs to the local inspector's ingest endpoint.
// Browser-safe: shared by the sender and the Node server.

/** The ingest endpoint's path on the local inspector. */
export const INGEST_PATH = '/api/ingest';

/** The header that carries the ingest token (never the page's token, which also opens the controls). */
export const INGEST_TOKEN_HEADER = 'x-inspector-ingest-token';

/** One POST body. */
export interface IngestBatch {
  /** The sending page's random id: its actors are kept apart from another tab's or a reloaded page's. */
  source: string;
  /** Sanitised records, oldest first. */
  records: InspectorRecord[];
  /**
   * The sender's whole tree as it is now, after it had to drop records: the inspector applies `records`, then
   * replaces what it holds of this source with these.
   */
  reset?: InspectorRecord[];
  /** The page is going away (or the sender was closed): its actors leave the inspector's tree. */
  closed?: boolean;
}

/** A source id: what `createRemoteInspector` makes (16 hex digits), or anything as plain and short. */
export const SOURCE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
