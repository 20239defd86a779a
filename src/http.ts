// `actorsync/http`: the remote end over HTTP (docs/protocol.md). Web platform only (fetch, AbortSignal), so it runs
// in browsers as well as in Node.
export { HttpRemoteDataSource, type HttpRemoteOptions } from './remote/http-remote.js';
export type { SyncRequestBody, SyncResponseBody, WireResult } from './remote/wire.js';
